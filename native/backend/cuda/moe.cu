// moe: the mixture-of-experts ops. moe_route picks each token's experts from the router logits;
// moe_experts runs the picked SwiGLU experts over their tokens, grouped by expert; sigmoid_gate
// scales qwen2_moe's shared expert. Reference: backend/cpu/moe.cc. This file holds the ops'
// validation and their small kernels (route, sort, combine, sigmoid gate); the grouped GEMM of
// moe_experts is in moe_grouped_gemm.cu.
//
// moe_route: one warp per token, its scores in shared memory; the group filter ranks the groups,
// and the top_k are top_k warp argmax rounds (the lower index wins ties). Scores are computed as
// the CPU computes them (exp in double rounded to fp32, IEEE divisions) rather than with the
// --use_fast_math approximations, which would reorder near-equal sigmoid scores and pick other
// experts than the reference.
//
// moe_experts never reads the expert ids on the host and never allocates, so decode steps can be
// captured into CUDA graphs: every launch shape follows from T, top_k and the weights' shapes.
//   1. sort_kernel (one block) counting-sorts the T*top_k slots by expert into ws.index, laid out
//      as the CPU's: order (slot of each sorted row), pos (sorted row of each slot), offsets.
//   2. launch_grouped_gemm (moe_grouped_gemm.cu), x -> ws.gate_up: each expert's rows times its
//      gate_up slab^T on the tensor cores, in a grid that covers the most row tiles any routing
//      can need. x rows are gathered through order as they are copied in, so no sorted copy of x
//      is written.
//   3. swiglu (the dense op) over the T*top_k rows, ws.gate_up -> ws.act.
//   4. launch_grouped_gemm (moe_grouped_gemm.cu), ws.act -> ws.rows: the down projection.
//   5. combine_kernel: per token, the weighted sum of its slots' rows in fp32, in k order.
// Row tiles are 16 rows while experts get few rows each (decode: every used expert's weights
// stream from HBM once, and the step is bound by that stream), 128 x 128 tiles when they get many
// (prefill: each weight tile in shared memory then feeds 128 rows).
// Widths that are not multiples of 8 and unaligned views take the general path instead of steps 2,
// 4 and 5's vector kernels: moe_grouped_gemm.cu's scalar grouped GEMM and a one-column combine.
// Expert ids outside [0, num_experts) cannot be refused without reading them on the host: their
// slots are left out of the GEMMs and their tokens' output rows come out NaN. Under expert
// parallelism the call holds experts [expert_begin, expert_begin + E): the other ranks' slots are
// left out of the GEMMs and the combine alike.
//
// Room left for speed: swiglu fused into the gate_up GEMM (a CTA computing matching gate and up
// columns), sort + GEMM + combine in fewer launches for decode, and moe_grouped_gemm.cu's own.
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <climits>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/check.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/moe_grouped_gemm.cuh"
#include "backend/op_checks.h"

