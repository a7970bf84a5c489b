// gpubench as a stranger gets it: `npm run prebuild`, then the packed tarball installed into a fresh
// project, where npm hoists cmake-js above the package and the install hook must still find it and
// build; then an install that finds a usable prebuild and compiles nothing. Runs the real compiles
// (one node-gyp, one cmake-js), so it is the slowest test file.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');
const platform = `${process.platform}-${process.arch}`;
const COMPILE_MS = 900_000;
const tiny = ['run', '--model', 'tiny-llama', '--device', 'cpu', '--batch', '1', '--input-len', '8', '--output-len', '2'];

/** The environment of a shell, not of the `npm test` that runs this file (npm_* would leak into the child npm). */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

function sh(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}${r.stderr}` };
}

function project(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true, type: 'module' }));
  return dir;
}

let work: string;
let tarball: string;
let tarballHasPrebuilds: boolean;
let packed: string[];

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'gpubench-package-'));
  // dist/ is fresh: `npm test` compiles it before vitest runs, so `prepare` is not needed here.
  const pack = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repo);
  expect(pack.status, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(work, info!.filename);
  packed = info!.files.map((f) => f.path);
  tarballHasPrebuilds = packed.some((f) => f.startsWith('prebuilds/'));
});

describe('gpubench as a published package', () => {
  it('the tarball carries what the install hook needs: the hook and its scripts, CMakeLists.txt, binding.gyp, every listed source, the loader', () => {
    for (const file of ['scripts/install.mjs', 'scripts/cmake-js.mjs', 'scripts/cmake-sources.mjs', 'CMakeLists.txt', 'binding.gyp', 'dist/index.js', 'dist/cli.js', 'dist/bridge/addon-loader.js']) {
      expect(packed, file).toContain(file);
    }
    // Every source CMakeLists.txt lists for the addon (what cmake-js and binding.gyp compile), and every header of native/.
    const listed = sh(process.execPath, ['scripts/cmake-sources.mjs', 'BASE', 'CPU_BACKEND', 'CORE', 'MODEL', 'ENGINE', 'ADDON', 'CUDA_BACKEND'], repo);
    expect(listed.status, listed.all).toBe(0);
    const sources = listed.stdout.trim().split(' ');
    expect(sources.length).toBeGreaterThan(30);
    expect(sources.filter((f) => !packed.includes(f))).toEqual([]);
    expect(packed.filter((f) => f.startsWith('test/'))).toEqual([]);
  });

  it('npm run prebuild makes the CPU prebuild, and says why there is no CUDA one without the toolkit', () => {
    const localBuild = path.join(repo, 'build', 'Release', 'gpubench.node');
    const before = existsSync(localBuild) ? statSync(localBuild).mtimeMs : undefined;
    const r = sh('npm', ['run', 'prebuild', '--', '--out', path.join(work, 'prebuilt')], repo);
    expect(r.status, r.all).toBe(0);
    expect(existsSync(path.join(work, 'prebuilt', 'prebuilds', platform, 'gpubench.node'))).toBe(true);
    expect(r.stdout).toMatch(
      new RegExp(`^gpubench: made prebuilds/${platform}/gpubench\\.node \\(CPU\\) (only; no CUDA prebuild: .+|and prebuilds/${platform}/cuda/gpubench\\.node \\(CUDA .+\\))$`, 'm'),
    );
    // It builds in build-prebuild/: the local build stays as it was.
    expect(existsSync(localBuild) ? statSync(localBuild).mtimeMs : undefined).toBe(before);
  }, COMPILE_MS);

  it('installs into another project, building with the hoisted cmake-js, and runs from the CLI and the API', () => {
    const app = project(path.join(work, 'app'));
    // A tarball carrying prebuilds would use them; this case is the build from source.
    const fromSource: Record<string, string> = tarballHasPrebuilds ? { GPUBENCH_BUILD_FROM_SOURCE: '1' } : {};
    const install = sh('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], app, fromSource);
    expect(install.status, install.all).toBe(0);
    const pkg = path.join(app, 'node_modules', 'gpubench');
    expect(existsSync(path.join(app, 'node_modules', 'cmake-js', 'package.json'))).toBe(true);
    expect(existsSync(path.join(pkg, 'node_modules', 'cmake-js'))).toBe(false);
    const outcome = install.all.split('\n').filter((l) => l.startsWith('gpubench: '));
    expect(outcome).toHaveLength(1);
    expect(outcome[0]).toMatch(/^gpubench: built the CPU (and CUDA backends|backend only) with cmake-js \((CUDA architectures|no CUDA: ).+\) \(log: (.+)\)$/);
    const log = path.join(pkg, 'build', 'install.log');
    expect(outcome[0]).toContain(`(log: ${log})`);
    expect(readFileSync(log, 'utf8')).toMatch(/cmake-js compile --out build/);
    // The node-gyp fallback's source lists resolve in the installed package (binding.gyp runs this).
    const lists = sh(process.execPath, ['scripts/cmake-sources.mjs', 'BASE', 'CPU_BACKEND', 'CORE', 'MODEL', 'ENGINE', 'ADDON'], pkg);
    expect(lists.status, lists.all).toBe(0);
    expect(lists.stdout.trim().split(' ').filter((f) => !existsSync(path.join(pkg, f)))).toEqual([]);

    const devices = sh('npx', ['gpubench', 'devices'], app);
    expect(devices.status, devices.all).toBe(0);
    expect(devices.stdout).toMatch(/^addon: build\/Release\/gpubench\.node \(local build; install: built the CPU /);

    const run = sh('npx', ['gpubench', ...tiny, '--save-jsonl', 'r.jsonl'], app);
    expect(run.status, run.all).toBe(0);
    const [point] = readFileSync(path.join(app, 'r.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(point).toMatchObject({ ok: true, device: 'cpu', batch_size: 1, input_len: 8, output_len: 2 });
    expect(point.decode_median_ms).toBeGreaterThan(0);

    writeFileSync(
      path.join(app, 'api.mjs'),
      "import { benchOneBatch } from 'gpubench';\n" +
        "const r = await benchOneBatch({ model: 'tiny-llama', device: 'cpu', batchSize: 2, inputLen: 8, outputLen: 2 });\n" +
        'console.log(JSON.stringify({ device: r.device, batchSize: r.batchSize, prefillMs: r.prefillMs, decodeMedian: r.decode.median }));\n',
    );
    const api = sh(process.execPath, ['api.mjs'], app);
    expect(api.status, api.all).toBe(0);
    const r = JSON.parse(api.stdout);
    expect(r).toMatchObject({ device: 'cpu', batchSize: 2 });
    expect(r.prefillMs).toBeGreaterThan(0);
    expect(r.decodeMedian).toBeGreaterThan(0);
  }, COMPILE_MS);

  it.skipIf(existsSync('/proc/driver/nvidia/version'))('an install that finds a usable prebuild compiles nothing and loads it without build/', () => {
    const app = project(path.join(work, 'app-prebuilt'));
    const add = sh('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
    expect(add.status, add.all).toBe(0);
    const pkg = path.join(app, 'node_modules', 'gpubench');
    cpSync(path.join(work, 'prebuilt', 'prebuilds'), path.join(pkg, 'prebuilds'), { recursive: true });
    const hook = sh('npm', ['rebuild', 'gpubench', '--foreground-scripts'], app);
    expect(hook.status, hook.all).toBe(0);
    expect(hook.all).toContain(
      `gpubench: using prebuilds/${platform}/gpubench.node, compiled nothing (CPU prebuild; CUDA prebuild not used: this package has no CUDA prebuild)`,
    );
    expect(existsSync(path.join(pkg, 'build', 'Release'))).toBe(false);

    const devices = sh('npx', ['gpubench', 'devices'], app);
    expect(devices.stdout).toMatch(new RegExp(`^addon: prebuilds/${platform}/gpubench\\.node \\(CPU prebuild; CUDA prebuild not used: `));
    const run = sh('npx', ['gpubench', ...tiny], app);
    expect(run.status, run.all).toBe(0);
    expect(run.stdout).toContain('Decode Result');
  }, COMPILE_MS);
});
