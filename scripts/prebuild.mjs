// `npm run prebuild [-- --out DIR]`: the binaries a published package carries, in
// DIR/prebuilds/<platform>-<arch>/ (DIR: the package root by default):
//   gpubench.node                  CPU-only addon (prebuildify over binding.gyp), everywhere;
//   cuda/gpubench.node, cuda/gpubench.json
//                                  CUDA addon for sm_80, sm_89 and sm_90a (cmake-js) and what it needs
//                                  at run time, where nvcc and cuBLASLt are found.
// Builds in build-prebuild/, never in build/, so a local build is neither clobbered nor mistaken
// for a prebuild. Ends with one line saying what it made.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cmakeJsBin, cudaOutcome } from './cmake-js.mjs';

const CUDA_ARCHITECTURES = '80;89;90a';
/** Oldest NVIDIA driver each CUDA major release runs on (NVIDIA's CUDA toolkit release notes). */
const MIN_DRIVER = { 12: 525, 13: 580 };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = path.resolve(outArg >= 0 ? process.argv[outArg + 1] ?? '' : root);
const dest = path.join(out, 'prebuilds', `${process.platform}-${process.arch}`);
const stage = path.join(root, 'build-prebuild');
const require = createRequire(import.meta.url);

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  if (r.status !== 0) {
    process.stderr.write(output);
    console.error(`gpubench: prebuild failed: ${[cmd, ...args].join(' ')} exited with ${r.status}`);
    process.exit(1);
  }
  return output;
}

/**
 * binding.gyp in a folder of its own (native/ and scripts/git-commit.mjs linked; CMakeLists.txt and
 * scripts/cmake-sources.mjs, through which binding.gyp reads its source lists, copied), so node-gyp's
 * build/ lands there.
 */
function buildCpu() {
  const dir = path.join(stage, 'cpu');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  symlinkSync(path.join(root, 'native'), path.join(dir, 'native'));
  for (const file of ['binding.gyp', 'CMakeLists.txt', 'scripts/cmake-sources.mjs']) copyFileSync(path.join(root, file), path.join(dir, file));
  // Linked, not copied: Node runs it from its real path, so it reads this checkout's commit.
  symlinkSync(path.join(root, 'scripts/git-commit.mjs'), path.join(dir, 'scripts/git-commit.mjs'));
  const { name, version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version }));
  // npm hands scripts its own node-gyp; run outside npm, take the one npm bundles. node-gyp
  // compiles one file at a time unless JOBS says otherwise.
  const nodeGyp = process.env.npm_config_node_gyp
    ?? path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  // The running node's own headers where it has them (a node tarball and Debian's node do), so
  // node-gyp downloads none: a machine without network builds too.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const nodedir = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? { npm_config_nodedir: prefix } : {};
  run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--cwd', dir, '--out', out], { ...process.env, ...nodedir, PREBUILD_NODE_GYP: nodeGyp, JOBS: process.env.JOBS ?? 'max' });
  return path.join(dest, 'gpubench.node');
}

/** The CUDA addon where the configure finds nvcc and cuBLASLt; else why not. */
function buildCuda() {
  const dir = path.join(stage, 'cuda');
  const cmakeJs = cmakeJsBin(root);
  const configured = run(process.execPath, [cmakeJs, 'configure', '--out', dir, `--CDCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}`]);
  const outcome = cudaOutcome(configured);
  if (!outcome.cuda) return { made: false, why: outcome.detail };
  run(process.execPath, [cmakeJs, 'build', '--out', dir, '--parallel', String(Math.max(2, Math.min(cpus().length, 16)))]);
  const release = /release (\d+)\.(\d+)/.exec(run('nvcc', ['--version']));
  const major = Number(release?.[1]);
  mkdirSync(path.join(dest, 'cuda'), { recursive: true });
  copyFileSync(path.join(dir, 'Release', 'gpubench.node'), path.join(dest, 'cuda', 'gpubench.node'));
  const manifest = { cudaVersion: `${release?.[1]}.${release?.[2]}`, minDriver: MIN_DRIVER[major] ?? 0, architectures: CUDA_ARCHITECTURES };
  writeFileSync(path.join(dest, 'cuda', 'gpubench.json'), `${JSON.stringify(manifest)}\n`);
  return { made: true, why: `CUDA ${manifest.cudaVersion}, sm ${CUDA_ARCHITECTURES}` };
}

const cpu = buildCpu();
if (!existsSync(cpu)) {
  console.error(`gpubench: prebuild failed: prebuildify made no ${cpu}`);
  process.exit(1);
}
const cuda = buildCuda();
const rel = (p) => path.relative(out, p);
console.log(cuda.made
  ? `gpubench: made ${rel(cpu)} (CPU) and ${rel(path.join(dest, 'cuda', 'gpubench.node'))} (${cuda.why})`
  : `gpubench: made ${rel(cpu)} (CPU) only; no CUDA prebuild: ${cuda.why}`);
