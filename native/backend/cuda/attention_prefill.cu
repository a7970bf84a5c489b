// Causal prefill attention, flash-attention-2 style, on the tensor cores (mma.sync m16n8k16, bf16
// in, fp32 accumulate), over the paged KV cache (attention) or over the step's own rows
// (attention_dense: MLA's decompressed form, qk head dim 192 and v head dim 128). Reference:
// attention() in backend/cpu/attention.cc, attention_dense() in backend/cpu/attention_dense.cc.
//
// Grid: (query head, sequence, 128-row query tile); 4 warps, 32 query rows each. K and V tiles of
// 64 keys are copied into shared memory with cp.async, two stages deep, so the next tile's loads
// overlap this tile's math. Each warp computes S = Q K^T for its rows (K fragments through
// ldmatrix), masks only the tiles that cross its causal diagonal, keeps the online softmax in
// registers, and adds P V into its fp32 output fragments (V fragments through ldmatrix.trans).
// Query row i of a sequence sits at position ctx_len - q_len + i, so a cached prefix
// (ctx_len > q_len) is attended like any other key. The qk head dim DK and the v head dim DV are
// template parameters, and so is where the keys come from (attention.cuh: PagedKv, StepKv).
//
// On Hopper, head_dim 128 (and the dense 192/128) runs attention_prefill_sm90.cu's wgmma kernel
// instead. Room left for speed: sharing one KV tile among the query heads of a GQA group (today
// their re-reads hit L2); at DK 192 the shared memory (134 KiB) leaves one CTA per SM.
#include "backend/cuda/attention.cuh"
#include "backend/cuda/attention_fragments.cuh"
#include "backend/cuda/check.h"

