// The CUDA engine against the CPU engine (same seed, so bit-identical bf16 dummy weights): logits
// within 2e-2 relative L2 and identical greedy tokens, prefill and decode, eager and CUDA graphs.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NativeGenerateResult, NativePointOptions, NativePointResult } from '../../lib/bridge/native.js';
import { routingToNative } from '../../lib/bridge/wire.js';
import { sweep } from '../../lib/api/bench.js';
import { addon, expectSameGreedy, expectSameTokens, hasGpu, open, prompt, relL2 } from './helpers.js';

const MODELS = ['tiny-llama', 'tiny-qwen2', 'tiny-qwen3', 'tiny-mistral'];
// Mixture-of-experts (and, for DeepSeek, MLA) models, compared with pinned routing: routed for real,
// a router score that bf16 moves past another picks another expert than the CPU does (real routing
// on CUDA is checked against transformers by the golden fixtures).
const MOE_MODELS = ['tiny-mixtral', 'tiny-qwen2-moe', 'tiny-qwen3-moe', 'tiny-deepseek-v2', 'tiny-deepseek-v3'];

/**
 * An MTP run's choices in the order it made them: the prompt's token, the drafts after it, then
 * per step the model's own token (after the accepted drafts, which are copies) and the drafts
 * after it; each with the logits it was the argmax of.
 */
function mtpChoices(r: NativeGenerateResult): { token: number; logits: Float32Array }[] {
  const out = [{ token: r.tokens[0]!, logits: r.logits[0]! }];
  const drafting = (i: number) => r.drafts[i]?.forEach((token, j) => out.push({ token, logits: r.draftLogits[i]![j]! }));
  drafting(0);
  let emitted = 1;
  r.accepted.forEach((accepted, step) => {
    emitted += accepted;
    out.push({ token: r.tokens[emitted]!, logits: r.logits[emitted]! });
    emitted += 1;
    drafting(step + 1);
  });
  return out;
}

/** One point on a fresh engine, its batch made of prompts of the point's input length. */
async function runPointOn(model: string, device: string, point: NativePointOptions): Promise<NativePointResult> {
  const e = await open(model, device);
  const done = e.runPoint(point, () => {});
  for (let i = 0; i < point.batchSize; i++) e.submit({ id: i, inputIds: prompt(point.inputLen, 2048, i + 2) });
  const r = await done;
  await e.close();
  return r;
}

