// NCCL as the addon sees it (native/core/nccl_communicator.h), on this machine: where libnccl.so.2
// loads, its version and unique ids; where it does not (CI), one typed line that says what to
// install. The collectives themselves run in the CUDA op tests on the GPU machine.
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../lib/bridge/native.js';

const addon = loadAddon();
const status = addon.buildInfo().nccl;
const loads = /^NCCL \d+\.\d+\.\d+$/.test(status);

describe('NCCL through the addon', () => {
  it('buildInfo names its version or why it does not load', () => {
    expect(status).toMatch(/^(NCCL \d+\.\d+\.\d+|libnccl\.so\.2 not found|libnccl\.so\.2 lacks an NCCL function this needs|NCCL \d+ is older than 2\.10)$/);
  });

  it.runIf(loads)('ncclUniqueIds(n): n distinct 128-byte ids', () => {
    const ids = addon.ncclUniqueIds(2);
    expect(ids.length).toBe(256);
    expect(ids.subarray(0, 128).equals(ids.subarray(128))).toBe(false);
  });

  it.runIf(!loads)('ncclUniqueIds without NCCL is one ERR_DEVICE line naming the library and what to install', () => {
    expect(() => addon.ncclUniqueIds(1)).toThrow(expect.objectContaining({
      code: 'ERR_DEVICE', message: expect.stringMatching(/^tp \* dp > 1 on CUDA needs NCCL: .*libnccl\.so\.2.*install NCCL[^\n]*$/),
    }));
  });

  it('ncclUniqueIds(0) is refused', () => {
    expect(() => addon.ncclUniqueIds(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
