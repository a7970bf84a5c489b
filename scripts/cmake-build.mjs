// Builds one CMake target of CMakeLists.txt for the tests: in the addon's own build tree (build/,
// made by npm install's cmake-js) when it exists, so what npm install compiled is reused and only
// changed files compile again; otherwise in build-tests/, configured here.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The build tree the tests use (absolute). */
export function buildDir() {
  return existsSync(join(root, 'build', 'CMakeCache.txt')) ? join(root, 'build') : join(root, 'build-tests');
}

/** Builds `target` with every core; returns { ok, log }. */
export function cmakeBuild(target) {
  const dir = buildDir();
  let log = '';
  if (!existsSync(join(dir, 'CMakeCache.txt'))) {
    const configure = spawnSync('cmake', ['-S', root, '-B', dir, '-DCMAKE_BUILD_TYPE=Release'], { encoding: 'utf8' });
    log += `${configure.stdout ?? ''}${configure.stderr ?? ''}${configure.error ? String(configure.error) : ''}`;
    if (configure.status !== 0) return { ok: false, log: `cmake could not configure ${dir}:\n${log}` };
  }
  const jobs = String(availableParallelism());
  const build = spawnSync('cmake', ['--build', dir, '--target', target, '--parallel', jobs], { encoding: 'utf8' });
  log += `${build.stdout ?? ''}${build.stderr ?? ''}${build.error ? String(build.error) : ''}`;
  return { ok: build.status === 0, log };
}
