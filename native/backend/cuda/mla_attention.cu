// mla_attention: causal paged attention of every (query row, head) over the one shared MLA cache
// head [c | k_pe], on the tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate); decode and
// prefill alike, for kv_lora_rank in 16s up to 512 and rope dims in 8s; other shapes run the
// general kernel (attention_general.cu). Reference: mla_attention() in backend/cpu/mla.cc.
//
// All heads attend to the same cache rows (MQA with keys of width L + R and values = the first L of
// them), so the "query rows" of one GEMM are a sequence's (row, head) pairs, m = i * H + h: a CTA
// takes M = 16 or 32 of them and reads each cache row once for all of them. Grid: (M tile,
// context split, sequence). Per chunk of 64 cache rows, copied into shared memory with cp.async
// one chunk ahead of the math (two buffers of 74 KiB for L + R = 576; one where the device's
// shared memory is smaller):
//   S = Q K^T   warp w scores keys 16w .. 16w + 15 for all M rows (K = L + R, padded to 16)
//   softmax     online, fp32, kThreads / M threads per row; P to shared memory as bf16
//   O += P C    warp w owns 16-dim column pairs w, w + 4, ... of the L-wide output for all M rows
// (one warp cannot hold M x L fp32 accumulators for L = 512, so S is split over keys and O over
// dims, with P and the rescale factors passed through shared memory). Decode (M rows = the heads)
// reads the cache once per 16 or 32 heads; for DeepSeek-V2-Lite's 16 heads a chunk's MMAs take
// less time than its 74 KiB take to arrive, so decode is bound by the cache read.
//
// Split-KV as attention_decode.cu (split_kv.cuh): the split count depends on host-side sizes only
// (max_ctx_len, max_q_len, heads, rows of q_latent, SM count), so a CUDA graph captured for
// max_ctx_len stays valid for shorter contexts: a CTA whose split starts past its rows' real
// (device) context writes an empty partial. With one split the CTA writes the output; otherwise a
// combine kernel merges the partials by their log-sum-exp.
//
// Room left for speed: prefill in absorbed form does (L + R + L) / (nope + R + V) = 3.4x the FLOPs
// of attention over per-head keys and values (what vLLM runs for prefill), and its M tiles of 32
// rows each re-read their causal prefix (from L2 mostly); wgmma with larger M tiles (FlashMLA)
// would cut that and the ldmatrix traffic; V3's 128 heads read the cache once per 32 of them.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/attention.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/split_kv.cuh"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kChunk = 64;  // cache rows per pipeline stage; 16 per warp in the S step
// Shared rows padded by 16 bytes so the 8 row addresses of each ldmatrix phase fall in 8
// different 16-byte bank groups (every padded row is an odd number of 16-byte units).
constexpr int kPad = 8;
constexpr int kScoreRow = kChunk + kPad;  // floats per row of the scores, bf16 per row of P
constexpr int kMaxLatent = 512;           // 8 column pairs of 16 per warp
constexpr int kMaxSplits = 1024;          // bounds the combine kernel's shared memory
constexpr int kCombineThreads = 128;

struct MlaArgs {
  bf16* out;             // [T, H*L]
  const bf16* q_latent;  // [T, H*L]
  const bf16* q_pe;
  int64_t pe_row_stride, pe_head_stride;
  const bf16* cache;  // [num_blocks][block_size][L + R]
  int heads, latent, rope;
  int width_pad;    // L + R rounded up to 16: the K of S = Q K^T, zero-padded
  int stages;       // chunk buffers: 2 (the next chunk loads during this one's math), or 1
  int block_shift;  // log2(block_size)
  int max_blocks_per_seq;
  const int32_t* q_start;
  const int32_t* ctx_len;
  const int32_t* block_table;
  float scale_log2;  // softmax scale * log2(e): the kernels work in base 2 (exp2f)
  int num_splits, split_tokens;
  float* o_part;    // [T][H][num_splits][L], normalized by its own sum
  float* lse_part;  // [T][H][num_splits], base 2; -inf for a split with no visible key
};

