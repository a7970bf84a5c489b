// Every CUDA op against its CPU op on random inputs (outputs poisoned, odd sizes), through the
// standalone test/native/cuda_ops_test.cu that `npm run test:gpu` builds first (build-test/).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasGpu } from './helpers.js';

const exe = 'build-test/gpubench_cuda_ops_test';

describe.skipIf(!hasGpu)('CUDA ops vs CPU ops', () => {
  it('cuda_ops_test passes every case', () => {
    expect(existsSync(exe), `${exe} missing: run npm run test:gpu`).toBe(true);
    const r = spawnSync(exe, [], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/PASS/);
    expect(r.stdout + r.stderr).not.toMatch(/FAIL/);
    expect(r.status).toBe(0);
  });
});
