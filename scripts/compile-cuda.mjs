#!/usr/bin/env node
// CI check that every CUDA source compiles (no GPU and no cuBLAS needed): each
// native/backend/cuda/*.cu and test/native/*.cu is compiled on its own with
//   nvcc -std=c++17 -arch=sm_90a -Inative -c -o <tmp>
// a few at a time. A file that includes cublasLt.h is compiled only where that header exists
// in the CUDA include directories, and reported as skipped otherwise.
// Exit status: 0 when everything that could be compiled did; 1 on a failure, or when nvcc is
// missing (unless GPUBENCH_SKIP_CUDA_CHECK=1, which turns a missing nvcc into a skip).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sourceDirs = ['native/backend/cuda', 'test/native'];

function findNvcc() {
  const candidates = [
    process.env.CUDACXX,
    'nvcc',
    process.env.CUDA_PATH && join(process.env.CUDA_PATH, 'bin', 'nvcc'),
    '/usr/local/cuda/bin/nvcc',
  ].filter(Boolean);
  for (const nvcc of candidates) {
    const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return nvcc;
  }
  return null;
}

// The directories nvcc searches for CUDA headers, read from its dry run (nvcc may be a wrapper
// script, so its own path says nothing), plus the usual system locations.
function cudaIncludeDirs(nvcc, scratch) {
  const probe = join(scratch, 'probe.cu');
  const r = spawnSync(nvcc, ['--dryrun', '-c', probe, '-o', join(scratch, 'probe.o')], { encoding: 'utf8' });
  const dirs = [];
  for (const m of `${r.stdout}\n${r.stderr}`.matchAll(/(?:-I|-isystem\s*)"?([^"\s]+)"?/g)) dirs.push(m[1]);
  if (process.env.CUDA_PATH) dirs.push(join(process.env.CUDA_PATH, 'include'));
  dirs.push('/usr/local/cuda/include', '/usr/include');
  return [...new Set(dirs)];
}

function sources() {
  const files = [];
  for (const dir of sourceDirs) {
    const abs = join(root, dir);
    if (!existsSync(abs)) continue;
    for (const name of readdirSync(abs).sort()) if (name.endsWith('.cu')) files.push(join(abs, name));
  }
  return files;
}

function compile(nvcc, file, out, defines) {
  return new Promise((done) => {
    const started = Date.now();
    const args = ['-std=c++17', '-arch=sm_90a', '-Inative', ...defines, '-c', '-o', out, file];
    const child = spawn(nvcc, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.on('error', (e) => done({ ok: false, log: String(e), seconds: 0 }));
    child.on('close', (code) => done({ ok: code === 0, log: log.trim(), seconds: (Date.now() - started) / 1000 }));
  });
}

async function main() {
  const nvcc = findNvcc();
  if (!nvcc) {
    const skip = process.env.GPUBENCH_SKIP_CUDA_CHECK === '1';
    const what = skip
      ? 'GPUBENCH_SKIP_CUDA_CHECK=1: skipping the CUDA compile check.'
      : 'Install the CUDA toolkit, or set GPUBENCH_SKIP_CUDA_CHECK=1 to skip this check.';
    console.error(`compile-cuda: nvcc not found (tried $CUDACXX, PATH, $CUDA_PATH/bin, /usr/local/cuda/bin). ${what}`);
    process.exit(skip ? 0 : 1);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'gpubench-cuda-'));
  try {
    const includeDirs = cudaIncludeDirs(nvcc, scratch);
    const haveCublasLt = includeDirs.some((d) => existsSync(join(d, 'cublasLt.h')));
    // Where CUPTI's headers exist, compile the CUPTI paths as the CMake build does.
    const defines = includeDirs.some((d) => existsSync(join(d, 'cupti.h'))) ? ['-DGPUBENCH_WITH_CUPTI'] : [];
    const files = sources();
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const file = files[i];
        const name = relative(root, file);
        if (!haveCublasLt && /^\s*#\s*include\s*[<"]cublasLt\.h[>"]/m.test(readFileSync(file, 'utf8'))) {
          console.log(`skipped ${name} (cublasLt.h not found)`);
          continue;
        }
        const r = await compile(nvcc, file, join(scratch, `${i}.o`), defines);
        console.log(`${r.ok ? 'ok     ' : 'FAILED '} ${name} (${r.seconds.toFixed(1)} s)`);
        if (r.log) console.log(r.log.replace(/^/gm, '    '));
        if (!r.ok) failed++;
      }
    };
    const jobs = Math.max(2, Math.min(4, availableParallelism()));
    await Promise.all(Array.from({ length: jobs }, worker));
    console.log(`compile-cuda: ${files.length} files, ${failed} failed`);
    process.exitCode = failed > 0 ? 1 : 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main();