// Byte offsets of the CTA's shared arrays (all 16-byte aligned), for M query rows.
struct SmemLayout {
  int row;  // bf16 elements per row of Q and of a cache chunk
  size_t q, kv, s, p, alpha, inv, lse, total;
};

__host__ __device__ inline SmemLayout smem_layout(int width_pad, int m_rows, int stages) {
  SmemLayout l;
  l.row = width_pad + kPad;
  l.q = 0;                                           // bf16 [M][row]
  l.kv = l.q + (size_t)m_rows * l.row * 2;           // bf16 [stages][kChunk][row]
  l.s = l.kv + (size_t)stages * kChunk * l.row * 2;  // f32 [M][kScoreRow]
  l.p = l.s + (size_t)m_rows * kScoreRow * 4;        // bf16 [M][kScoreRow]
  l.alpha = l.p + (size_t)m_rows * kScoreRow * 2;    // f32 [M] each
  l.inv = l.alpha + (size_t)m_rows * 4;
  l.lse = l.inv + (size_t)m_rows * 4;
  l.total = l.lse + (size_t)m_rows * 4;
  return l;
}

// Fragment layouts of mma.m16n8k16 (PTX ISA), with fr = lane / 4 and fc = 2 * (lane % 4):
//   A (16x16, row-major) a[i]: row fr + 8 * (i & 1), columns fc + 8 * (i >> 1) and +1
//   B (16x8, "col")      b0: rows (k) fc, fc + 1 of column (n) fr; b1: rows fc + 8, fc + 9
//   C (16x8)             c[i]: row fr + 8 * (i >> 1), column fc + (i & 1)
// For S = Q K^T, B[k][n] = cache[key n][dim k]: rows of the chunk, read by ldmatrix as stored.
// For O = P C, B[k][n] = cache[key k][dim n]: columns of the chunk, read by ldmatrix.trans.
// MT: M tiles of 16 query rows per CTA (M = 16 MT); DP: 16-dim column pairs of O per warp.
template <int MT, int DP>
__global__ void __launch_bounds__(kThreads, 1) mla_attention_kernel(MlaArgs a) {
  start_dependent_kernel();
  constexpr int M = 16 * MT;
  constexpr int kRowThreads = kThreads / M;  // softmax threads per query row (8 or 4)
  constexpr int kPerThread = kChunk / kRowThreads;
  extern __shared__ uint4 smem_raw[];
  const SmemLayout lay = smem_layout(a.width_pad, M, a.stages);
  char* smem = reinterpret_cast<char*>(smem_raw);
  bf16* s_q = reinterpret_cast<bf16*>(smem + lay.q);
  bf16* s_kv = reinterpret_cast<bf16*>(smem + lay.kv);
  float* s_s = reinterpret_cast<float*>(smem + lay.s);
  bf16* s_p = reinterpret_cast<bf16*>(smem + lay.p);
  float* s_alpha = reinterpret_cast<float*>(smem + lay.alpha);  // this chunk's rescale per row
  float* s_inv = reinterpret_cast<float*>(smem + lay.inv);      // 1 / the final sum per row
  float* s_lse = reinterpret_cast<float*>(smem + lay.lse);
  const int row = lay.row;

  // The M tile is the fastest grid dimension, reversed: in prefill the last tiles, which see
  // the most keys, start first and the short ones fill in the tail.
  const int tile = gridDim.x - 1 - blockIdx.x, split = blockIdx.y, seq = blockIdx.z;
  const int H = a.heads, L = a.latent, width = a.latent + a.rope;
  const int q0 = a.q_start[seq], q_len = a.q_start[seq + 1] - q0;
  const int m0 = tile * M;      // the tile's first (row, head) pair of the sequence
  if (m0 >= q_len * H) return;  // the grid covers max_q_len; this sequence has fewer rows
  const int ctx = a.ctx_len[seq], prefix = ctx - q_len;
  // Query row i sits at position prefix + i; the tile's keys end after its last row's position.
  const int last_i = min((m0 + M - 1) / H, q_len - 1);
  const int begin = split * a.split_tokens;
  const int end = min(begin + a.split_tokens, prefix + last_i + 1);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int fr = lane / 4, fc = 2 * (lane % 4);
  const int g = lane / 8, gr = lane % 8;  // ldmatrix: lane group g gives the rows of matrix g
  const int n_pairs = L / 16;             // 16-dim column pairs of O, dealt round-robin to warps
  // Local row m of the tile -> output row t and head h; false past the sequence's rows.
  auto locate = [&](int m, int64_t& t, int& h) {
    const int mi = m0 + m, i = mi / H;
    h = mi - i * H;
    t = q0 + i;
    return i < q_len;
  };

  if (begin >= end) {  // a split past these rows' context (a graph replayed at a shorter one)
    for (int x = threadIdx.x; x < M * L; x += kThreads) {
      const int m = x / L, d = x - m * L;
      int64_t t;
      int h;
      if (!locate(m, t, h)) continue;
      if (a.num_splits == 1)
        a.out[t * H * L + (int64_t)h * L + d] = __float2bfloat16_rn(0.0f);
      else if (d == 0)
        a.lse_part[(t * H + h) * a.num_splits + split] = -INFINITY;
    }
    return;
  }

  const int32_t* seq_blocks = a.block_table + (int64_t)seq * a.max_blocks_per_seq;
  const int pieces = width / 8;  // 16-byte pieces of a cache row
  // Cache rows [c0, c0 + kChunk) into stage `stage`; rows past `end` are zero-filled, never
  // garbage: a NaN there would survive p = 0 in the mma. Thread x copies pieces x, x + kThreads,
  // ... of the chunk, its (row, piece) stepping without a division.
  const int step_r = kThreads / pieces, step_c = kThreads % pieces;
  auto load_chunk = [&](int stage, int c0) {
    bf16* dst = s_kv + (size_t)stage * kChunk * row;
    for (int r = threadIdx.x / pieces, c = threadIdx.x % pieces; r < kChunk;) {
      const int j = c0 + r;
      const bool valid = j < end;
      const int64_t slot = valid ? ((int64_t)seq_blocks[j >> a.block_shift] << a.block_shift) +
                                       (j & ((1 << a.block_shift) - 1))
                                 : 0;
      cp_async_16(dst + (size_t)r * row + c * 8, a.cache + slot * width + c * 8, valid);
      r += step_r;
      c += step_c;
      if (c >= pieces) {
        c -= pieces;
        ++r;
      }
    }
  };
  const int n_chunks = (end - begin + kChunk - 1) / kChunk;
  load_chunk(0, begin);
  cp_async_commit();

  // Q rows [q_latent | q_pe | zeros] (all zeros past the sequence's rows), and the zero columns
  // [L + R, width_pad) of the chunk stages, which no copy writes. Plain stores: the first
  // barrier of the loop publishes them.
  for (int x = threadIdx.x; x < M * (a.width_pad / 8); x += kThreads) {
    const int m = x / (a.width_pad / 8), c = (x - m * (a.width_pad / 8)) * 8;
    int64_t t;
    int h;
    const bool valid = locate(m, t, h);
    uint4 v = make_uint4(0, 0, 0, 0);
    if (valid && c < L) {
      v = *reinterpret_cast<const uint4*>(a.q_latent + t * H * L + (int64_t)h * L + c);
    } else if (valid && c < width) {  // q_pe is a strided view: no alignment to count on
      const bf16* src = a.q_pe + t * a.pe_row_stride + h * a.pe_head_stride + (c - L);
      bf16* e = reinterpret_cast<bf16*>(&v);
#pragma unroll
      for (int k = 0; k < 8; ++k) e[k] = src[k];
    }
    *reinterpret_cast<uint4*>(s_q + (size_t)m * row + c) = v;
  }
  if (width < a.width_pad)  // one 16-byte piece per row: L + R is a multiple of 8
    for (int r = threadIdx.x; r < a.stages * kChunk; r += kThreads)
      *reinterpret_cast<uint4*>(s_kv + (size_t)r * row + width) = make_uint4(0, 0, 0, 0);

  // Keys this thread's S rows (mt * 16 + fr + 8 hh) see: below their position + 1 and `end`.
  int limit[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int i = (m0 + mt * 16 + fr + 8 * hh) / H;
      limit[mt][hh] = i < q_len ? min(prefix + i + 1, end) : 0;
    }

  float o[MT][2 * DP][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int n = 0; n < 2 * DP; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
  // Softmax step: this thread's row and its share of the row's keys; running max (the same in
  // all the row's threads) and sum (this thread's keys only).
  const int sm_row = threadIdx.x / kRowThreads, sm_part = threadIdx.x % kRowThreads;
  float m_run = -INFINITY, l_run = 0.0f;

  for (int chunk = 0; chunk < n_chunks; ++chunk) {
    const int c0 = begin + chunk * kChunk;
    if (a.stages == 1 && chunk > 0) {  // one buffer: refilled once every warp is done with it
      __syncthreads();
      load_chunk(0, c0);
      cp_async_commit();
    }
    cp_async_wait<0>();
    __syncthreads();  // this chunk (and Q) landed; every warp is done with the previous chunk
    if (a.stages == 2 && chunk + 1 < n_chunks) {  // into the stage the previous chunk used
      load_chunk((chunk + 1) & 1, c0 + kChunk);
      cp_async_commit();
    }
    const bf16* kv = s_kv + (size_t)(chunk % a.stages) * kChunk * row;

    // 1. S = Q K^T for keys 16 warp .. + 15: per 16 dims, the A fragments of the M tiles, then one
    // ldmatrix.x4 of K (matrices: (keys +0, dims +0), (+0, +8), (+8, +0), (+8, +8)).
    float s[MT][2][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
        s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
    for (int kk = 0; kk < a.width_pad / 16; ++kk) {
      uint32_t qa[MT][4];  // matrices: (rows +0, dims +0), (+8, +0), (+0, +8), (+8, +8)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        ldmatrix_x4(qa[mt],
                    s_q + (size_t)(mt * 16 + (g & 1) * 8 + gr) * row + kk * 16 + (g >> 1) * 8);
      uint32_t b[4];
      ldmatrix_x4(b, kv + (size_t)(warp * 16 + (g >> 1) * 8 + gr) * row + kk * 16 + (g & 1) * 8);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma_bf16(s[mt][0], qa[mt], b[0], b[1]);
        mma_bf16(s[mt][1], qa[mt], b[2], b[3]);
      }
    }
    // Scaled into base 2, masked (causal, split end, rows past the sequence) to -inf.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int col = warp * 16 + nt * 8 + fc, key = c0 + col;
          float2 v;
          v.x = key < limit[mt][hh] ? s[mt][nt][2 * hh] * a.scale_log2 : -INFINITY;
          v.y = key + 1 < limit[mt][hh] ? s[mt][nt][2 * hh + 1] * a.scale_log2 : -INFINITY;
          *reinterpret_cast<float2*>(s_s + (mt * 16 + fr + 8 * hh) * kScoreRow + col) = v;
        }
    __syncthreads();

    // 2. Online softmax: kRowThreads adjacent lanes per row, keys sm_part + k kRowThreads.
    {
      const float* sr = s_s + sm_row * kScoreRow;
      float x[kPerThread], mx = -INFINITY;
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        x[k] = sr[sm_part + k * kRowThreads];
        mx = fmaxf(mx, x[k]);
      }
#pragma unroll
      for (int off = kRowThreads / 2; off > 0; off >>= 1)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m_run, mx);
      // A row that has seen no visible key yet keeps m = -inf; exponentiate against 0 then,
      // which avoids inf - inf and still gives p = 0 and alpha = 0.
      const float base = m_new == -INFINITY ? 0.0f : m_new;
      const float alpha = exp2f(m_run - base);
      m_run = m_new;
      float sum = 0.0f;
      bf16* pr = s_p + sm_row * kScoreRow;
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        const float p = exp2f(x[k] - base);
        sum += p;
        pr[sm_part + k * kRowThreads] = __float2bfloat16_rn(p);
      }
      l_run = l_run * alpha + sum;
      if (sm_part == 0) s_alpha[sm_row] = alpha;
    }
    __syncthreads();

    // 3. O = O * alpha + P C over this warp's column pairs; one ldmatrix.x4.trans of the chunk
    // (matrices: (keys +0, dims +0), (+8, +0), (+0, +8), (+8, +8)) feeds two 8-dim n tiles.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const float alpha = s_alpha[mt * 16 + fr + 8 * hh];
