import { describe, expect, it } from 'vitest';
import { normalizeConfig } from '../../lib/model/model-spec.js';
import { toNative } from '../../lib/bridge/wire.js';
import { openEngine, point, runWithRequests } from './helpers.js';

describe('paged KV cache', () => {
  it('rounds the pool to whole blocks and reports its size', async () => {
    const e = await openEngine({ kvPoolTokens: 100, blockSize: 16 });
    const info = e.info();
    expect(info.kvPoolTokens).toBe(96);
    expect(info.blockSize).toBe(16);
    // 2 layers x (K + V) x 2 kv heads x 16 dims x 4 bytes (fp32 on the CPU)
    expect(info.kvBytesPerToken).toBe(2 * 2 * 2 * 16 * 4);
    await e.close();
  });

  it('refuses a batch that does not fit up front, naming tokens and bytes', async () => {
    const e = await openEngine({ kvPoolTokens: 64, blockSize: 16 });
    const done = e.runPoint(point({ batchSize: 2, inputLen: 30, outputLen: 4 }), () => {});
    await expect(done).rejects.toMatchObject({
      code: 'ERR_DOES_NOT_FIT',
      message: expect.stringMatching(/needs 96 tokens \(2 x 34, 49152 bytes\), 64 tokens \(32768 bytes\) available/),
    });
    await e.close();
  });

  it('releases every block when a point completes, so the pool is reused', async () => {
    // The pool holds exactly one such batch: running it three times proves the blocks came back.
    const e = await openEngine({ kvPoolTokens: 2 * 32, blockSize: 16 });
    for (let i = 0; i < 3; i++) {
      const r = await runWithRequests(e, point({ batchSize: 2, inputLen: 20, outputLen: 12 }));
      expect(r.decodeStepMs).toHaveLength(11);
    }
    await e.close();
  });

  it('releases blocks when a point is aborted mid-run', async () => {
    // Cancelled as soon as the batch holds its blocks; a model heavy enough (~50M parameters) that
    // the point's ~25 forwards outlast the progress event's trip to JS and back, which on a busy
    // 2-core machine took longer than a whole point of the tiny model.
    const spec = toNative(normalizeConfig({
      model_type: 'llama', vocab_size: 8192, hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 8,
      num_attention_heads: 8, num_key_value_heads: 2, max_position_embeddings: 512, rms_norm_eps: 1e-6,
    }));
    const e = await openEngine({ spec, kvPoolTokens: 2 * 32, blockSize: 16 });
    let cancelled = false;
    const aborted = runWithRequests(e, point({ batchSize: 2, inputLen: 20, outputLen: 12 }), (p) => {
      if (p.phase === 'admitted' && !cancelled) { cancelled = true; e.cancel(); }
    });
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const r = await runWithRequests(e, point({ batchSize: 2, inputLen: 20, outputLen: 12 }));
    expect(r.decodeStepMs).toHaveLength(11);
    await e.close();
  });
});
