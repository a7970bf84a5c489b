// `gpubench launch --nproc-per-node N [--master-port P] -- run …`: starts N ranks of this CLI on this
// host with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT), so a run of several processes needs no external launcher (README, Several GPUs and
// nodes). Rank 0's output passes through; the others' is prefixed with their rank. Ctrl-C and
// SIGTERM are passed on to every rank; when one fails the others are stopped, as torchrun does, after
// a grace in which they may end by themselves (a failure before the engines open is every rank's,
// and each says so); the exit code is the first failure's (0 when every rank ends well; 130 after
// Ctrl-C).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { UsageError } from './usage-error.js';

interface LaunchFlags {
  nprocPerNode: string;
  masterPort?: string;
}

/** The most local ranks one launch starts (a typo such as 80 for 8 is an error, not 80 engines). */
const MAX_NPROC = 64;

/** How long the other ranks have to end by themselves after one failed, before they are stopped. */
const STOP_GRACE_MS = 2000;

function integerFlag(flag: string, text: string, min: number, max: number): number {
  const v = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`${flag}: '${text}' is not allowed (allowed: an integer in ${min}..${max})`);
  return v;
}

/** A port nothing listens on now, for rank 0 (torchrun's standalone mode picks one the same way). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Writes a rank's output line by line, each line prefixed with its rank. */
function prefixed(stream: NodeJS.ReadableStream, rank: number): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) process.stderr.write(`[rank ${rank}] ${line}\n`);
  });
  stream.on('end', () => {
    if (pending !== '') process.stderr.write(`[rank ${rank}] ${pending}\n`);
  });
}

/** The exit code a child's end stands for: its code, or 128 + the signal's number. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export async function launch(command: string[], flags: LaunchFlags): Promise<number> {
  const nproc = integerFlag('--nproc-per-node', flags.nprocPerNode, 1, MAX_NPROC);
  const port = flags.masterPort === undefined ? await freePort() : integerFlag('--master-port', flags.masterPort, 1, 65535);
  if (command[0] !== 'run') {
    throw new UsageError(`launch: '${command.join(' ')}' is not allowed (allowed: -- run …, the command every rank runs)`);
  }
  // This CLI's own entry (dist/cli.js, or the bin link to it), run again with the same Node options.
  const entry = process.argv[1];
  if (entry === undefined) throw new UsageError('launch: the gpubench executable cannot be found (allowed: gpubench launch run from its executable)');

  const children: ChildProcess[] = [];
  let firstFailure: number | undefined;
  let interrupted = false;
  const stopOthers = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  let graceTimer: NodeJS.Timeout | undefined;
  const stopOthersAfterGrace = () => (graceTimer ??= setTimeout(() => stopOthers('SIGTERM'), STOP_GRACE_MS));
  const ended = Array.from({ length: nproc }, (_, rank) => {
    const child = spawn(process.execPath, [...process.execArgv, entry, ...command], {
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(nproc),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(nproc),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
      },
      // Each rank in its own process group: a terminal's Ctrl-C reaches the ranks once, through here.
      detached: true,
      stdio: rank === 0 ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    if (rank > 0) {
      prefixed(child.stdout!, rank);
      prefixed(child.stderr!, rank);
    }
    children.push(child);
    return new Promise<void>((resolve) => {
      child.on('error', (e) => {
        process.stderr.write(`gpubench: launch: rank ${rank} did not start (${e.message})\n`);
        firstFailure ??= 1;
        stopOthersAfterGrace();
        resolve();
      });
      child.on('exit', (code, signal) => {
        const exit = exitCodeOf(code, signal);
        if (exit !== 0 && firstFailure === undefined) {
          firstFailure = exit;
          if (!interrupted) process.stderr.write(`gpubench: launch: rank ${rank} exited with ${exit}; stopping the other ranks\n`);
          stopOthersAfterGrace();
        }
        resolve();
      });
    });
  });
  const onSigint = () => {
    interrupted = true;
    stopOthers('SIGINT');
  };
  const onSigterm = () => stopOthers('SIGTERM');
  // A launch that is itself ended leaves no rank behind.
  const onExit = () => stopOthers('SIGKILL');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('exit', onExit);
  try {
    await Promise.all(ended);
  } finally {
    clearTimeout(graceTimer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('exit', onExit);
  }
  if (interrupted) return 130;
  return firstFailure ?? 0;
}

export function addLaunchCommand(cmd: Command, setCode: (code: number) => void): void {
  cmd
    .command('launch')
    .description("start N ranks of a gpubench command on this host with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)")
    .usage('--nproc-per-node <n> [--master-port <port>] -- run [run flags]')
    .requiredOption('--nproc-per-node <n>', `processes (ranks) to start, 1..${MAX_NPROC}: one per GPU, or per DP replica on the CPU`)
    .option('--master-port <port>', "rank 0's TCP port for the rendezvous (default: a free one)")
    .argument('<command...>', 'after --, the command every rank runs: run and its flags')
    .action(async (command: string[], flags: LaunchFlags) => setCode(await launch(command, flags)));
}
