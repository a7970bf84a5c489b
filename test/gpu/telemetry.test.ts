// NVML telemetry of the timed pass on a real GPU (libnvidia-ml.so.1 in the library path): samples
// with plausible readings, an energy counter that advances, joules per token of both phases.
import { describe, expect, it } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { hasGpu } from './helpers.js';

describe.skipIf(!hasGpu)('GPU telemetry (NVML)', () => {
  it('llama-3.1-8b (4 layers): samples, ranges, energy and J/token of the timed pass', async () => {
    const r = await sweep({
      model: 'llama-3.1-8b', layers: 4, device: 'cuda:0', batchSizes: [32], inputLens: [1024], outputLens: [256], mode: 'both',
    });
    const p = r.points[0]!;
    if (!p.ok) throw new Error(p.error.message);
    expect(p.telemetryReason).toBeNull();
    const t = p.telemetry!;
    // The timed pass is hundreds of ms; a sample every 10 ms.
    const passMs = p.totalMs;
    expect(t.samples.length).toBeGreaterThanOrEqual(Math.floor(passMs / 20));
    expect(t.samples.at(-1)!.t_ms).toBeGreaterThanOrEqual(passMs * 0.9);
    expect(t.smClockMhz!.median).toBeGreaterThan(500);
    expect(t.memClockMhz!.median).toBeGreaterThan(1000);
    expect(t.powerW!.max).toBeGreaterThan(50);
    expect(t.tempC!.median).toBeGreaterThan(10);
    expect(t.memUsedBytes!.min).toBeGreaterThan(1e9);
    expect(t.energyJ).toBeGreaterThan(0);
    expect(t.prefillJPerToken).not.toBeNull();
    expect(t.decodeJPerToken).toBeGreaterThan(0);
    console.log(
      `telemetry: ${t.samples.length} samples over ${passMs.toFixed(0)} ms; SM ${t.smClockMhz!.min}-${t.smClockMhz!.max} MHz, ` +
        `power ${t.powerW!.median.toFixed(0)} W median, ${t.energyJ!.toFixed(2)} J, prefill ${t.prefillJPerToken!.toPrecision(3)} J/token, ` +
        `decode ${t.decodeJPerToken!.toPrecision(3)} J/token, throttled ${t.throttled} [${t.clockEventReasons.join(', ')}]`,
    );
  });
});