#pragma unroll
        for (int n = 0; n < 2 * DP; ++n) {
          o[mt][n][2 * hh] *= alpha;
          o[mt][n][2 * hh + 1] *= alpha;
        }
      }
#pragma unroll
    for (int kk = 0; kk < kChunk / 16; ++kk) {
      uint32_t pa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        ldmatrix_x4(pa[mt],
                    s_p + (mt * 16 + (g & 1) * 8 + gr) * kScoreRow + kk * 16 + (g >> 1) * 8);
#pragma unroll
      for (int j = 0; j < DP; ++j) {
        const int pair = warp + j * kWarps;
        if (pair >= n_pairs) break;  // warp-uniform
        uint32_t b[4];
        ldmatrix_x4_trans(
            b, kv + (size_t)(kk * 16 + (g & 1) * 8 + gr) * row + pair * 16 + (g >> 1) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_bf16(o[mt][2 * j], pa[mt], b[0], b[1]);
          mma_bf16(o[mt][2 * j + 1], pa[mt], b[2], b[3]);
        }
      }
    }
  }

  // Each row's sum is spread over its softmax threads: add them up. s_inv and s_lse are read by
  // no warp still in the loop.
#pragma unroll
  for (int off = kRowThreads / 2; off > 0; off >>= 1)
    l_run += __shfl_xor_sync(0xffffffffu, l_run, off);
  if (sm_part == 0) {
    s_inv[sm_row] = l_run > 0.0f ? 1.0f / l_run : 0.0f;
    s_lse[sm_row] = l_run > 0.0f ? m_run + __log2f(l_run) : -INFINITY;
  }
  __syncthreads();