namespace gpubench {

namespace {

// moe_route keeps three fp32 arrays of num_experts per warp in shared memory (48 KiB for 4 warps
// at 1024), and a lane's experts (lane + 32 j) fit one 32-bit mask.
constexpr int kMaxExperts = 1024;

void check_dtype(const char* op, const char* what, const Tensor& t, DType want) {
  if (t.dtype != want) invalid(op, what, " is ", dtype_name(t.dtype), ", expected ", dtype_name(want));
}

// ---- moe_route ---------------------------------------------------------------------------------

constexpr int kRouteWarps = 4;

struct RouteArgs {
  int32_t* ids;
  float* weights;
  const float* logits;
  const float* bias;  // null: choose on the scores themselves
  int64_t tokens;
  int experts, top_k, n_group, topk_group;
  bool sigmoid, grouped, noaux, norm;
  float scale;
};


// One warp per token. Lane l owns experts l + 32 j: it writes their scores, and bit j of its masks
// stands for expert l + 32 j. __syncwarp orders the shared-memory hand-offs between lanes.
__global__ void __launch_bounds__(kRouteWarps * 32) route_kernel(RouteArgs a) {
  start_dependent_kernel();
  extern __shared__ float route_smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t t = (int64_t)blockIdx.x * kRouteWarps + warp;
  if (t >= a.tokens) return;  // warp-uniform, and nothing below syncs the block
  const int E = a.experts;
  float* score = route_smem + (size_t)warp * 3 * E;
  float* choice = score + E;  // what experts are chosen on: score (+ correction_bias)
  float* aux = choice + E;    // group scores, then kept-group flags, then the chosen ids
  const float* logits = a.logits + t * E;

  // As the CPU: exp of the same fp32 argument, correctly rounded (through double), and IEEE
  // divisions; only the softmax sum's order differs, which scales all scores alike.
  if (a.sigmoid) {
    for (int e = lane; e < E; e += 32) score[e] = __frcp_rn(1.0f + (float)exp(-(double)logits[e]));
  } else {
    float m = -INFINITY;
    for (int e = lane; e < E; e += 32) m = fmaxf(m, logits[e]);
    m = warp_max(m);
    float sum = 0.0f;
    for (int e = lane; e < E; e += 32) {
      const float p = (float)exp((double)(logits[e] - m));
      score[e] = p;
      sum += p;
    }
    sum = warp_sum(sum);
    for (int e = lane; e < E; e += 32) score[e] = __fdiv_rn(score[e], sum);
  }
  for (int e = lane; e < E; e += 32) choice[e] = a.bias ? score[e] + a.bias[e] : score[e];

  uint32_t skip = 0;  // bit j: expert lane + 32 j is outside the kept groups, or already chosen
  if (a.grouped) {
    // Rank the groups (by their best choice, or under noaux_tc the sum of their best two), keep
    // the topk_group best (the lower group on ties), and choose only among their experts.
    const int G = a.n_group, size = E / G;
    __syncwarp();
    for (int g = lane; g < G; g += 32) {
      float best = -INFINITY, second = -INFINITY;
      for (int i = 0; i < size; ++i) {
        const float c = choice[g * size + i];
        if (c > best) {
          second = best;
          best = c;
        } else if (c > second) {
          second = c;
        }
      }
      aux[g] = a.noaux ? best + second : best;
    }
    __syncwarp();
    uint32_t keep = 0;  // bit j: group lane + 32 j is kept
    for (int g = lane, j = 0; g < G; g += 32, ++j) {
      const float v = aux[g];
      int rank = 0;
      for (int h = 0; h < G; ++h) rank += aux[h] > v || (aux[h] == v && h < g);
      if (rank < a.topk_group) keep |= 1u << j;
    }
    __syncwarp();
    for (int g = lane, j = 0; g < G; g += 32, ++j) aux[g] = (keep >> j) & 1 ? 1.0f : 0.0f;
    __syncwarp();
    for (int e = lane, j = 0; e < E; e += 32, ++j)
      if (aux[e / size] == 0.0f) skip |= 1u << j;
  }
  __syncwarp();

  // top_k argmax rounds; the sum of the chosen scores in k order, as the CPU adds them.
  int* chosen = reinterpret_cast<int*>(aux);
  float sum = 0.0f;
  for (int k = 0; k < a.top_k; ++k) {
    Best b{-INFINITY, INT_MAX};
    for (int e = lane, j = 0; e < E; e += 32, ++j)
      if (!((skip >> j) & 1)) consider(b, choice[e], e);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      consider(b, __shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o));
    const int id = b.i == INT_MAX ? 0 : b.i;  // INT_MAX: every candidate left is NaN
    if ((id & 31) == lane) skip |= 1u << (id >> 5);
    if (lane == 0) chosen[k] = id;
    sum += score[id];
  }
  __syncwarp();
  for (int k = lane; k < a.top_k; k += 32) {
    const int id = chosen[k];
    float w = score[id];  // the unbiased score, also under noaux_tc
    if (a.norm) w = __fdiv_rn(w, sum + 1e-20f);
    a.ids[t * a.top_k + k] = id;
    a.weights[t * a.top_k + k] = w * a.scale;
  }
}


// ---- moe_experts: the sort ---------------------------------------------------------------------

constexpr int kSortMaxThreads = 1024;

// This call's experts are the model's [begin, begin + experts); every other id (another rank's
// expert, or an invalid one) goes to an extra last bucket, which no GEMM tile covers.
__device__ __forceinline__ int bucket_of(int32_t id, int begin, int experts) {
  return (unsigned)(id - begin) < (unsigned)experts ? id - begin : experts;
}

// The exclusive prefix sum over the block of one value per thread. Every thread calls it once.
__device__ int block_exclusive_sum(int v) {
  __shared__ int warp_prefix[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  int incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  if (lane == 31) warp_prefix[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const int w = lane < nwarps ? warp_prefix[lane] : 0;
    int wincl = w;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int n = __shfl_up_sync(0xffffffffu, wincl, o);
      if (lane >= o) wincl += n;
    }
    warp_prefix[lane] = wincl - w;
  }
  __syncthreads();
  return warp_prefix[warp] + incl - v;
}

// Counting sort of the slots s = t * top_k + k by expert, in one block: each slot's rank within
// its expert (shared-memory atomics, one per group of lanes with the same expert), an exclusive
// scan of the counts, then order[pos[s]] = s. Expert e owns the sorted rows
// [offsets[e], offsets[e + 1]); offsets[E] counts the slots with a valid id. Within an expert the
// order is not stable, which no result depends on.
__global__ void __launch_bounds__(kSortMaxThreads)
    sort_kernel(int32_t* order, int32_t* pos, int32_t* offsets, const int32_t* ids, int slots, int begin, int experts) {
  start_dependent_kernel();
  extern __shared__ int count[];  // [experts + 1]: the buckets' sizes, then their first rows
  const int tid = threadIdx.x, lane = tid & 31;
  for (int b = tid; b <= experts; b += blockDim.x) count[b] = 0;
  __syncthreads();
  // Every thread runs every iteration, so whole warps reach __match_any_sync.
  for (int base = 0; base < slots; base += blockDim.x) {
    const int s = base + tid;
    const int b = s < slots ? bucket_of(ids[s], begin, experts) : -1;
    const unsigned peers = __match_any_sync(0xffffffffu, b);
    const int leader = __ffs(peers) - 1;
    int first = 0;
    if (lane == leader && b >= 0) first = atomicAdd(&count[b], __popc(peers));
    first = __shfl_sync(0xffffffffu, first, leader);
    if (b >= 0) pos[s] = first + __popc(peers & ((1u << lane) - 1));  // the rank, for now
  }
  __syncthreads();
  // Counts -> first rows: each thread scans a run of consecutive buckets.
  const int n = experts + 1, per = (n + (int)blockDim.x - 1) / (int)blockDim.x;
  const int lo = min(n, tid * per), hi = min(n, lo + per);
  int run = 0;
  for (int b = lo; b < hi; ++b) run += count[b];
  int start = block_exclusive_sum(run);
  for (int b = lo; b < hi; ++b) {
    const int c = count[b];
    count[b] = start;
    offsets[b] = start;
    start += c;
  }
  __syncthreads();
  // The same thread handles slot s as in the first pass, so it reads back its own rank.
  for (int s = tid; s < slots; s += blockDim.x) {
    const int p = count[bucket_of(ids[s], begin, experts)] + pos[s];
    pos[s] = p;
    order[p] = s;
  }
}

// ---- moe_experts: the combine ------------------------------------------------------------------

// out[t] (+)= sum_k weights[t, k] * rows[pos[t K + k]], W columns per thread (8, or 1 for the
// general path), in fp32 in k order, rounded once, over the slots of this call's experts [begin,
// begin + experts). A token with an id outside [0, total) gets NaN.
template <int W>
__global__ void combine_kernel(bf16* out, const bf16* rows, const int32_t* ids, const float* weights,
                               const int32_t* pos, int64_t tokens, int top_k, int begin, int experts, int total,
                               int64_t hidden, bool accumulate) {
  start_dependent_kernel();
  const int64_t units = hidden / W, n = tokens * units;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t t = i / units, c = i % units;
    bf16* o = out + t * hidden;
    float acc[W];
    if (accumulate) {
      load<W>(o, c, acc);
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) acc[j] = 0.0f;
    }
    bool bad = false;
    for (int k = 0; k < top_k; ++k) {
      const int64_t slot = t * top_k + k;
      if ((unsigned)ids[slot] >= (unsigned)total) {
        bad = true;
        continue;
      }
      if ((unsigned)(ids[slot] - begin) >= (unsigned)experts) continue;  // another rank's expert
      const float w = weights[slot];
      float y[W];
      load<W>(rows + (int64_t)pos[slot] * hidden, c, y);
#pragma unroll
      for (int j = 0; j < W; ++j) acc[j] += w * y[j];
    }
    if (bad)
#pragma unroll
      for (int j = 0; j < W; ++j) acc[j] = __int_as_float(0x7fc00000);  // NaN
    store<W>(o, c, acc);
  }
}

