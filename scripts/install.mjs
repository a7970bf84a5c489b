// `npm install` hook. Uses a prebuild where it is the best this machine can run (the CUDA one, or
// the CPU one where no NVIDIA driver is loaded) and compiles nothing; else builds the addon with
// cmake-js (CPU backend, plus CUDA where nvcc and cuBLASLt are found); else the CPU-only node-gyp
// build. Ends with ONE outcome line (npm shows it with --foreground-scripts or when the hook
// fails; `gpubench devices` repeats it) and keeps everything in build/install.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cmakeJsBin, cudaOutcome } from './cmake-js.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const logFile = path.join(root, 'build', 'install.log');
const log = [];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  log.push(`$ ${[cmd, ...args].join(' ')}`, out);
  return { ok: r.status === 0, out };
}

/** Writes the log (its last line is the outcome, which lib/bridge/addon-loader.ts reads back) and prints the line. */
function finish(outcome, failed = false) {
  mkdirSync(path.dirname(logFile), { recursive: true });
  writeFileSync(logFile, `${log.join('\n')}\ngpubench: ${outcome}\n`);
  (failed ? console.error : console.log)(`gpubench: ${outcome} (log: ${logFile})`);
  if (failed) process.exit(1);
}

const hasLocalBuild = () => readdirSync(path.join(root, 'build', 'Release'), { withFileTypes: true }).some((f) => f.name.endsWith('.node'));
const localBuildExists = () => existsSync(path.join(root, 'build', 'Release')) && hasLocalBuild();

/** lib/bridge/addon-loader.ts's choice among the prebuilds, where the package has its compiled lib (dist/). */
async function prebuildChoice() {
  const loader = path.join(root, 'dist', 'bridge', 'addon-loader.js');
  if (!existsSync(loader) || !existsSync(path.join(root, 'prebuilds'))) return undefined;
  const { selectAddon, realProbes } = await import(pathToFileURL(loader).href);
  try {
    const choice = selectAddon(root);
    return { ...choice, noDriver: realProbes.driverVersion() === undefined };
  } catch (e) {
    log.push(`no usable prebuild: ${e.message}`);
    return undefined;
  }
}

function cmakeBuild() {
  let bin;
  try {
    bin = cmakeJsBin(root);
  } catch (e) {
    return { ok: false, why: `cmake-js not found from ${root} (${e.message.split('\n')[0]})` };
  }
  const jobs = String(Math.max(2, Math.min(cpus().length, 16)));
  // GPUBENCH_CUDA_ARCHITECTURES (e.g. 90a) builds for fewer GPUs, sooner; CMakeLists.txt's default otherwise.
  const archs = process.env.GPUBENCH_CUDA_ARCHITECTURES;
  const args = [bin, 'compile', '--out', 'build', '--parallel', jobs, ...(archs ? [`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`] : [])];
  const r = run(process.execPath, args);
  const ok = r.ok && existsSync(path.join(root, 'build', 'Release', 'gpubench.node'));
  const lastError = r.out.split('\n').filter((l) => /error/i.test(l)).pop()?.trim() ?? 'no error line';
  return { ok, why: ok ? '' : `cmake-js failed: ${lastError}`, ...cudaOutcome(r.out) };
}

/** npm gives lifecycle scripts its own node-gyp in npm_config_node_gyp. */
function nodeGypBuild() {
  const nodeGyp = process.env.npm_config_node_gyp
    ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return run(process.execPath, [nodeGyp, 'rebuild', '--jobs', 'max']).ok;
}

if (process.env.GPUBENCH_SKIP_INSTALL_BUILD === '1') {
  console.log('gpubench: skipping the native build (GPUBENCH_SKIP_INSTALL_BUILD=1)');
  process.exit(0);
}

// Prebuilds are for projects that depend on gpubench; its own checkout builds (tests need build/).
const isDependency = root.split(path.sep).includes('node_modules');
const fromSource = process.env.GPUBENCH_BUILD_FROM_SOURCE === '1' || !isDependency || localBuildExists();
const prebuild = fromSource ? undefined : await prebuildChoice();
if (prebuild && (prebuild.source === 'CUDA prebuild' || prebuild.noDriver)) {
  finish(`using ${prebuild.file}, compiled nothing (${prebuild.source}; ${prebuild.why})`);
} else {
  if (prebuild) log.push(`building from source: ${prebuild.why}`);
  const cmake = cmakeBuild();
  if (cmake.ok && cmake.cuda) {
    finish(`built the CPU and CUDA backends with cmake-js (${cmake.detail})`);
  } else if (cmake.ok) {
    finish(`built the CPU backend only with cmake-js (no CUDA: ${cmake.detail})`);
  } else if (prebuild) {
    finish(`${cmake.why}; using ${prebuild.file} (${prebuild.source})`);
  } else if (nodeGypBuild()) {
    finish(`${cmake.why}; built the CPU backend only with node-gyp`);
  } else {
    finish(`could not build the native addon (${cmake.why}; the node-gyp CPU build failed too)`, true);
  }
}