#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int m = mt * 16 + fr + 8 * hh;
      int64_t t;
      int h;
      if (!locate(m, t, h)) continue;
      const float inv = s_inv[m];
#pragma unroll
      for (int j = 0; j < DP; ++j) {
        const int pair = warp + j * kWarps;
        if (pair >= n_pairs) break;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int d = pair * 16 + half * 8 + fc;
          const float v0 = o[mt][2 * j + half][2 * hh] * inv,
                      v1 = o[mt][2 * j + half][2 * hh + 1] * inv;
          if (a.num_splits == 1)
            *reinterpret_cast<uint32_t*>(a.out + t * H * L + (int64_t)h * L + d) =
                pack_bf16x2(v0, v1);
          else
            *reinterpret_cast<float2*>(a.o_part + ((t * H + h) * a.num_splits + split) * L + d) =
                make_float2(v0, v1);
        }
      }
    }
  if (a.num_splits > 1 && threadIdx.x < M) {
    int64_t t;
    int h;
    if (locate(threadIdx.x, t, h))
      a.lse_part[(t * H + h) * a.num_splits + split] = s_lse[threadIdx.x];
  }
}

// Grid (row x head of the sequence, sequence, group of kCombineThreads dims), one thread per dim:
// the splits' merge (split_kv.cuh).
__global__ void __launch_bounds__(kCombineThreads) mla_combine_kernel(MlaArgs a) {
  start_dependent_kernel();
  extern __shared__ float s_lse_all[];
  const int H = a.heads, L = a.latent, S = a.num_splits;
  const int i = blockIdx.x / H, h = blockIdx.x - i * H, seq = blockIdx.y;
  const int q0 = a.q_start[seq];
  if (i >= a.q_start[seq + 1] - q0) return;  // the grid covers max_q_len rows
  const int64_t t = q0 + i, base = (t * H + h) * S;
  load_split_lse(s_lse_all, a.lse_part + base, S);
  const int d = blockIdx.z * kCombineThreads + threadIdx.x;
  if (d >= L) return;
  const float o = combine_splits(s_lse_all, S, a.o_part + base * L + d, L);
  a.out[t * H * L + (int64_t)h * L + d] = __float2bfloat16_rn(o);
}

