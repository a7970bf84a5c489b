// Causal prefill attention on Hopper's warpgroup MMA (wgmma, sm_90a), head_dim 128: the tiling,
// masking and online softmax of attention_prefill.cu, with both products on wgmma. Reference:
// attention() in backend/cpu/attention.cc.
//
// Grid: (query head, sequence, 128-row query tile), two warpgroups of 64 rows. Q, and K and V
// tiles of 64 keys (two cp.async stages), sit in shared memory in the 128-byte swizzle, as panels
// of 64 dims. Per tile a warpgroup computes S = Q K^T (m64n64, both operands K-major), keeps the
// softmax in registers, and adds P V (m64n128) with P straight from those registers (its C
// fragments are wgmma's A fragments) and V read transposed (MN-major) from the same layout as K.
#include "backend/cuda/attention.cuh"
#include "backend/cuda/attention_fragments.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/wgmma.cuh"

namespace gpubench {

namespace {

constexpr int kD = 128;
constexpr int kBlockQ = 128, kBlockK = 64, kThreads = 256;
// A tile of R rows x 128 dims: two panels of R rows x 128 bytes (dims 0-63, then 64-127).
constexpr int kQBytes = kBlockQ * kD * 2, kKvBytes = kBlockK * kD * 2;
constexpr int kSmemBytes = kQBytes + 2 * 2 * kKvBytes + 1024;  // + room to align to 1024

#ifdef GPUBENCH_WGMMA
// V as wgmma's B operand, MN-major (dims contiguous): the leading byte offset steps between the
// 64-dim panels, the stride byte offset between 8-key groups (the other reading of the PTX ISA's
// table failed the attention tests on the H100).
__device__ __forceinline__ uint64_t v_desc(uint32_t addr) { return smem_desc(addr, kBlockK * 128, 1024); }
#endif

// Two CTAs per SM (at most 128 registers a thread, a few bytes of spill): with one, the two
// warpgroups' softmax left the tensor cores idle and the kernel was no faster than mma.sync's.
__global__ void __launch_bounds__(kThreads, 2) prefill_sm90_kernel(AttnArgs a) {
#ifdef GPUBENCH_WGMMA
  extern __shared__ uint8_t smem_raw[];
  const int h = blockIdx.x, seq = blockIdx.y;
  const int kvh = h / (a.num_heads / a.num_kv_heads);
  const int q0 = a.q_start[seq], q_len = a.q_start[seq + 1] - q0;
  // The last tiles of the causal triangle, which see the most keys, start first.
  const int row0 = (gridDim.z - 1 - blockIdx.z) * kBlockQ;
  if (row0 >= q_len) return;
  const int ctx = a.ctx_len[seq];
  const int prefix = ctx - q_len;
  const int kv_end = min(ctx, prefix + min(row0 + kBlockQ, q_len));
  const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
  const int fr = lane / 4;
  const int wrow = row0 + wg * 64;  // this warpgroup's first row, within the sequence
  const int wg_kv_end = wrow < q_len ? min(kv_end, prefix + min(wrow + 64, q_len)) : 0;
  const int32_t* seq_blocks = a.block_table + (int64_t)seq * a.max_blocks_per_seq;

  const uint32_t raw = (uint32_t)__cvta_generic_to_shared(smem_raw);
  const uint32_t q_base = (raw + 1023) & ~1023u;
  const uint32_t k_base = q_base + kQBytes, v_base = k_base + 2 * kKvBytes;
  // Byte offset of 16-byte chunk c (0..15) of row r in a tile of `rows` rows.
  auto offset = [](int rows, int r, int c) { return (c / 8) * rows * 128 + swizzle128(r, c % 8); };

  const bf16* q_head = a.q + (int64_t)q0 * a.q_stride + (int64_t)h * kD;
#pragma unroll
  for (int j = 0; j < kBlockQ * 16 / kThreads; ++j) {
    const int i = tid + j * kThreads, r = i / 16, c = i % 16;
    const bool valid = row0 + r < q_len;
    cp_async_16(q_base + offset(kBlockQ, r, c), q_head + (valid ? (int64_t)(row0 + r) * a.q_stride + c * 8 : 0), valid);
  }
  // Keys past kv_end are zero-filled, never garbage: a NaN there would survive p = 0.
  auto load_tile = [&](int stage, int k0) {
#pragma unroll
    for (int j = 0; j < kBlockK * 16 / kThreads; ++j) {
      const int i = tid + j * kThreads, r = i / 16, c = i % 16, key = k0 + r;
      const bool valid = key < kv_end;
      const int64_t off = valid ? kv_offset(a, seq_blocks, key, kvh) + c * 8 : 0;
      cp_async_16(k_base + stage * kKvBytes + offset(kBlockK, r, c), a.k_cache + off, valid);
      cp_async_16(v_base + stage * kKvBytes + offset(kBlockK, r, c), a.v_cache + off, valid);
    }
  };
  const int num_tiles = (kv_end + kBlockK - 1) / kBlockK;
  load_tile(0, 0);
  cp_async_commit();

  float o[16][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows fr and fr + 8 of this warp

  for (int t = 0; t < num_tiles; ++t) {
    if (t + 1 < num_tiles) {  // the other stage was freed by the barrier ending tile t - 1
      load_tile((t + 1) & 1, (t + 1) * kBlockK);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    fence_proxy_async();  // this thread's copies, visible to wgmma's async proxy
    __syncthreads();      // and everyone's

    const int k0 = t * kBlockK;
    if (k0 < wg_kv_end) {  // warpgroup-uniform: a tile past this warpgroup's rows adds nothing
      const uint32_t k_tile = k_base + (t & 1) * kKvBytes, v_tile = v_base + (t & 1) * kKvBytes;
      const uint32_t q_rows = q_base + wg * 64 * 128;
      float s[8][4];
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk)
        wgmma_m64n64k16(s, k_major_desc(q_rows + (kk / 4) * kBlockQ * 128 + (kk % 4) * 32),
                        k_major_desc(k_tile + (kk / 4) * kBlockK * 128 + (kk % 4) * 32), kk > 0);
      wgmma_commit();
      wgmma_wait<0>();

      // Mask (causal, and keys past kv_end) only where the tile crosses this warpgroup's
      // diagonal or the end of the keys.
      const bool masked = k0 + kBlockK - 1 > prefix + wrow || k0 + kBlockK > kv_end;
      online_softmax(s, o, m, l, a.scale_log2, masked, k0, prefix + wrow + warp * 16 + fr, kv_end);

      // O += P V, 16 keys per step: P's two 8-key C blocks are the step's A fragment.
      uint32_t pa[4][4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) p_fragment(pa[kk], s, kk);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        wgmma_m64n128k16_rs_tb(o, pa[kk], v_desc(v_tile + kk * 16 * 128));
      wgmma_commit();
      wgmma_wait<0>();
    }
    __syncthreads();  // every warpgroup is done with this stage before it is refilled
  }

  store_rows(a, o, l, q0, wrow + warp * 16, q_len, h);
#endif
}

}  // namespace

void attention_prefill_sm90(const AttnArgs& a, cudaStream_t stream) {
  const dim3 grid(a.num_heads, a.num_seqs, (a.max_q_len + kBlockQ - 1) / kBlockQ);
  CUDA_CHECK(cudaFuncSetAttribute(prefill_sm90_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  prefill_sm90_kernel<<<grid, kThreads, kSmemBytes, stream>>>(a);
  check_launch();
}

}  // namespace gpubench