// ---- sigmoid_gate ------------------------------------------------------------------------------

// One block per row: the fp32 dot through block_sum, then the row scaled in place. Every read of
// x precedes block_sum's barrier, so y may alias x.
template <int W>
__global__ void sigmoid_gate_kernel(bf16* y, const bf16* x, const bf16* w, int64_t x_cols, int64_t y_cols) {
  start_dependent_kernel();
  const bf16* xr = x + blockIdx.x * x_cols;
  bf16* yr = y + blockIdx.x * y_cols;
  float dot = 0.0f;
  for (int64_t u = threadIdx.x; u < x_cols / W; u += blockDim.x) {
    float a[W], b[W];
    load<W>(xr, u, a);
    load<W>(w, u, b);
#pragma unroll
    for (int j = 0; j < W; ++j) dot += a[j] * b[j];
  }
  const float gate = 1.0f / (1.0f + __expf(-block_sum(dot)));
  for (int64_t u = threadIdx.x; u < y_cols / W; u += blockDim.x) {
    float f[W];
    load<W>(yr, u, f);
#pragma unroll
    for (int j = 0; j < W; ++j) f[j] *= gate;
    store<W>(yr, u, f);
  }
}

int threads_for(int64_t units) {
  return (int)std::min<int64_t>(512, std::max<int64_t>(32, (units + 31) / 32 * 32));
}

}  // namespace

