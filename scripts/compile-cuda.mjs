#!/usr/bin/env node
// CI check that every CUDA source compiles (no GPU and no cuBLAS needed): builds CMakeLists.txt's
// gpubench_cuda_check target, which compiles each CUDA source of the backend and of the CUDA op
// tests for sm_90a into objects nothing links; the build tool runs the compiles in parallel and
// skips the objects whose sources did not change. A file that includes cublasLt.h is left out
// where cuBLASLt is not found (CMake says so when it configures).
// Exit status: 0 when everything that could be compiled did; 1 on a failure, or when nvcc is
// missing (unless GPUBENCH_SKIP_CUDA_CHECK=1, which turns a missing nvcc into a skip).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildDir, cmakeBuild } from './cmake-build.mjs';

function findNvcc() {
  const candidates = [
    process.env.CUDACXX,
    'nvcc',
    process.env.CUDA_PATH && join(process.env.CUDA_PATH, 'bin', 'nvcc'),
    '/usr/local/cuda/bin/nvcc',
  ].filter(Boolean);
  return candidates.find((nvcc) => spawnSync(nvcc, ['--version']).status === 0) ?? null;
}

if (!findNvcc()) {
  const skip = process.env.GPUBENCH_SKIP_CUDA_CHECK === '1';
  const what = skip
    ? 'GPUBENCH_SKIP_CUDA_CHECK=1: skipping the CUDA compile check.'
    : 'Install the CUDA toolkit, or set GPUBENCH_SKIP_CUDA_CHECK=1 to skip this check.';
  console.error(`compile-cuda: nvcc not found (tried $CUDACXX, PATH, $CUDA_PATH/bin, /usr/local/cuda/bin). ${what}`);
  process.exit(skip ? 0 : 1);
}
const started = Date.now();
const r = cmakeBuild('gpubench_cuda_check');
console.log(r.log.trim());
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (!r.ok && /unknown target|No rule to make target/.test(r.log)) {
  console.error(`compile-cuda: ${buildDir()} has no gpubench_cuda_check target: CMake found no CUDA compiler there ` +
    '(configured with GPUBENCH_CUDA=OFF, or nvcc not on PATH/CUDACXX when it was configured)');
}
console.log(`compile-cuda: ${r.ok ? 'ok' : 'FAILED'} in ${seconds} s (${buildDir()})`);
process.exitCode = r.ok ? 0 : 1;
