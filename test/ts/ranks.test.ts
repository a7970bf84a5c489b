// Ranks from the launchers' environments (lib/api/ranks.ts): torchrun, Open MPI's mpirun, Slurm's
// srun, none; inconsistent variables are one line naming the variable.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MASTER_PORT, SINGLE_PROCESS, firstSlurmHost, ranksFromEnv } from '../../lib/api/ranks.js';
import { InvalidArgumentError } from '../../lib/base/errors.js';

function refused(env: Record<string, string>): InvalidArgumentError {
  try {
    ranksFromEnv(env);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('not refused');
}

describe('ranks from the environment', () => {
  it('none: a single process', () => {
    expect(ranksFromEnv({})).toEqual(SINGLE_PROCESS);
    expect(ranksFromEnv({ MASTER_ADDR: 'h', LOCAL_RANK: '0' })).toEqual(SINGLE_PROCESS);
  });

  it('torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT', () => {
    const env = { RANK: '5', WORLD_SIZE: '8', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '29555' };
    expect(ranksFromEnv(env)).toEqual({ launcher: 'torchrun', rank: 5, world: 8, localRank: 1, addr: 'node0', port: 29555 });
    expect(ranksFromEnv({ RANK: '0', WORLD_SIZE: '1' })).toEqual({ ...SINGLE_PROCESS, launcher: 'torchrun' });
  });

  it('torchrun: a rank outside the world, a missing port or address, a bad number: one line naming the variable', () => {
    const base = { RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', MASTER_ADDR: 'h', MASTER_PORT: '29500' };
    expect(refused({ ...base, RANK: '2' }).message).toBe("RANK: '2' is not allowed (allowed: 0 to WORLD_SIZE - 1 = 1, as torchrun sets it)");
    const { MASTER_PORT: _p, ...noPort } = base;
    expect(refused(noPort).message).toBe('MASTER_PORT: is missing (allowed: a TCP port in 1..65535 where rank 0 listens)');
    const { MASTER_ADDR: _a, ...noAddr } = base;
    expect(refused(noAddr).field).toBe('MASTER_ADDR');
    expect(refused({ ...base, WORLD_SIZE: 'two' }).message).toBe("WORLD_SIZE: 'two' is not allowed (allowed: an integer >= 1, as torchrun sets it)");
    expect(refused({ ...base, MASTER_PORT: '70000' }).field).toBe('MASTER_PORT');
    for (const e of [refused({ ...base, RANK: '2' }), refused(noPort)]) expect(e.message).not.toContain('\n');
  });

  it("Open MPI: OMPI_COMM_WORLD_*; one node defaults to this host and torchrun's port", () => {
    const env = { OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '3', OMPI_COMM_WORLD_LOCAL_SIZE: '4' };
    expect(ranksFromEnv(env)).toEqual({ launcher: 'mpirun', rank: 3, world: 4, localRank: 3, addr: '127.0.0.1', port: DEFAULT_MASTER_PORT });
    expect(ranksFromEnv({ ...env, MASTER_ADDR: 'n0', MASTER_PORT: '1234' })).toMatchObject({ addr: 'n0', port: 1234 });
    // Several nodes: rank 0's host must be given.
    expect(refused({ ...env, OMPI_COMM_WORLD_LOCAL_SIZE: '2' }).message).toContain('MASTER_ADDR: is missing');
    expect(refused({ ...env, OMPI_COMM_WORLD_RANK: '4' }).field).toBe('OMPI_COMM_WORLD_RANK');
  });

  it('Slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; rank 0 on the first host of a simple node list', () => {
    const env = { SLURM_PROCID: '9', SLURM_NTASKS: '16', SLURM_LOCALID: '1', SLURM_JOB_NODELIST: 'gpu[03-04]' };
    expect(ranksFromEnv(env)).toEqual({ launcher: 'srun', rank: 9, world: 16, localRank: 1, addr: 'gpu03', port: DEFAULT_MASTER_PORT });
    expect(ranksFromEnv({ ...env, MASTER_ADDR: 'head' })).toMatchObject({ addr: 'head' });
    expect(refused({ ...env, SLURM_JOB_NODELIST: 'rack[1-2]-gpu[1-4]' }).message).toContain("the Slurm node list 'rack[1-2]-gpu[1-4]' is not a simple one");
    expect(refused({ ...env, SLURM_PROCID: '16' }).field).toBe('SLURM_PROCID');
  });

  it('torchrun first, then mpirun, then srun (a torchrun job inside a Slurm allocation is torchrun’s)', () => {
    const env = { SLURM_PROCID: '0', SLURM_NTASKS: '2', RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', MASTER_ADDR: 'a', MASTER_PORT: '1' };
    expect(ranksFromEnv(env).launcher).toBe('torchrun');
  });

  it('the first host of a Slurm node list', () => {
    expect(firstSlurmHost('node7')).toBe('node7');
    expect(firstSlurmHost('a1,b2')).toBe('a1');
    expect(firstSlurmHost('gpu[01-04,07],cpu1')).toBe('gpu01');
    expect(firstSlurmHost('gpu[7,9]')).toBe('gpu7');
    expect(firstSlurmHost('rack[1-2]-gpu[1-4]')).toBeUndefined();
  });
});
