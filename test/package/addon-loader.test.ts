// Which binary selectAddon loads, on real files: copies of this checkout's build as local builds and
// prebuilds, and a stand-in CUDA prebuild that really fails to dlopen because the libcublasLt.so.13
// it was linked against is gone. Only the NVIDIA driver probe is replaced, to play a GPU machine.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cudaManifestFile, cudaPrebuildFile, platformDir, realProbes, selectAddon, type MachineProbes } from '../../lib/bridge/addon-loader.js';

const repo = path.resolve(import.meta.dirname, '../..');
const requireHere = createRequire(import.meta.url);
const cpuBuild = path.join(repo, 'build', 'Release', 'gpubench.node');
const driver = (version: string): MachineProbes => ({ driverVersion: () => version });
const manifest = { cudaVersion: '13.0', minDriver: 580, architectures: '80;89;90a' };

interface Backends {
  backends(): string[];
}

function packageRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'gpubench-loader-'));
  writeFileSync(path.join(root, 'package.json'), '{"name":"gpubench"}');
  return root;
}

function place(from: string, to: string): void {
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, to);
}

/** A .node whose DT_NEEDED libcublasLt.so.13 no longer exists, so dlopen fails as on a machine without the CUDA runtime. */
function unloadableCudaAddon(to: string): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-fake-cublas-'));
  writeFileSync(path.join(dir, 'lib.c'), 'int cublasLtCreate(void **handle) { return 0; }\n');
  writeFileSync(path.join(dir, 'addon.c'), 'int cublasLtCreate(void **handle);\nint probe(void) { return cublasLtCreate(0); }\n');
  execFileSync('cc', ['-shared', '-fPIC', '-Wl,-soname,libcublasLt.so.13', '-o', path.join(dir, 'libcublasLt.so.13'), path.join(dir, 'lib.c')]);
  mkdirSync(path.dirname(to), { recursive: true });
  execFileSync('cc', ['-shared', '-fPIC', '-o', to, path.join(dir, 'addon.c'), `-L${dir}`, '-l:libcublasLt.so.13']);
  rmSync(dir, { recursive: true });
}

function withCudaPrebuild(): string {
  const root = packageRoot();
  place(cpuBuild, path.join(root, 'prebuilds', platformDir(), 'gpubench.node'));
  unloadableCudaAddon(cudaPrebuildFile(root));
  writeFileSync(cudaManifestFile(root), JSON.stringify(manifest));
  return root;
}

describe('selectAddon', () => {
  it('takes build/Release when present, with the install hook outcome as the reason', () => {
    const root = packageRoot();
    place(cpuBuild, path.join(root, 'build', 'Release', 'gpubench.node'));
    writeFileSync(path.join(root, 'build', 'install.log'), 'cmake output\ngpubench: built the CPU backend (CUDA not built: no nvcc on PATH)\n');
    const choice = selectAddon<Backends>(root, driver('580.65.06'));
    expect(choice).toMatchObject({ file: 'build/Release/gpubench.node', source: 'local build', why: 'install: built the CPU backend (CUDA not built: no nvcc on PATH)' });
    expect(choice.addon.backends()).toContain('cpu');
  });

  it('takes the CPU prebuild when build/ is absent and there is no CUDA prebuild', () => {
    const root = packageRoot();
    place(cpuBuild, path.join(root, 'prebuilds', platformDir(), 'gpubench.node'));
    const choice = selectAddon<Backends>(root, driver('580.65.06'));
    expect(choice).toMatchObject({ file: `prebuilds/${platformDir()}/gpubench.node`, source: 'CPU prebuild', why: 'CUDA prebuild not used: this package has no CUDA prebuild' });
    expect(choice.addon.backends()).toEqual(['cpu']);
  });

  it('falls back to the CPU prebuild when the CUDA prebuild fails to dlopen, naming the missing library and what to install', () => {
    const choice = selectAddon<Backends>(withCudaPrebuild(), driver('580.65.06'));
    expect(choice.source).toBe('CPU prebuild');
    expect(choice.why).toBe(
      'CUDA prebuild not used: libcublasLt.so.13 not found — install the CUDA 13 runtime libraries (cudart, cuBLASLt, CUPTI) or add their folder to LD_LIBRARY_PATH',
    );
    expect(choice.addon.backends()).toEqual(['cpu']);
  });

  it('does not try the CUDA prebuild under a driver older than its toolkit needs', () => {
    const choice = selectAddon<Backends>(withCudaPrebuild(), driver('550.54.15'));
    expect(choice).toMatchObject({ source: 'CPU prebuild', why: 'CUDA prebuild not used: NVIDIA driver 550.54.15 is older than 580, which CUDA 13.0 needs — update the driver' });
  });

  it.skipIf(existsSync('/proc/driver/nvidia/version'))('says no driver is loaded on a machine without one', () => {
    const choice = selectAddon<Backends>(withCudaPrebuild(), realProbes);
    expect(choice.why).toBe('CUDA prebuild not used: no NVIDIA driver is loaded (/proc/driver/nvidia/version is absent)');
  });

  it('rejects a binary in the CUDA slot that loads but has no CUDA backend', () => {
    const root = packageRoot();
    place(cpuBuild, path.join(root, 'prebuilds', platformDir(), 'gpubench.node'));
    place(cpuBuild, cudaPrebuildFile(root));
    const choice = selectAddon<Backends>(root, driver('580.65.06'));
    expect(choice).toMatchObject({ source: 'CPU prebuild', why: `CUDA prebuild not used: prebuilds/${platformDir()}/cuda/gpubench.node has no CUDA backend` });
  });

  it('refuses a CPU prebuild from an older gpubench (a real module lacking the exports the bridge calls), naming the fix', () => {
    const root = packageRoot();
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-old-addon-'));
    writeFileSync(path.join(dir, 'old.c'), '#include <node_api.h>\nstatic napi_value init(napi_env env, napi_value exports) { return exports; }\nNAPI_MODULE(gpubench, init)\n');
    const to = path.join(root, 'prebuilds', platformDir(), 'gpubench.node');
    mkdirSync(path.dirname(to), { recursive: true });
    execFileSync('cc', ['-shared', '-fPIC', `-I${requireHere('node-api-headers').include_dir}`, '-o', to, path.join(dir, 'old.c')]);
    rmSync(dir, { recursive: true });
    expect(() => selectAddon(root, driver('580.65.06'))).toThrow(
      `prebuilds/${platformDir()}/gpubench.node was built from an older gpubench (it lacks Engine, backends, listDevices, buildInfo): rebuild it`,
    );
  });

  it('a local build that does not load is a one-line error naming the file and the missing library', () => {
    const root = packageRoot();
    unloadableCudaAddon(path.join(root, 'build', 'Release', 'gpubench.node'));
    expect(() => selectAddon(root, driver('580.65.06'))).toThrow(
      /^build\/Release\/gpubench\.node does not load: libcublasLt\.so\.13 not found — install the CUDA runtime libraries/,
    );
  });

  it('no binary at all is a one-line error naming what was looked for', () => {
    const root = packageRoot();
    expect(() => selectAddon(root, driver('580.65.06'))).toThrow(
      `no build/Release/gpubench.node and no prebuild for ${platformDir()} in ${root} (this package has no CUDA prebuild)`,
    );
  });
});
