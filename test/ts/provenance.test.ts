// Provenance: gathered once per sweep from the addon, the engine's device and the host, attached to
// every point and flattened with prov_ names into the JSONL and CSV records.
import { cpus, hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import { canonicalJson, cudaVersionText, gpubenchVersion, specHash } from '../../lib/api/provenance.js';
import { resolveModel } from '../../lib/model/model-spec.js';
import { PROVENANCE_FIELDS, toRecord } from '../../lib/report/fields.js';
import { csvHeader } from '../../lib/report/csv.js';
import { fakeAddon } from './fake-addon.js';
import { toResultFile } from '../../lib/views/json-file.js';

describe('model spec hash', () => {
  it('is the sha256 of the canonical JSON: key order does not matter, content does', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: null }], e: undefined })).toBe('{"a":[{"c":null,"d":2}],"b":1}');
    const spec = resolveModel('tiny-llama');
    const reordered = Object.fromEntries(Object.entries(spec).reverse()) as typeof spec;
    expect(specHash(reordered)).toBe(specHash(spec));
    expect(specHash(spec)).toMatch(/^[0-9a-f]{64}$/);
    expect(specHash(resolveModel('tiny-llama', { layers: 1 }))).not.toBe(specHash(spec));
  });

  it('CUDA versions read as major.minor', () => {
    expect(cudaVersionText(12080)).toBe('12.8');
    expect(cudaVersionText(13000)).toBe('13.0');
    expect(cudaVersionText(0)).toBeNull();
  });
});

describe('a sweep carries its provenance', () => {
  const grid = { model: 'tiny-llama', batchSizes: [1, 2], inputLens: [8], outputLens: [2], seed: 5 };

  it('on CUDA: driver, runtime, compute capability and rated clocks; no CPU fields; one measurement of the peaks', async () => {
    const before = new Date();
    const r = await sweep({ ...grid, addon: fakeAddon({ cuda: true }), device: 'cuda' });
    const p = r.provenance;
    expect(p).toMatchObject({
      gpubenchVersion: gpubenchVersion(), gitCommit: 'fake0commit', backends: ['cpu', 'cuda'], hostName: hostname(),
      nodeVersion: process.version, device: 'cuda:0', deviceName: 'fake', driverVersion: '13.0', cudaRuntimeVersion: '12.8',
      computeCapability: '9.0', clocks: { smMhz: 1980, memMhz: 2619 }, cpuModel: null, cpuThreads: null,
      model: 'tiny-llama', modelSpecSha256: specHash(resolveModel('tiny-llama')), seed: 5, dtype: 'bf16',
      peaks: { flopsPerS: 1e12, bytesPerS: 1e11, attempts: 1, steady: true },
    });
    expect(Date.parse(p.timestamp)).toBeGreaterThanOrEqual(before.getTime());
    for (const point of r.points) expect(point.provenance).toBe(p);
    const rec = toRecord(r.points[0]!);
    expect(rec).toMatchObject({ prov_driver: '13.0', prov_cuda_runtime: '12.8', prov_compute_capability: '9.0', prov_sm_clock_mhz: 1980, prov_cpu_model: null, prov_peaks_attempts: 1 });
  });

  it('on the CPU: the CPU model and threads, clocks null with the reason; a build outside a checkout has no commit', async () => {
    const addon = fakeAddon();
    addon.buildInfo = () => ({ commit: 'unknown', backends: ['cpu'], nccl: 'libnccl.so.2 not found' });
    const r = await sweep({ ...grid, addon, device: 'cpu' });
    expect(r.provenance).toMatchObject({
      gitCommit: null, driverVersion: null, cudaRuntimeVersion: null, computeCapability: null, cpuModel: cpus()[0]!.model.trim(), cpuThreads: 2,
      clocks: { smMhz: null, memMhz: null, source: 'not read on the CPU (the CPU backend has no clock query)' },
    });
  });

  it('the --save-json header carries it', async () => {
    const r = await sweep({ ...grid, addon: fakeAddon(), device: 'cpu' });
    expect(toResultFile(r).run.provenance).toEqual(r.provenance);
  });

  it('the CSV header ends with the prov_ fields', () => {
    expect(csvHeader().split(',').slice(-PROVENANCE_FIELDS.length)).toEqual([...PROVENANCE_FIELDS]);
  });
});
