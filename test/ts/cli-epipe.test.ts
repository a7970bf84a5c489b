// `gpubench run --help | head -1`: the reader closes the pipe early; the CLI must end quietly
// (exit 0, no EPIPE stack on stderr) rather than crash on the write that found no reader.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('output into a closed pipe', () => {
  it('run --help into a pipe whose reader has already left exits 0 without a stack', async () => {
    const child = spawn(process.execPath, [path.join(root, 'dist/cli.js'), 'run', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdout.destroy(); // the read end closes before the CLI has loaded, so its write fails
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  });
});
