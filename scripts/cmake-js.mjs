// cmake-js for the install hook and the prebuild script: where it is, and what CMakeLists.txt's
// status lines say about the CUDA backend.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** cmake-js's bin, found the way Node finds modules from the package root: its own node_modules or hoisted above it. */
export function cmakeJsBin(root) {
  const manifest = createRequire(path.join(root, 'package.json')).resolve('cmake-js/package.json');
  const bin = JSON.parse(readFileSync(manifest, 'utf8')).bin;
  return path.join(path.dirname(manifest), typeof bin === 'string' ? bin : bin['cmake-js']);
}

/** Whether the configure enabled CUDA, and the architectures or why not. */
export function cudaOutcome(cmakeOutput) {
  const built = /gpubench: building the CUDA backend \(([^)]*)\)/.exec(cmakeOutput);
  if (built) return { cuda: true, detail: `CUDA architectures ${built[1]}` };
  if (cmakeOutput.includes('gpubench: nvcc found but cuBLASLt is not')) return { cuda: false, detail: 'nvcc found but cuBLASLt not found' };
  const nvccOnPath = spawnSync('nvcc', ['--version']).status === 0;
  return { cuda: false, detail: nvccOnPath ? 'nvcc is on PATH but CMake could not use it, see the log' : 'no nvcc on PATH' };
}
