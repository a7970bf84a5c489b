// `gpubench launch` end to end on the CPU: real processes with torchrun's environment, the TCP
// rendezvous, each process's engine running its own rank of the layout (a dense model's DP ranks,
// which exchange nothing: the layout several CPU processes run), and rank 0's merged results; ranks
// whose KV pools differ agreeing on each point. Runs dist/cli.js, which `npm test` builds first.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sweep } from '../../lib/api/bench.js';
import type { PointOutcome } from '../../lib/api/result.js';
import { freePort, torchrunEnv } from './launch-helpers.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStderr` sees its stderr as it comes (with the child, to signal it). */
function gpubench(args: string[], cwd: string, onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void, env?: NodeJS.ProcessEnv): Promise<Ran> {
  const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => {
    stderr += String(d);
    onStderr?.(stderr, (s) => child.kill(s));
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const tiny = ['--model', 'tiny-llama', '--device', 'cpu', '--threads', '1', '--input-len', '8'];

afterEach(() => vi.unstubAllEnvs());

describe('gpubench launch', () => {
  it('2 ranks of a DP-2 layout, a process each: rank 0 writes one merged line per point, each step the slowest rank’s', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-launch-'));
    const r = await gpubench(['launch', '--nproc-per-node', '2', '--', 'run', ...tiny, '--dp', '2', '--batch', '1,2', '--output-len', '4', '--save-jsonl', 'r.jsonl', '--profile', 'decode'], dir);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Decode Result (tp 1, ep 1, dp 2: 2 ranks; Batch Size is per DP rank, tok/s summed over the DP ranks)');
    expect(r.stdout.match(/^run tiny-llama/gm)).toHaveLength(1); // only rank 0 prints
    const lines = readFileSync(path.join(dir, 'r.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.batch_size)).toEqual([1, 2]); // rank 1 wrote nothing
    for (const l of lines) {
      expect(l).toMatchObject({ ok: true, tp: 1, ep: 1, dp: 2, world: 2, estimate: false, prov_launcher: 'torchrun', prov_processes: 2, prov_rank: 0 });
      expect(l.rank_prefill_ms).toHaveLength(2);
      expect(l.prefill_ms).toBe(Math.max(...l.rank_prefill_ms));
      // Each step is the maximum over the ranks, so the median step is at least every rank's median.
      expect(l.decode_median_ms).toBeGreaterThanOrEqual(Math.max(...l.rank_decode_median_ms));
      expect(l.median_decode_throughput).toBeCloseTo((2 * l.batch_size) / (l.decode_median_ms / 1000), 6);
      // Each process's engine ran one DP group: its tokens are counted once, then summed over the 2 ranks
      // (prompt tokens and the first token from the prefill, and one token per request per timed step).
      const tokens = 2 * l.batch_size * (8 + 1 + l.decode_steps);
      expect(l.overall_throughput).toBeCloseTo(tokens / (l.total_ms / 1000), 3);
      // Each process's engine ran its own rank of the dp 2 layout (native process mode), not a layout of one rank.
      const ranks = [0, 1].map((rank) => {
        const file = l.trace_files.find((f: string) => f.endsWith(`_rank${rank}_decode.trace.json`));
        return JSON.parse(readFileSync(path.join(dir, file), 'utf8')).metadata.parallel;
      });
      expect(ranks).toEqual(["tp 1 dp 2 ep 1 (rank 0's ops: one process per rank)", "tp 1 dp 2 ep 1 (rank 1's ops: one process per rank)"]);
    }
  });

  it('a layout that does not match the processes, or needs collectives between CPU processes: every rank says so in one line, the launch exits 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-launch-'));
    const r = await gpubench(['launch', '--nproc-per-node', '2', '--', 'run', ...tiny, '--dp', '3', '--batch', '1', '--output-len', '2'], dir);
    expect(r.code).toBe(2);
    const line = '--dp: tp × dp = 3 ranks, but torchrun started 2 processes (allowed: one process per rank: tp × dp = WORLD_SIZE 2 of torchrun)';
    expect(r.stderr).toContain(`gpubench: error: layout: ${line.slice('--dp: '.length)}`);
    expect(r.stderr).toContain('[rank 1] gpubench: error: layout:');
    // Collectives between CPU processes: the host communicator joins threads of one process only.
    const tp = await gpubench(['launch', '--nproc-per-node', '2', '--', 'run', ...tiny, '--tp', '2', '--batch', '1', '--output-len', '2'], dir);
    expect(tp.code).toBe(2);
    expect(tp.stderr).toContain('gpubench: error: layout: tp 2, ep 1, dp 1 of tiny-llama over 2 CPU processes needs collectives between the processes');
  });

  it('Ctrl-C reaches every rank once: they stop after the current step and the launch exits 130', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-launch-'));
    let sent = false;
    const r = await gpubench(
      ['launch', '--nproc-per-node', '2', '--', 'run', ...tiny, '--dp', '2', '--batch', '1', '--output-len', '2,4000', '--mode', 'decode'],
      dir,
      (text, kill) => {
        if (!sent && text.includes('[1/2]')) {
          sent = true;
          kill('SIGINT');
        }
      },
    );
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('interrupted');
  });

  it('refuses a command other than run, and a bad count, before starting anything', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-launch-'));
    const other = await gpubench(['launch', '--nproc-per-node', '2', '--', 'models'], dir);
    expect([other.code, other.stderr]).toEqual([2, "gpubench: error: launch: 'models' is not allowed (allowed: -- run …, the command every rank runs)\n"]);
    const bad = await gpubench(['launch', '--nproc-per-node', '0', '--', 'run'], dir);
    expect([bad.code, bad.stderr]).toEqual([2, "gpubench: error: --nproc-per-node: '0' is not allowed (allowed: an integer in 1..64)\n"]);
  });

  it('ranks whose KV pools differ: both refuse the point the smaller cannot hold with one line, the others run merged, and a point failed is exit 1', async () => {
    // Rank 0 is the CLI in a process of its own; rank 1 is this test's sweep with a smaller pool (as
    // on a GPU with less free memory, or as mpirun's MPMD form gives each rank its own flags).
    const dir = mkdtempSync(path.join(tmpdir(), 'gpubench-launch-'));
    const port = await freePort();
    const rank0 = gpubench(['run', ...tiny, '--dp', '2', '--batch', '1,4,2', '--output-len', '4', '--save-jsonl', 'r.jsonl'], dir, undefined, { ...process.env, ...torchrunEnv(0, 2, port) });
    for (const [k, v] of Object.entries(torchrunEnv(1, 2, port))) vi.stubEnv(k, v);
    const own: PointOutcome[] = [];
    // 32 tokens: two requests of 12 tokens (a block of 16 each), not four.
    await sweep({ model: 'tiny-llama', device: 'cpu', threads: 1, dp: 2, batchSizes: [1, 4, 2], inputLens: [8], outputLens: [4], kvPoolTokens: 32, onPoint: (p) => own.push(p) });
    const r = await rank0;
    expect(own.map((p) => p.ok)).toEqual([true, false, true]);
    const refused = own[1] as PointOutcome & { ok: false };
    expect(refused.error).toMatchObject({ code: 'ERR_DOES_NOT_FIT' });
    expect(refused.error.message).toMatch(/^batch does not fit the KV cache of rank 1 \(the smallest of the 2 ranks'\): needs 64 tokens \(4 x 12, \d+ bytes\), 32 tokens \(\d+ bytes\) available; what helps: `kvPoolTokens` of at least 64 /);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gpubench: 1 of 3 points failed (exit 1): bs=4 in=8 out=4 (ERR_DOES_NOT_FIT)');
    const lines = readFileSync(path.join(dir, 'r.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.batch_size, l.ok])).toEqual([[1, true], [4, false], [2, true]]);
    expect(lines[1].error_message).toBe(refused.error.message); // the same line on both ranks
    for (const l of [lines[0], lines[2]]) expect(l.rank_prefill_ms).toHaveLength(2);
  });
});
