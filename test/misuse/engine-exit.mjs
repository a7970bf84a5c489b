// A child process that leaves a native engine open and ends as process.argv[2] says: 'exit' calls
// process.exit(0) while a point waits for its batch; 'uncaught' throws while that point waits;
// 'return' lets the event loop run dry with the engine open and idle. The parent checks the exit
// code and signal: the addon must neither hang nor crash the process on the way out.
import { createRequire } from 'node:module';

const [, , how, root, optionsJson] = process.argv;
const require = createRequire(import.meta.url);
const { Engine } = require('node-gyp-build')(root);
const { options, point } = JSON.parse(optionsJson);
const engine = new Engine(options);
await engine.open();
if (how === 'return') {
  await engine.generate(Int32Array.of(1, 2, 3), 2, false);
} else {
  engine.runPoint(point, () => {}).catch(() => {});
  engine.submit({ id: 0, inputIds: Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8) });
  setTimeout(() => {
    if (how === 'exit') process.exit(0);
    throw new Error('uncaught while an engine is open');
  }, 50);
}
