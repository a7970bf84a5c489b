#!/usr/bin/env node
// The executable (package.json bin): runs the CLI of lib/cli/ when executed (node dist/cli.js,
// npx gpubench), not when imported by tests.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from './cli/main.js';

export { main };

const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(self)) {
  // `gpubench … | head`: the reader left, so the output is no longer wanted; not a crash.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(process.exitCode ?? 0);
    });
  }
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