describe.skipIf(!hasGpu)('CUDA engine vs CPU engine', () => {
  for (const model of MODELS) {
    for (const graphs of [false, true]) {
      it(`${model}: prefill + 8 decode steps, ${graphs ? 'CUDA graphs' : 'eager'}`, async () => {
        const cpu = await open(model, 'cpu');
        const gpu = await open(model, 'cuda:0');
        const ids = prompt(37, 2048);
        const want = await cpu.generate(ids, 8);
        const got = await gpu.generate(ids, 8, graphs);
        await cpu.close();
        await gpu.close();
        expect(got.tokens).toEqual(want.tokens);
        got.logits.forEach((row, i) => expect(relL2(row, want.logits[i]), `step ${i}`).toBeLessThan(2e-2));
      });
    }
  }

  for (const model of MOE_MODELS) {
    it(`${model}: prefill + 8 decode steps with pinned routing, CUDA graphs`, async () => {
      const cpu = await open(model, 'cpu');
      const gpu = await open(model, 'cuda:0');
      const ids = prompt(37, 2048);
      const want = await cpu.generate(ids, 8, false, { moeRouting: routingToNative('zipf:1.2') });
      const got = await gpu.generate(ids, 8, true, { moeRouting: routingToNative('zipf:1.2') });
      await cpu.close();
      await gpu.close();
      expectSameGreedy(got, want);
    });

    it(`${model}: a batch-4 point with pinned routing loads the experts as the CPU does`, async () => {
      const point: NativePointOptions = {
        batchSize: 4, inputLen: 50, outputLen: 6, mode: 'both', batchTimeoutMs: 5000, useGraphs: true,
        profile: 'none', profileDecodeSteps: 0, moeRouting: routingToNative('zipf:1.2'), runName: 'gpu-moe',
      };
      const cpu = await runPointOn(model, 'cpu', point);
      const gpu = await runPointOn(model, 'cuda:0', point);
      expect(gpu.usedGraphs).toBe(true);
      expect(gpu.expertCounts).toEqual(cpu.expertCounts);
      expect(gpu.firstRequestTokens).toHaveLength(cpu.firstRequestTokens.length);
    });
  }

  it('tiny-deepseek-v2: both MLA prefill forms on CUDA give the CPU\'s tokens (decompressed on the CPU)', async () => {
    const cpu = await open('tiny-deepseek-v2', 'cpu');
    const ids = prompt(200, 2048);
    const want = await cpu.generate(ids, 4, false, { moeRouting: routingToNative('zipf:1.2') });
    await cpu.close();
    for (const mlaPrefill of ['decompressed', 'absorbed'] as const) {
      const gpu = await open('tiny-deepseek-v2', 'cuda:0', { mlaPrefill });
      const got = await gpu.generate(ids, 4, true, { moeRouting: routingToNative('zipf:1.2') });
      const paths = got.kernelPaths;
      await gpu.close();
      expect(got.mlaPrefillForm).toBe(mlaPrefill);
      // The tiny presets' qk 48 / v 32 take the tensor-core kernel.
      if (mlaPrefill === 'decompressed') expect(paths.attention_dense).toBe('fast');
      expectSameGreedy(got, want);
    }
  });

  it('tiny-deepseek-v3 with MTP (3 drafts, rate 0.5): the CPU\'s tokens, drafts and acceptance', async () => {
    const mtp = { mtpDrafts: 3, mtpAccept: { rate: 0.5 } };
    const cpu = await open('tiny-deepseek-v3', 'cpu', { maxDrafts: 3 });
    const gpu = await open('tiny-deepseek-v3', 'cuda:0', { maxDrafts: 3 });
    const want = await cpu.generate(prompt(20, 2048), 5, false, mtp);
    const got = await gpu.generate(prompt(20, 2048), 5, false, mtp);
    await cpu.close();
    await gpu.close();
    expect(got.accepted).toEqual(want.accepted);  // pinned: the same whatever the tokens
    expect(got.tokens.length).toBe(want.tokens.length);
    // Every token the models chose (drafts and verified tokens, in the order they were chosen) is
    // the CPU's, up to a near-tie of the CPU's logits, after which the runs see different tokens.
    const [g, w] = [mtpChoices(got), mtpChoices(want)];
    expectSameTokens(g.map((c) => c.token), w.map((c) => c.token), w.map((c) => c.logits));
  });

  it('batched decode on the GPU gives the tokens the CPU gives (graphs, batch 8, decode mode over fake KV)', async () => {
    const point: NativePointOptions = {
      batchSize: 8, inputLen: 100, outputLen: 6, mode: 'both', batchTimeoutMs: 5000, useGraphs: true,
      profile: 'both', profileDecodeSteps: 2, runName: 'gpu-test',
    };
    const cpu = await runPointOn('tiny-llama', 'cpu', point);
    const gpu = await runPointOn('tiny-llama', 'cuda:0', point);
    // The CPU's logits for request 0 alone (runPoint returns tokens only): where they near-tie,
    // the batched GPU run may take the other token (expectSameTokens).
    const ref = await open('tiny-llama', 'cpu');
    const want = await ref.generate(prompt(point.inputLen, 2048, 2), point.outputLen - 1);
    await ref.close();
    expect(cpu.firstRequestTokens).toEqual(want.tokens);
    expect(gpu.usedGraphs).toBe(true);
    expectSameTokens(gpu.firstRequestTokens, cpu.firstRequestTokens, want.logits);
    expect(gpu.profiledDecode.length).toBeGreaterThan(0);
  });

  it('the profiled pass traces the device kernels by their real names (CUPTI)', async () => {
    const e = await open('tiny-llama', 'cuda:0');
    const prefix = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-gpu-trace-')), 'k');
    const done = e.runPoint({
      batchSize: 2, inputLen: 64, outputLen: 4, mode: 'both', batchTimeoutMs: 5000, useGraphs: true,
      profile: 'both', profileDecodeSteps: 2, tracePrefix: prefix, runName: 'gpu-trace',
    }, () => {});
    for (let i = 0; i < 2; i++) e.submit({ id: i, inputIds: prompt(64, 2048, i) });
    const r = await done;
    await e.close();
    const decode = JSON.parse(readFileSync(r.traceFiles[1], 'utf8'));
    const kernels = decode.traceEvents.filter((ev: { cat?: string }) => ev.cat === 'kernel');
    const names = kernels.map((k: { name: string }) => k.name).join('\n');
    expect(kernels.length).toBeGreaterThan(4 * 8);  // 4 layers x (norms, GEMMs, rope, attention, ...)
    expect(names).toMatch(/decode_kernel/);
    expect(kernels.every((k: { tid: number; dur: number }) => k.tid === 2 && k.dur >= 0)).toBe(true);
  });

  it('MoE prefill with many rows per expert runs the wgmma grouped GEMM on Hopper, mma.sync elsewhere', async () => {
    const cc = addon.listDevices().find((d) => d.device === 'cuda:0')!.computeCapability;
    const e = await open('tiny-qwen3-moe', 'cuda:0');
    const prefix = path.join(mkdtempSync(path.join(tmpdir(), 'gpubench-gpu-moe-trace-')), 'k');
    // 2 x 256 tokens x top-4 = 2048 slots over 16 experts: 128 per expert, past the 32 at which
    // moe_experts switches to the 128-row prefill tiles.
    const done = e.runPoint({
      batchSize: 2, inputLen: 256, outputLen: 1, mode: 'prefill', batchTimeoutMs: 5000, useGraphs: false,
      profile: 'prefill', profileDecodeSteps: 0, tracePrefix: prefix, runName: 'gpu-moe-trace',
    }, () => {});
    for (let i = 0; i < 2; i++) e.submit({ id: i, inputIds: prompt(256, 2048, i) });
    const r = await done;
    await e.close();
    const file = r.traceFiles.find((f) => f.includes('prefill'))!;
    const kernels = JSON.parse(readFileSync(file, 'utf8')).traceEvents.filter((ev: { cat?: string }) => ev.cat === 'kernel');
    const names: string[] = kernels.map((k: { name: string }) => k.name);
    const wgmma = names.filter((n) => n.includes('wgmma_grouped_kernel')).length;
    const mmaSync = names.filter((n) => n.includes('grouped_gemm_kernel')).length;
    // gate_up and down in each of the 4 layers
    if (cc === '9.0') expect([wgmma, mmaSync]).toEqual([8, 0]);
    else expect([wgmma, mmaSync]).toEqual([0, 8]);
  });

  it('frees everything on close: device memory stays flat over many open/close cycles', async () => {
    const free = () => addon.listDevices().find((d) => d.device === 'cuda:0')!.freeBytes;
    const first = await open('tiny-llama', 'cuda:0');
    await first.close();
    const before = free();
    for (let i = 0; i < 20; i++) {
      const e = await open('tiny-llama', 'cuda:0', { kvPoolTokens: 65536 });
      await e.generate(prompt(8, 2048), 2, true);
      await e.close();
    }
    const after = free();
    expect(Math.abs(before - after)).toBeLessThan(64 << 20);
  });

  it('a sweep point too big for the device fails alone: the points after it run, and the memory comes back', async () => {
    const free = () => addon.listDevices().find((d) => d.device === 'cuda:0')!.freeBytes;
    const before = free();
    // 65536 requests of 8000 tokens need ~270 GB of KV (1 layer, 512 bf16 bytes a token), more than
    // any one GPU holds: the pool is capped to the free memory and that point alone fails.
    const r = await sweep({
      model: 'tiny-llama', layers: 1, addon, device: 'cuda:0', mode: 'decode', batchSizes: [1, 65536, 2], inputLens: [8000], outputLens: [4],
      peaks: { flopsPerS: 1e12, bytesPerS: 1e12 },
    });
    expect(r.engine.kvPoolTokens).toBeLessThan(r.plan.kvTokensNeeded);
    expect(r.points.map((p) => p.ok)).toEqual([true, false, true]);
    const failed = r.points[1]!;
    if (!failed.ok) expect(['ERR_DOES_NOT_FIT', 'ERR_OUT_OF_MEMORY']).toContain(failed.error.code);
    expect(Math.abs(free() - before)).toBeLessThan(64 << 20);
  });

  it('refuses a model that does not fit the device, naming the sizes, without crashing', async () => {
    const huge = { model_type: 'llama', vocab_size: 128256, hidden_size: 16384, intermediate_size: 53248,
      num_hidden_layers: 400, num_attention_heads: 128, num_key_value_heads: 8 };
    await expect(open(huge, 'cuda:0')).rejects.toMatchObject({ code: 'ERR_DOES_NOT_FIT', message: expect.stringMatching(/GiB free/) });
    const e = await open('tiny-llama', 'cuda:0');
    expect((await e.generate(prompt(4, 2048), 1)).tokens).toHaveLength(2);
    await e.close();
  });
});
