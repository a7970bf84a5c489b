// Causal prefill attention on Hopper's warpgroup MMA (wgmma, sm_90a): the tiling, masking and
// online softmax of attention_prefill.cu, with both products on wgmma; v head dim 128 and qk head
// dim 128 (the paged cache, attention) or 192 (the step's own rows, attention_dense: DeepSeek's
// decompressed MLA). Reference: attention() in backend/cpu/attention.cc, attention_dense() in
// backend/cpu/attention_dense.cc.
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

constexpr int kDV = 128;
constexpr int kBlockQ = 128, kBlockK = 64, kThreads = 256;
// A tile of R rows x D dims: D / 64 panels of R rows x 128 bytes (dims 0-63, then 64-127, ...).
template <int DK>
struct Layout {
  static constexpr int q_bytes = kBlockQ * DK * 2, k_bytes = kBlockK * DK * 2, v_bytes = kBlockK * kDV * 2;
  static constexpr int smem_bytes = q_bytes + 2 * (k_bytes + v_bytes) + 1024;  // + room to align to 1024
  // CTAs an SM holds (Hopper: 227 KiB of shared memory for its blocks).
  static constexpr int ctas_per_sm = 2 * smem_bytes <= 227 * 1024 ? 2 : 1;
};

#ifdef GPUBENCH_WGMMA
// V as wgmma's B operand, MN-major (dims contiguous): the leading byte offset steps between the
// 64-dim panels, the stride byte offset between 8-key groups (the other reading of the PTX ISA's
// table failed the attention tests on the H100).
__device__ __forceinline__ uint64_t v_desc(uint32_t addr) { return smem_desc(addr, kBlockK * 128, 1024); }
#endif

// Two CTAs per SM (at most 128 registers a thread, a few bytes of spill): with one, the two
// warpgroups' softmax left the tensor cores idle and the kernel was no faster than mma.sync's.
// At DK 192 the shared memory (129 KiB) leaves room for one, which may then use more registers.
template <int DK, class Kv>
__global__ void __launch_bounds__(kThreads, Layout<DK>::ctas_per_sm) prefill_sm90_kernel(AttnArgs a, Kv kv) {
#ifdef GPUBENCH_WGMMA
  using Lay = Layout<DK>;
  extern __shared__ uint8_t smem_raw[];
  const int h = blockIdx.x, seq = blockIdx.y;
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
  const typename Kv::Cursor keys = kv.at(a, seq, h, q0);

  const uint32_t raw = (uint32_t)__cvta_generic_to_shared(smem_raw);
  const uint32_t q_base = (raw + 1023) & ~1023u;
  const uint32_t k_base = q_base + Lay::q_bytes, v_base = k_base + 2 * Lay::k_bytes;
  // Byte offset of 16-byte chunk c (0..D/8) of row r in a tile of `rows` rows.
  auto offset = [](int rows, int r, int c) { return (c / 8) * rows * 128 + swizzle128(r, c % 8); };

  constexpr int kq = DK / 8;  // 16-byte chunks of a q or K row
  const bf16* q_head = a.q + (int64_t)q0 * a.q_stride + (int64_t)h * DK;
#pragma unroll
  for (int j = 0; j < kBlockQ * kq / kThreads; ++j) {
    const int i = tid + j * kThreads, r = i / kq, c = i % kq;
    const bool valid = row0 + r < q_len;
    cp_async_16(q_base + offset(kBlockQ, r, c), q_head + (valid ? (int64_t)(row0 + r) * a.q_stride + c * 8 : 0), valid);
  }
  // Keys past kv_end are zero-filled, never garbage: a NaN there would survive p = 0. (Their
  // copies read nothing; a.q stands in as the address.) With one head dim for K and V, one row
  // lookup serves both.
  auto load_tile = [&](int stage, int k0) {
    const uint32_t k_tile = k_base + stage * Lay::k_bytes, v_tile = v_base + stage * Lay::v_bytes;
    if constexpr (DK == kDV) {
#pragma unroll
      for (int j = 0; j < kBlockK * kq / kThreads; ++j) {
        const int i = tid + j * kThreads, r = i / kq, c = i % kq, key = k0 + r;
        const bool valid = key < kv_end;
        const int64_t row = valid ? keys.row(key) : 0;
        cp_async_16(k_tile + offset(kBlockK, r, c), valid ? keys.key(row, c * 8) : a.q, valid);
        cp_async_16(v_tile + offset(kBlockK, r, c), valid ? keys.value(row, c * 8) : a.q, valid);
      }
    } else {
#pragma unroll
      for (int j = 0; j < kBlockK * kq / kThreads; ++j) {
        const int i = tid + j * kThreads, r = i / kq, c = i % kq, key = k0 + r;
        const bool valid = key < kv_end;
        cp_async_16(k_tile + offset(kBlockK, r, c), valid ? keys.key(keys.row(key), c * 8) : a.q, valid);
      }
#pragma unroll
      for (int j = 0; j < kBlockK * (kDV / 8) / kThreads; ++j) {
        const int i = tid + j * kThreads, r = i / (kDV / 8), c = i % (kDV / 8), key = k0 + r;
        const bool valid = key < kv_end;
        cp_async_16(v_tile + offset(kBlockK, r, c), valid ? keys.value(keys.row(key), c * 8) : a.q, valid);
      }
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
      const uint32_t k_tile = k_base + (t & 1) * Lay::k_bytes, v_tile = v_base + (t & 1) * Lay::v_bytes;
      const uint32_t q_rows = q_base + wg * 64 * 128;
      float s[8][4];
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < DK / 16; ++kk)
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

template <int DK, class Kv>
void launch(const AttnArgs& a, const Kv& kv, cudaStream_t stream) {
  const dim3 grid(a.num_heads, a.num_seqs, (a.max_q_len + kBlockQ - 1) / kBlockQ);
  constexpr int smem = Layout<DK>::smem_bytes;
  CUDA_CHECK(cudaFuncSetAttribute(prefill_sm90_kernel<DK, Kv>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  prefill_sm90_kernel<DK, Kv><<<grid, kThreads, smem, stream>>>(a, kv);
  check_launch();
}

}  // namespace

void attention_prefill_sm90(const AttnArgs& a, cudaStream_t stream) { launch<128>(a, PagedKv{}, stream); }

bool attention_prefill_sm90_dense_takes(int qk_dim, int v_dim) { return qk_dim == 192 && v_dim == kDV; }

void attention_prefill_sm90_dense(const AttnArgs& a, const StepKv& kv, cudaStream_t stream) {
  launch<192>(a, kv, stream);
}

}  // namespace gpubench
