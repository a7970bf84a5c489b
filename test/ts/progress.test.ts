// Sweep progress on stderr (lib/cli/progress.ts): plain lines with an ETA off a terminal, a bar on
// one, nothing with --quiet; and through `gpubench run` (fake addon), including a real terminal.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { eta, formatDuration, sweepProgress, type ProgressStream } from '../../lib/cli/progress.js';
import type { ProgressEvent } from '../../lib/api/options.js';
import { runCli } from './cli-helpers.js';
import { fakeAddon } from './fake-addon.js';

const state = vi.hoisted(() => ({ addon: undefined as unknown }));
vi.mock('../../lib/bridge/native.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/bridge/native.js')>()),
  loadAddon: () => state.addon,
}));

function stream(isTTY: boolean): ProgressStream & { text: string } {
  const s = { text: '', isTTY, columns: 200, write: (t: string) => ((s.text += t), true) };
  return s;
}

const event = (pointIndex: number, phase: ProgressEvent['phase'], step: number, totalSteps: number): ProgressEvent => ({
  point: { batchSize: 8, inputLen: 1024, outputLen: 32 }, pointIndex, pointCount: 3, phase, step, totalSteps,
});

describe('ETA', () => {
  it('the mean time of the finished points times the points left', () => {
    expect(eta(10_000, 0, 4)).toBe('?');
    expect(eta(10_000, 1, 4)).toBe('30s');
    expect(eta(10_000, 2, 4)).toBe('10s');
    expect(formatDuration(185_000)).toBe('3m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });
});

describe('sweepProgress', () => {
  it('off a terminal: a plain line per finished point with the ETA from the first point on', () => {
    const out = stream(false);
    let t = 0;
    const p = sweepProgress(3, { quiet: false, stream: out, now: () => t });
    t = 5000; // the engine opened: not part of the ETA
    p.update(event(0, 'waiting', 0, 8));
    t = 7000;
    p.pointDone('[1/3] a');
    t = 9000;
    p.pointDone('[2/3] b');
    p.pointDone('[3/3] c');
    p.stop();
    expect(out.text).toBe('[1/3] a (ETA 4s)\n[2/3] b (ETA 2s)\n[3/3] c\n');
  });

  it('--quiet: nothing', () => {
    const out = stream(false);
    const p = sweepProgress(3, { quiet: true, stream: out });
    p.update(event(0, 'timed', 1, 8));
    p.pointDone('[1/3] a');
    p.stop();
    expect(out.text).toBe('');
  });

  it('on a terminal: a bar with the point, phase, step and ETA; finished points print above it', () => {
    const out = stream(true);
    const p = sweepProgress(3, { quiet: false, stream: out, now: () => 0 });
    p.update(event(0, 'timed', 3, 8));
    p.pointDone('[1/3] a');
    p.update(event(1, 'warmup', 1, 3));
    p.stop();
    // The bar redraws on a timer; stop() draws the last state (the lines logged above it first).
    expect(out.text).toMatch(/\[1\/3\] a\n.*=+-+ 1\/3 points \| bs=8 in=1024 out=32 \| warmup 1\/3 \| ETA 0s/);
    // Stopped: later lines are plain.
    p.pointDone('[2/3] b');
    expect(out.text.endsWith('[2/3] b\n')).toBe(true);
  });
});

describe('gpubench run progress', () => {
  const run = ['run', '--model', 'tiny-llama', '--layers', '1', '--device', 'cpu', '--batch', '1,2', '--input-len', '8', '--output-len', '4'];

  it('off a terminal: plain lines on stderr; --quiet: neither progress nor tables', async () => {
    state.addon = fakeAddon();
    const r = await runCli(run);
    expect(r.stderr).toMatch(/^gpubench: 2 points on cpu\n\[1\/2\] bs=1 in=8 out=4: prefill .* \(ETA \d+s\)\n\[2\/2\] bs=2 in=8 out=4: prefill [^\n]*floor\)\n$/);
    const q = await runCli([...run, '--quiet']);
    expect(q.code).toBe(0);
    expect(q.stderr).toBe('');
    expect(q.stdout).toBe('');
  });

  // A real pseudo-terminal through util-linux's script(1), against the built CLI and addon.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const ready = existsSync(path.join(root, 'dist/cli.js')) && existsSync(path.join(root, 'build/Release/gpubench.node'));
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!ready || !hasScript)('on a terminal: the bar on stderr, the tables alone on stdout', () => {
    const cmd = `node dist/cli.js ${run.slice(0, -6).join(' ')} --batch 1,2 --input-len 16 --output-len 4 --threads 1 2>&1 >/dev/null`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\d\/2 points \| bs=\d in=16 out=4 \| (waiting|admitted|warmup|timed|done) \d+\/\d+ \| ETA /);
    expect(r.stdout).toContain('[2/2] bs=2 in=16 out=4: prefill');
  }, 60_000);
});
