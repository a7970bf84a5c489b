// A worker_threads worker that opens a native engine on the CPU (the addon loaded in the worker's own
// Node-API environment) and, as workerData.action says, either runs a generate and closes it
// ('close'), or leaves it open with a job in flight for the parent to terminate ('hold').
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const { Engine } = require('node-gyp-build')(workerData.root);
const engine = new Engine(workerData.options);
await engine.open();
const prompt = Int32Array.from({ length: 8 }, (_, i) => i + 1);
if (workerData.action === 'close') {
  const g = await engine.generate(prompt, 2, false);
  await engine.close();
  parentPort.postMessage({ tokens: Array.from(g.tokens) });
} else {
  // A point waiting for a batch that never comes: the engine's thread is busy when terminated.
  engine.runPoint({ ...workerData.point }, () => {}).catch(() => {});
  parentPort.postMessage({ holding: true });
}
