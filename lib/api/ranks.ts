// Which process of a launch this is, read from the environment the field's launchers set: torchrun
// (and `gpubench launch`, which sets the same), Open MPI's mpirun, Slurm's srun. No launcher (or a
// world of one) is a single process. Rank 0's address is where the others meet it (rendezvous.ts).
import { InvalidArgumentError } from '../base/errors.js';
import type { NativeAddon } from '../bridge/native.js';
import { backends, listDevices, resolveDevice } from '../bridge/device.js';

export type Launcher = 'torchrun' | 'mpirun' | 'srun' | 'none';

export interface LaunchRanks {
  launcher: Launcher;
  rank: number;
  /** Processes in the launch. */
  world: number;
  /** This process's index on its node: the GPU it drives. */
  localRank: number;
  /** Where rank 0 listens (MASTER_ADDR, MASTER_PORT); absent for a single process. */
  addr?: string;
  port?: number;
}

/** torchrun's default MASTER_PORT, taken where mpirun and srun give none. */
export const DEFAULT_MASTER_PORT = 29500;

export const SINGLE_PROCESS: LaunchRanks = { launcher: 'none', rank: 0, world: 1, localRank: 0 };

type Env = Record<string, string | undefined>;

function bad(variable: string, value: string | undefined, allowed: string): never {
  const what = value === undefined ? 'is missing' : `'${value}' is not allowed`;
  throw new InvalidArgumentError(`${variable}: ${what} (allowed: ${allowed})`, { field: variable, allowed });
}

function integerVar(env: Env, name: string, min: number, launcher: string): number {
  const text = env[name];
  const v = text !== undefined && /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < min) bad(name, text, `an integer >= ${min}, as ${launcher} sets it`);
  return v;
}

/** The first host of a Slurm node list when it is simple ('gpu[01-04,07],cpu1' → 'gpu01'); else undefined. */
export function firstSlurmHost(list: string): string | undefined {
  const m = /^([A-Za-z0-9._-]+)(?:\[([0-9]+)(?:-[0-9]+)?(?:,[0-9-]+)*\])?(?:,|$)/.exec(list.trim());
  if (!m) return undefined;
  return `${m[1]}${m[2] ?? ''}`;
}

/** The layout of the launcher's variables: rank, world and local rank names. */
const LAUNCHERS: readonly { launcher: Exclude<Launcher, 'none'>; rank: string; world: string; local: string }[] = [
  { launcher: 'torchrun', rank: 'RANK', world: 'WORLD_SIZE', local: 'LOCAL_RANK' },
  { launcher: 'mpirun', rank: 'OMPI_COMM_WORLD_RANK', world: 'OMPI_COMM_WORLD_SIZE', local: 'OMPI_COMM_WORLD_LOCAL_RANK' },
  { launcher: 'srun', rank: 'SLURM_PROCID', world: 'SLURM_NTASKS', local: 'SLURM_LOCALID' },
];

/** Rank 0's address: MASTER_ADDR, else what the launcher tells of the hosts. */
function masterAddr(env: Env, launcher: Exclude<Launcher, 'none'>): string {
  const given = env.MASTER_ADDR?.trim();
  if (given) return given;
  if (launcher === 'mpirun') {
    // All ranks on one node: rank 0 is on this host.
    if (env.OMPI_COMM_WORLD_LOCAL_SIZE !== undefined && env.OMPI_COMM_WORLD_LOCAL_SIZE === env.OMPI_COMM_WORLD_SIZE) return '127.0.0.1';
    bad('MASTER_ADDR', undefined, "rank 0's host name or address (mpirun over several nodes sets none: pass -x MASTER_ADDR=<host>)");
  }
  if (launcher === 'srun') {
    const list = env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
    const first = list === undefined ? undefined : firstSlurmHost(list);
    if (first !== undefined) return first;
    bad('MASTER_ADDR', undefined, `rank 0's host name or address (the Slurm node list ${list === undefined ? 'is not set' : `'${list}' is not a simple one`})`);
  }
  return bad('MASTER_ADDR', undefined, "rank 0's host name or address, as torchrun sets it");
}

function masterPort(env: Env, launcher: Exclude<Launcher, 'none'>): number {
  const text = env.MASTER_PORT;
  if (text === undefined && launcher !== 'torchrun') return DEFAULT_MASTER_PORT;
  const v = text !== undefined && /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(v) || v < 1 || v > 65535) bad('MASTER_PORT', text, 'a TCP port in 1..65535 where rank 0 listens');
  return v;
}

/**
 * The ranks of this process: the first launcher whose rank and world variables are set (torchrun,
 * then mpirun, then srun), or a single process. A world of one is a single process whatever set it.
 */
export function ranksFromEnv(env: Env = process.env): LaunchRanks {
  const l = LAUNCHERS.find((x) => env[x.rank] !== undefined && env[x.world] !== undefined);
  if (!l) return SINGLE_PROCESS;
  const world = integerVar(env, l.world, 1, l.launcher);
  const rank = integerVar(env, l.rank, 0, l.launcher);
  if (rank >= world) bad(l.rank, env[l.rank], `0 to ${l.world} - 1 = ${world - 1}, as ${l.launcher} sets it`);
  const localRank = env[l.local] === undefined ? rank : integerVar(env, l.local, 0, l.launcher);
  if (world === 1) return { ...SINGLE_PROCESS, launcher: l.launcher };
  return { launcher: l.launcher, rank, world, localRank, addr: masterAddr(env, l.launcher), port: masterPort(env, l.launcher) };
}

/** CUDA devices the addon sees (0 on a CPU-only build). */
export function cudaDeviceCount(addon: NativeAddon): number {
  return backends(addon).includes('cuda') ? listDevices(addon).filter((d) => d.device.startsWith('cuda')).length : 0;
}

/**
 * The device string of this process: in a launch of several processes 'auto' and 'cuda' mean the
 * GPU of the local rank (cuda:LOCAL_RANK), as torchrun jobs pick theirs; else resolveDevice's.
 */
export function deviceOfRank(addon: NativeAddon, requested: string, launch: LaunchRanks): string {
  const local = launch.world > 1 && (requested === 'auto' || requested === 'cuda') && cudaDeviceCount(addon) > 0;
  return resolveDevice(addon, local ? `cuda:${launch.localRank}` : requested);
}