void CudaBackend::moe_route(int32_t* topk_ids, float* topk_weights, Tensor router_logits,
                            const MoeRouteParams& p) {
  check_dtype("moe_route", "router_logits", router_logits, DType::F32);
  check_route_params(router_logits, p);
  if (p.num_experts > kMaxExperts)
    invalid("moe_route", "num_experts ", p.num_experts, " is over the cuda backend's ", kMaxExperts);
  const int64_t T = router_logits.rows;
  if (T == 0) return;
  RouteArgs a{topk_ids,
              topk_weights,
              static_cast<const float*>(router_logits.data),
              p.correction_bias,
              T,
              p.num_experts,
              p.top_k,
              p.n_group,
              p.topk_group,
              p.scoring == MoeScoring::Sigmoid,
              p.method != MoeTopk::Greedy,
              p.method == MoeTopk::NoauxTc,
              p.norm_topk_prob,
              p.routed_scaling_factor};
  const size_t smem = (size_t)kRouteWarps * 3 * p.num_experts * sizeof(float);
  const unsigned blocks = (unsigned)((T + kRouteWarps - 1) / kRouteWarps);
  launch_kernel(pdl_, route_kernel, blocks, kRouteWarps * 32, smem, stream_, a);
  check_launch();
}

void CudaBackend::moe_experts(Tensor out, Tensor x, Tensor gate_up, Tensor down, const int32_t* topk_ids,
                              const float* topk_weights, int top_k, bool accumulate, const MoeWorkspace& ws,
                              int64_t expert_begin, int64_t num_experts) {
  const char* op = "moe_experts";
  bool aligned_all = true;
  for (auto [what, t] : {std::pair<const char*, const Tensor*>{"out", &out}, {"x", &x}, {"gate_up", &gate_up},
                         {"down", &down}, {"ws.rows", &ws.rows}, {"ws.gate_up", &ws.gate_up}, {"ws.act", &ws.act}}) {
    check_dtype(op, what, *t, DType::BF16);
    aligned_all = aligned_all && aligned16(t->data);
  }
  const int64_t E = check_moe_experts(out, x, gate_up, down, top_k, ws, expert_begin, num_experts);
  if (E > kMaxExperts) invalid(op, "num_experts ", E, " is over the cuda backend's ", kMaxExperts);
  const int64_t T = x.rows, D = x.cols, I = down.cols, K = top_k, S = T * K;
  // Average rows per expert over 32: 128-row tiles, at least a quarter full (see the header).
  const int bm = S > 32 * E ? kLargeBM : kSmallBM;
  // The tensor-core GEMMs take 16-byte rows (cp.async, vector loads) and whole bf16 pairs in their
  // epilogue, and a grid of row tiles; every other shape takes the general GEMM and combine.
  const bool fast = aligned_all && D % 8 == 0 && I % 8 == 0 && max_row_tiles(S, E, bm) <= 65535;
  note_path("moe_experts", !fast);
  if (S == 0) return;

  int32_t* order = ws.index;
  int32_t* pos = order + S;
  int32_t* offsets = pos + S;
  const int sort_threads = (int)std::min<int64_t>(kSortMaxThreads, (std::max(S, E + 1) + 31) / 32 * 32);
  const size_t sort_smem = (size_t)(E + 1) * sizeof(int);
  launch_kernel(pdl_, sort_kernel, 1, sort_threads, sort_smem, stream_, order, pos, offsets, topk_ids, (int)S,
                (int)expert_begin, (int)E);
  check_launch();

  Tensor h = ws.gate_up.first_rows(S), a = ws.act.first_rows(S);
  const GroupedGemm up{static_cast<bf16*>(h.data), static_cast<const bf16*>(x.data), order, (int)K,
                       static_cast<const bf16*>(gate_up.data), offsets, (int)E, (int)(2 * I), (int)D};
  const GroupedGemm dn{static_cast<bf16*>(ws.rows.data), static_cast<const bf16*>(a.data), nullptr, (int)K,
                       static_cast<const bf16*>(down.data), offsets, (int)E, (int)D, (int)I};
  if (fast) launch_grouped_gemm(up, S, bm, wgmma_, stream_, pdl_);
  else launch_general_grouped_gemm(up, S, num_sms_, stream_);
  swiglu(a, h);
  if (fast) launch_grouped_gemm(dn, S, bm, wgmma_, stream_, pdl_);
  else launch_general_grouped_gemm(dn, S, num_sms_, stream_);

  const int W = fast ? 8 : 1;
  const int64_t units = T * D / W;
  const unsigned grid = (unsigned)std::max<int64_t>(1, std::min<int64_t>((units + 255) / 256, (int64_t)num_sms_ * 16));
  auto* o = static_cast<bf16*>(out.data);
  const auto* rows = static_cast<const bf16*>(ws.rows.data);
  if (fast)
    launch_kernel(pdl_, combine_kernel<8>, grid, 256, 0, stream_, o, rows, topk_ids, topk_weights, pos, T, (int)K,
                  (int)expert_begin, (int)E, (int)num_experts, D, accumulate);
  else
    launch_kernel(pdl_, combine_kernel<1>, grid, 256, 0, stream_, o, rows, topk_ids, topk_weights, pos, T, (int)K,
                  (int)expert_begin, (int)E, (int)num_experts, D, accumulate);
  check_launch();
}

void CudaBackend::sigmoid_gate(Tensor y, Tensor x, Tensor w) {
  check_dtype("sigmoid_gate", "y", y, DType::BF16);
  check_dtype("sigmoid_gate", "x", x, DType::BF16);
  check_dtype("sigmoid_gate", "w", w, DType::BF16);
  check_sigmoid_gate(y, x, w);
  if (y.rows == 0) return;
  auto* yp = static_cast<bf16*>(y.data);
  auto* xp = static_cast<const bf16*>(x.data);
  auto* wp = static_cast<const bf16*>(w.data);
  const unsigned rows = (unsigned)y.rows;
  if (x.cols % 8 == 0 && y.cols % 8 == 0 && aligned16(yp) && aligned16(xp) && aligned16(wp))
    launch_kernel(pdl_, sigmoid_gate_kernel<8>, rows, threads_for(x.cols / 8), 0, stream_, yp, xp, wp, x.cols, y.cols);
  else
    launch_kernel(pdl_, sigmoid_gate_kernel<1>, rows, threads_for(x.cols), 0, stream_, yp, xp, wp, x.cols, y.cols);
  check_launch();
}

}  // namespace gpubench