namespace gpubench {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
// Query rows per warp: two mma M tiles, so every K or V fragment read from shared memory feeds
// two MMAs (with one, ldmatrix traffic matched the tensor cores' and capped the kernel).
constexpr int kMTiles = 2;
constexpr int kWarpRows = 16 * kMTiles;
constexpr int kBlockQ = kWarpRows * kWarps;  // query rows per CTA
constexpr int kBlockK = 64;                  // keys per tile
// Shared rows padded by 16 bytes so the 8 row addresses of each ldmatrix phase fall in 8
// different 16-byte bank groups.
constexpr int kPad = 8;

// One pipeline stage: a tile of K and of V, both [key][dim] as in the cache.
template <int DK, int DV>
struct KvTile {
  bf16 k[kBlockK][DK + kPad];
  bf16 v[kBlockK][DV + kPad];
};

// The CTA's shared memory: its query rows (A fragments are read from here for every tile, as
// registers cannot hold them beside two M tiles of output) and two K/V stages.
template <int DK, int DV>
struct PrefillSmem {
  bf16 q[kBlockQ][DK + kPad];
  KvTile<DK, DV> kv[2];
};

// Fragment layouts of mma.m16n8k16 (PTX ISA), with fr = lane / 4 and fc = 2 * (lane % 4):
//   A (16x16, row-major) a[i]: row fr + 8 * (i & 1), columns fc + 8 * (i >> 1) and +1
//   B (16x8, "col")      b0: rows (k) fc, fc + 1 of column (n) fr; b1: rows fc + 8, fc + 9
//   C (16x8)             c[i]: row fr + 8 * (i >> 1), column fc + (i & 1)
// Two adjacent 8-key C tiles of S are exactly the A fragment of P for one 16-key step of P V.
// For S = Q K^T, B[k][n] = K[key n][dim k]: rows of the K tile, read by ldmatrix as stored.
// For O = P V, B[k][n] = V[key k][dim n]: columns of the V tile, read by ldmatrix.trans.
template <int DK, int DV, class Kv>
__global__ void __launch_bounds__(kThreads, 2) prefill_kernel(AttnArgs a, Kv kv) {
  extern __shared__ uint4 smem_raw[];
  PrefillSmem<DK, DV>& sm = *reinterpret_cast<PrefillSmem<DK, DV>*>(smem_raw);

  const int h = blockIdx.x, seq = blockIdx.y;
  const int q0 = a.q_start[seq], q_len = a.q_start[seq + 1] - q0;
  // The tile index is the slowest grid dimension, reversed: the last tiles of the causal
  // triangle, which see the most keys, start first and the short ones fill in the tail.
  const int row0 = (gridDim.z - 1 - blockIdx.z) * kBlockQ;
  if (row0 >= q_len) return;  // the grid covers max_q_len; this sequence has fewer rows
  const int ctx = a.ctx_len[seq];
  const int prefix = ctx - q_len;
  // Keys up to the tile's last row: every key any row of the tile sees.
  const int kv_end = min(ctx, prefix + min(row0 + kBlockQ, q_len));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int fr = lane / 4;
  const int wrow = row0 + warp * kWarpRows;  // this warp's first row, within the sequence
  // Keys this warp's rows can see: up to its last valid row's position.
  const int warp_kv_end = wrow < q_len ? min(kv_end, prefix + min(wrow + kWarpRows, q_len)) : 0;
  const typename Kv::Cursor keys = kv.at(a, seq, h, q0);

  // Keys past kv_end are zero-filled, never garbage: a NaN there would survive p = 0 in the mma.
  // (Their copies read nothing; a.q stands in as the address.) With one head dim for K and V, one
  // row lookup serves both.
  auto load_tile = [&](KvTile<DK, DV>& t, int k0) {
    if constexpr (DK == DV) {
      for (int i = threadIdx.x; i < kBlockK * (DK / 8); i += kThreads) {
        const int key = i / (DK / 8), c = (i % (DK / 8)) * 8, j = k0 + key;
        const bool valid = j < kv_end;
        const int64_t r = valid ? keys.row(j) : 0;
        cp_async_16(&t.k[key][c], valid ? keys.key(r, c) : a.q, valid);
        cp_async_16(&t.v[key][c], valid ? keys.value(r, c) : a.q, valid);
      }
    } else {
      for (int i = threadIdx.x; i < kBlockK * (DK / 8); i += kThreads) {
        const int key = i / (DK / 8), c = (i % (DK / 8)) * 8, j = k0 + key;
        const bool valid = j < kv_end;
        cp_async_16(&t.k[key][c], valid ? keys.key(keys.row(j), c) : a.q, valid);
      }
      for (int i = threadIdx.x; i < kBlockK * (DV / 8); i += kThreads) {
        const int key = i / (DV / 8), c = (i % (DV / 8)) * 8, j = k0 + key;
        const bool valid = j < kv_end;
        cp_async_16(&t.v[key][c], valid ? keys.value(keys.row(j), c) : a.q, valid);
      }
    }
  };

  // The query rows (zeros past q_len) travel with the first K/V tile.
  const bf16* q_head = a.q + (int64_t)q0 * a.q_stride + (int64_t)h * DK;
  for (int i = threadIdx.x; i < kBlockQ * (DK / 8); i += kThreads) {
    const int r = i / (DK / 8), c = (i % (DK / 8)) * 8;
    const bool valid = row0 + r < q_len;
    cp_async_16(&sm.q[r][c], q_head + (valid ? (int64_t)(row0 + r) * a.q_stride + c : 0), valid);
  }
  const int num_tiles = (kv_end + kBlockK - 1) / kBlockK;
  load_tile(sm.kv[0], 0);
  cp_async_commit();

  float o[kMTiles][DV / 8][4];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
    for (int dt = 0; dt < DV / 8; ++dt) o[mt][dt][0] = o[mt][dt][1] = o[mt][dt][2] = o[mt][dt][3] = 0.0f;
  // Per M tile, the thread's two rows (fr and fr + 8): running max and sum (this thread's
  // columns only).
  float m[kMTiles][2], l[kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0.0f;

  // ldmatrix row addresses: lane group g = lane / 8 supplies the rows of matrix g.
  const int g = lane / 8, gr = lane % 8;

  for (int t = 0; t < num_tiles; ++t) {
    if (t + 1 < num_tiles) {  // the other stage was freed by the barrier ending tile t - 1
      load_tile(sm.kv[(t + 1) & 1], (t + 1) * kBlockK);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // tile t (and, first time, Q) has landed for every thread

    const int k0 = t * kBlockK;
    const KvTile<DK, DV>& tile = sm.kv[t & 1];
    if (k0 < warp_kv_end) {  // warp-uniform: a tile wholly past this warp's rows adds nothing
      // S = Q K^T: 32 rows x 64 keys per warp. Per 16 dims: the A fragments of both M tiles,
      // then each ldmatrix.x4 of K feeds two 8-key n tiles of both.
      float s[kMTiles][kBlockK / 8][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
        for (int nt = 0; nt < kBlockK / 8; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < DK / 16; ++kk) {
        uint32_t qa[kMTiles][4];  // matrices: (rows +0, dims +0), (+8, +0), (+0, +8), (+8, +8)
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt)
          ldmatrix_x4(qa[mt], &sm.q[warp * kWarpRows + mt * 16 + (g & 1) * 8 + gr][kk * 16 + (g >> 1) * 8]);
#pragma unroll
        for (int np = 0; np < kBlockK / 16; ++np) {
          uint32_t b[4];  // matrices: (keys +0, dims +0), (keys +0, dims +8), (+8, +0), (+8, +8)
          ldmatrix_x4(b, &tile.k[np * 16 + (g >> 1) * 8 + gr][kk * 16 + (g & 1) * 8]);
#pragma unroll
          for (int mt = 0; mt < kMTiles; ++mt) {
            mma_bf16(s[mt][2 * np], qa[mt], b[0], b[1]);
            mma_bf16(s[mt][2 * np + 1], qa[mt], b[2], b[3]);
          }
        }
      }

      // Mask (causal, and keys past kv_end) only where the tile crosses this warp's diagonal or
      // the end of the keys.
      const bool masked = k0 + kBlockK - 1 > prefix + wrow || k0 + kBlockK > kv_end;
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt)
        online_softmax(s[mt], o[mt], m[mt], l[mt], a.scale_log2, masked, k0, prefix + wrow + mt * 16 + fr, kv_end);

      // O += P V, P rounded to bf16 as the A operand; one ldmatrix.x4.trans feeds two 8-dim
      // n tiles of both M tiles.
#pragma unroll
      for (int kk = 0; kk < kBlockK / 16; ++kk) {
        uint32_t pa[kMTiles][4];
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) p_fragment(pa[mt], s[mt], kk);
#pragma unroll
        for (int dp = 0; dp < DV / 16; ++dp) {
          uint32_t b[4];  // matrices: (keys +0, dims +0), (keys +8, dims +0), (+0, +8), (+8, +8)
          ldmatrix_x4_trans(b, &tile.v[kk * 16 + (g & 1) * 8 + gr][dp * 16 + (g >> 1) * 8]);
#pragma unroll
          for (int mt = 0; mt < kMTiles; ++mt) {
            mma_bf16(o[mt][2 * dp], pa[mt], b[0], b[1]);
            mma_bf16(o[mt][2 * dp + 1], pa[mt], b[2], b[3]);
          }
        }
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }

#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) store_rows(a, o[mt], l[mt], q0, wrow + mt * 16, q_len, h);
}

template <int DK, int DV, class Kv>
void launch(const AttnArgs& a, const Kv& kv, cudaStream_t stream) {
  const dim3 grid(a.num_heads, a.num_seqs, (a.max_q_len + kBlockQ - 1) / kBlockQ);
  constexpr int smem = sizeof(PrefillSmem<DK, DV>);  // over the 48 KiB default for D >= 64
  CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel<DK, DV, Kv>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  prefill_kernel<DK, DV, Kv><<<grid, kThreads, smem, stream>>>(a, kv);
  check_launch();
}

}  // namespace

void attention_prefill(const AttnArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {  // 16 and 32: the tiny test models
    case 16: launch<16, 16>(a, PagedKv{}, stream); break;
    case 32: launch<32, 32>(a, PagedKv{}, stream); break;
    case 64: launch<64, 64>(a, PagedKv{}, stream); break;
    default: launch<128, 128>(a, PagedKv{}, stream); break;
  }
}

// DeepSeek's nope 128 + rope 64 and v 128 (V2, V2-Lite, V3), and the tiny presets' 32 + 16 and 32,
// where the device's shared memory holds the tiles (192/128: 134 KiB).
bool attention_prefill_dense_takes(int qk_dim, int v_dim, int smem_max) {
  if (qk_dim == 192 && v_dim == 128) return sizeof(PrefillSmem<192, 128>) <= (size_t)smem_max;
  return qk_dim == 48 && v_dim == 32;
}

void attention_prefill_dense(const AttnArgs& a, const StepKv& kv, int qk_dim, cudaStream_t stream) {
  if (qk_dim == 192) launch<192, 128>(a, kv, stream);
  else launch<48, 32>(a, kv, stream);
}

}  // namespace gpubench
