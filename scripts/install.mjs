// `npm install` hook: builds the addon with cmake-js (CPU backend, plus CUDA when nvcc and
// cuBLASLt are found), and falls back to a prebuild or the CPU-only node-gyp build, saying so.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => console.log(`gpubench: ${msg}`);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function cmakeBuild() {
  const jobs = String(Math.max(2, Math.min(cpus().length, 16)));
  const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const r = run(process.execPath, [cmakeJs, 'compile', '--out', 'build', '--parallel', jobs]);
  mkdirSync(path.join(root, 'build'), { recursive: true });
  writeFileSync(path.join(root, 'build', 'install.log'), r.out);
  for (const line of r.out.split('\n')) if (line.includes('gpubench:')) console.log(line.replace(/^-- /, ''));
  return r.ok && existsSync(path.join(root, 'build', 'Release', 'gpubench.node'));
}

if (process.env.GPUBENCH_SKIP_INSTALL_BUILD === '1') {
  say('skipping the native build (GPUBENCH_SKIP_INSTALL_BUILD=1)');
} else if (cmakeBuild()) {
  say('built build/Release/gpubench.node with cmake-js');
} else {
  say('cmake-js build failed (log: build/install.log); trying the CPU-only build');
  if (existsSync(path.join(root, 'prebuilds'))) {
    say('using the CPU prebuild in prebuilds/');
  } else {
    const nodeGyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    const args = existsSync(nodeGyp) ? [nodeGyp, 'rebuild'] : [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild'];
    const r = run(process.execPath, args);
    if (!r.ok) {
      console.error(r.out.split('\n').slice(-30).join('\n'));
      say('could not build the native addon: see build/install.log and the output above');
      process.exit(1);
    }
    say('built the CPU-only addon with node-gyp');
  }
}
