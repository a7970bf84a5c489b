import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeEngine } from '../../lib/bridge/native.js';
import { ids, openEngine, point } from './helpers.js';

describe('batch scheduler', () => {
  let e: NativeEngine;
  beforeAll(async () => { e = await openEngine(); });
  afterAll(async () => { await e.close(); });

  it('waits for the full batch, then admits it, reporting the wait', async () => {
    const phases: string[] = [];
    const done = e.runPoint(point({ batchSize: 3 }), (p) => phases.push(p.phase));
    e.submit({ id: 0, inputIds: ids(16, 0) });
    await new Promise((r) => setTimeout(r, 150));
    expect(phases).not.toContain('admitted');
    e.submit({ id: 1, inputIds: ids(16, 1) });
    await new Promise((r) => setTimeout(r, 150));
    expect(phases).not.toContain('admitted');
    e.submit({ id: 2, inputIds: ids(16, 2) });
    const r = await done;
    expect(phases).toContain('admitted');
    expect(r.waitingMs).toBeGreaterThanOrEqual(290);
    expect(r.waitingMs).toBeLessThan(5000);
  });

  it('accepts concurrent submissions from many async tasks', async () => {
    const done = e.runPoint(point({ batchSize: 8, outputLen: 2 }), () => {});
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, Math.random() * 20));
      e.submit({ id: i, inputIds: ids(16, i) });
    }));
    const r = await done;
    expect(r.decodeStepMs).toHaveLength(1);
  });

  it('fails with ERR_TIMEOUT when the batch does not fill', async () => {
    const done = e.runPoint(point({ batchSize: 4, batchTimeoutMs: 200 }), () => {});
    e.submit({ id: 0, inputIds: ids(16) });
    await expect(done).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringMatching(/1 of 4 requests/) });
  });

  it('is cancelled while waiting', async () => {
    const done = e.runPoint(point({ batchSize: 4 }), () => {});
    setTimeout(() => e.cancel(), 50);
    await expect(done).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('does not leak requests of a failed point into the next one', async () => {
    const failed = e.runPoint(point({ batchSize: 4, batchTimeoutMs: 100 }), () => {});
    e.submit({ id: 0, inputIds: ids(16) });
    e.submit({ id: 1, inputIds: ids(16) });
    await expect(failed).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const done = e.runPoint(point({ batchSize: 2, batchTimeoutMs: 300 }), () => {});
    e.submit({ id: 2, inputIds: ids(16) });
    await expect(done).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('rejects token ids outside the vocabulary at submission', () => {
    expect(() => e.submit({ id: 0, inputIds: Int32Array.from([1, 512]) })).toThrow(/outside the vocabulary/);
  });
});