// Calls f with the kernel for MT M tiles and the smallest DP that covers L / 16 column pairs.
template <typename F>
void with_kernel(int m_tiles, int latent, F&& f) {
  auto with_dp = [&](auto mt) {
    constexpr int MT = decltype(mt)::value;
    const int dp = (latent / 16 + kWarps - 1) / kWarps;
    if (dp <= 1)
      f(mla_attention_kernel<MT, 1>);
    else if (dp <= 2)
      f(mla_attention_kernel<MT, 2>);
    else if (dp <= 4)
      f(mla_attention_kernel<MT, 4>);
    else
      f(mla_attention_kernel<MT, 8>);
  };
  if (m_tiles == 1)
    with_dp(std::integral_constant<int, 1>{});
  else
    with_dp(std::integral_constant<int, 2>{});
}

int log2_exact(int64_t v) {
  int s = 0;
  while ((int64_t(1) << s) < v) ++s;
  return (int64_t(1) << s) == v ? s : -1;
}

}  // namespace

void CudaBackend::mla_attention(Tensor out, Tensor q_latent, HeadSlices q_pe, KvLayer kv,
                                const AttnMeta& meta, float scale) {
  const char* op = "mla_attention";
  const int64_t H = q_pe.heads, R = q_pe.cols, D = kv.head_dim, L = D - R;
  if (out.dtype != DType::BF16 || q_latent.dtype != DType::BF16) invalid(op, "out and q_latent must be bf16");
  check_head_slices(op, "q_pe", q_pe, false, DType::BF16, "cuda");
  check_mla_cache(op, kv, R);
  check_shape(op, "q_latent", q_latent, q_latent.rows, H * L);
  check_shape(op, "out", out, out.rows, H * L);
  const int block_shift = log2_exact(kv.block_size);
  // The tensor-core kernel takes the latent in 16-dim column pairs (up to kMaxLatent), the cache
  // rows in 16-byte pieces, q_latent in 16-byte vectors, out in 4-byte pairs, and a power-of-two
  // block size; its shared memory must fit the device. Every other shape takes the general
  // kernel (attention_general.cu).
  int smem_max = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_));
  const int64_t width_pad = (D + 15) / 16 * 16;
  const bool fast = L % 16 == 0 && L <= kMaxLatent && R % 8 == 0 && block_shift >= 0 && aligned16(kv.k) &&
                    aligned16(q_latent.data) && ((uintptr_t)out.data & 3) == 0 &&
                    smem_layout((int)width_pad, 16, 1).total <= (size_t)smem_max;
  note_path("mla_attention", !fast);
  if (meta.num_seqs == 0 || meta.max_q_len == 0) return;
  if (!fast) {
    GeneralAttnArgs g{};
    g.out = static_cast<bf16*>(out.data);
    g.out_row_stride = out.cols;
    g.out_head_stride = L;
    g.q1 = static_cast<const bf16*>(q_latent.data);
    g.q1_row_stride = q_latent.cols;
    g.q1_head_stride = L;
    g.q2 = static_cast<const bf16*>(q_pe.data);
    g.q2_row_stride = q_pe.row_stride;
    g.q2_head_stride = q_pe.head_stride;
    g.q1_dim = (int)L;
    g.q2_dim = (int)R;
    g.v_dim = (int)L;
    g.k1 = g.v = static_cast<const bf16*>(kv.k);
    g.k2 = g.k1 + L;
    g.k1_row_stride = g.k2_row_stride = g.v_row_stride = D;
    g.num_heads = (int)H;
    g.kv_heads = 1;
    g.group = (int)H;
    set_step(g, meta, true, (int)kv.block_size);
    g.scale = scale;
    if (attention_general_smem(g) > (size_t)smem_max)
      invalid(op, "kv_lora_rank + rope dim ", D, " needs more shared memory than the ", smem_max,
              " bytes the device has");
    attention_general(g, stream_);
    return;
  }

  MlaArgs a{};
  a.out = static_cast<bf16*>(out.data);
  a.q_latent = static_cast<const bf16*>(q_latent.data);
  a.q_pe = static_cast<const bf16*>(q_pe.data);
  a.pe_row_stride = q_pe.row_stride;
  a.pe_head_stride = q_pe.head_stride;
  a.cache = static_cast<const bf16*>(kv.k);
  a.heads = (int)H;
  a.latent = (int)L;
  a.rope = (int)R;
  a.width_pad = (int)width_pad;
  a.block_shift = block_shift;
  a.max_blocks_per_seq = meta.max_blocks_per_seq;
  a.q_start = meta.q_start;
  a.ctx_len = meta.ctx_len;
  a.block_table = meta.block_table;
  a.scale_log2 = scale * (float)M_LOG2E;

  // One M tile of 16 rows when a sequence has no more (decode with up to 16 heads), else two; and
  // two chunk buffers. Where the shared memory is smaller (sm_80: 163 KiB, sm_89: 99 KiB for
  // L + R = 576), fewer: one buffer, then one M tile.
  const int64_t m_rows = (int64_t)meta.max_q_len * H;
  int mt = 0;  // found: the fast check saw one M tile and one stage fit
  for (int want : {m_rows <= 16 ? 1 : 2, 1})
    for (int stages : {2, 1})
      if (mt == 0 && smem_layout(a.width_pad, 16 * want, stages).total <= (size_t)smem_max) {
        mt = want;
        a.stages = stages;
      }
  const size_t smem = smem_layout(a.width_pad, 16 * mt, a.stages).total;
  const int64_t m_tiles = (m_rows + 16 * mt - 1) / (16 * mt);
  int per_sm = 0;  // CTAs of the kernel one SM holds at once
  with_kernel(mt, (int)L, [&](auto kernel) {
    CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
  });

  // No split shorter than a chunk, and no more partials than the scratch holds: they are indexed
  // by output row, so every row of q_latent counts.
  const int64_t rows = std::min({q_latent.rows, out.rows, q_pe.rows});
  const int64_t ctas = (int64_t)meta.num_seqs * m_tiles;
  const int64_t split_bytes = rows * H * (L + 1) * (int64_t)sizeof(float);
  const SplitPlan plan = plan_splits(ctas, meta.max_ctx_len, kChunk, kChunk, split_bytes, kAttnScratchBytes,
                                     kMaxSplits, (int64_t)std::max(1, per_sm) * num_sms_);
  a.split_tokens = plan.split_tokens;
  a.num_splits = plan.num_splits;
  a.o_part = static_cast<float*>(attn_scratch_);
  a.lse_part = a.o_part + rows * H * a.num_splits * L;

  const dim3 grid((unsigned)m_tiles, (unsigned)a.num_splits, (unsigned)meta.num_seqs);
  with_kernel(mt, (int)L, [&](auto kernel) {
    launch_kernel(pdl_, kernel, grid, kThreads, smem, stream_, a);
    check_launch();
  });
  if (a.num_splits > 1) {
    const dim3 combine_grid((unsigned)m_rows, (unsigned)meta.num_seqs,
                            (unsigned)((L + kCombineThreads - 1) / kCombineThreads));
    launch_kernel(pdl_, mla_combine_kernel, combine_grid, kCombineThreads, a.num_splits * sizeof(float), stream_, a);
    check_launch();
  }
}

}  // namespace gpubench
