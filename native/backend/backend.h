// The backend op interface. The forward pass (native/model/) is written once as a sequence of
// these ops; a backend only implements them. Each op lives in a file of its own, with the same
// name in backend/cpu/*.cc (fp32 reference) and backend/cuda/*.cu (bf16 storage, fp32 math).
//
// Conventions
// - Activations and weights are 2-D row-major tensors in the backend's storage dtype
//   (act_dtype(): F32 on the CPU, BF16 on CUDA) unless an op says otherwise.
// - Every pointer an op takes is device memory of this backend (host memory for the CPU).
// - Ops are asynchronous on the backend's one stream; synchronize() waits for them.
// - Ops never allocate: the engine allocates everything up front, so decode steps can be
//   captured into CUDA graphs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend/gemm_algo.h"
#include "base/error.h"

namespace gpubench {

enum class DType : uint8_t { F32, BF16, I32 };

inline size_t dtype_size(DType t) { return t == DType::BF16 ? 2 : 4; }
inline const char* dtype_name(DType t) { return t == DType::F32 ? "f32" : t == DType::BF16 ? "bf16" : "i32"; }

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;

  int64_t numel() const { return rows * cols; }
  size_t bytes() const { return (size_t)numel() * dtype_size(dtype); }
  // The first n rows (activations are allocated for the largest step and used for smaller ones).
  Tensor first_rows(int64_t n) const { return Tensor{data, dtype, n, cols}; }
  // The same memory seen as [numel / c, c] (e.g. q as one row per head for the q/k norm).
  Tensor view_cols(int64_t c) const { return Tensor{data, dtype, numel() / c, c}; }
  Tensor row(int64_t r) const {
    return Tensor{(char*)data + (size_t)(r * cols) * dtype_size(dtype), dtype, 1, cols};
  }
};

// One layer of the paged KV cache. K and V each hold [num_blocks][num_kv_heads][block_size][head_dim]
// in act_dtype(), so one KV head's slice of a block is contiguous. Token slot s lives in block
// s / block_size at offset s % block_size.
struct KvLayer {
  void* k = nullptr;
  void* v = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
};

// Where the tokens of one step sit. Sequence s owns the query rows [q_start[s], q_start[s+1]) and
// has ctx_len[s] tokens in the cache after this step's KV write, so its query row i is at position
// ctx_len[s] - q_len + i and attends causally to positions 0 .. that position.
// The device arrays are read by the kernels; the host-side sizes fix grid shapes, so a CUDA graph
// captured with max_ctx_len = C stays valid for every replay whose contexts are <= C.
struct AttnMeta {
  int num_seqs = 0;
  int max_q_len = 0;          // 1 for pure decode
  int max_ctx_len = 0;        // upper bound on every ctx_len of the step
  int max_blocks_per_seq = 0; // row stride of block_table
  const int32_t* q_start = nullptr;      // [num_seqs + 1]
  const int32_t* ctx_len = nullptr;      // [num_seqs]
  const int32_t* block_table = nullptr;  // [num_seqs * max_blocks_per_seq]
};

// Rotary embedding as Hugging Face computes it: for pair i < head_dim/2 of a head (elements i and
// i + head_dim/2, "rotate_half"), angle = position * inv_freq[i]; cos and sin are multiplied by
// attn_factor (1 except for yarn). With q_norm/k_norm set (qwen3), each q and k head is first
// RMS-normalized over head_dim with that weight [1, head_dim] and norm_eps.
struct RopeParams {
  const float* inv_freq = nullptr;  // device [head_dim / 2], fp32
  float attn_factor = 1.0f;
  const void* q_norm = nullptr;  // act_dtype() [head_dim] or null
  const void* k_norm = nullptr;
  float norm_eps = 1e-6f;
};

// The router of a mixture-of-experts layer, as Hugging Face computes it: mixtral, qwen2_moe and
// qwen3_moe use softmax + greedy; deepseek_v2 softmax + group_limited_greedy (groups ranked by their
// best score); deepseek_v3 sigmoid + noaux_tc (selection on score + correction_bias, groups ranked
// by the sum of their top-2, weights from the unbiased scores). Then optionally the k weights are
// renormalized to sum to 1, and all are multiplied by routed_scaling_factor.
enum class MoeScoring : uint8_t { Softmax, Sigmoid };
enum class MoeTopk : uint8_t { Greedy, GroupLimitedGreedy, NoauxTc };
struct MoeRouteParams {
  int num_experts = 0;
  int top_k = 0;
  MoeScoring scoring = MoeScoring::Softmax;
  MoeTopk method = MoeTopk::Greedy;
  int n_group = 1, topk_group = 1;  // the grouped methods: experts split into n_group equal groups
  bool norm_topk_prob = false;
  float routed_scaling_factor = 1.0f;
  const float* correction_bias = nullptr;  // noaux_tc: device [num_experts], fp32
};

// Scratch of moe_experts for T tokens, sized for T * top_k (token, expert) slots.
struct MoeWorkspace {
  Tensor rows;               // [T*top_k, hidden]: the slots' inputs grouped by expert, then their outputs
  Tensor gate_up;            // [T*top_k, 2*I]
  Tensor act;                // [T*top_k, I]
  int32_t* index = nullptr;  // [2*T*top_k + num_experts + 1] int32: the slot order and expert offsets
};

struct DeviceInfo {
  std::string name;
  size_t total_bytes = 0;
  size_t free_bytes = 0;
  int cc_major = 0, cc_minor = 0;
  int driver_version = 0;
  std::string pci_bus_id;  // "0000:3b:00.0" on a GPU (NVML finds the device by it); empty on the CPU
  // Provenance of a result (0: unknown or not applicable). The clocks are the device's rated
  // maxima as the runtime reports them, not the clocks of the moment (telemetry samples those).
  int runtime_version = 0;
  int sm_clock_mhz = 0, mem_clock_mhz = 0;
  int threads = 0;  // CPU worker threads
};

struct KernelRecord {
  std::string name;
  double start_ms, ms;
};

using Event = void*;
using Graph = void*;

class Backend {
 public:
  virtual ~Backend() = default;

  // --- identity and memory (backend/<name>/memory) ---
  virtual std::string name() const = 0;  // "cpu", "cuda:0"
  virtual DType act_dtype() const = 0;
  virtual DeviceInfo device_info() const = 0;
  virtual void* alloc(size_t bytes) = 0;  // throws Error(OutOfMemory) with the sizes in the message
  virtual void release(void* p) = 0;
  virtual void copy_to_device(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;  // waits for the copy
  virtual void copy_device(void* dst, const void* src, size_t bytes) = 0;
  // fp32 host values into a tensor of any float dtype (bf16: round to nearest even), and back.
  virtual void upload_f32(Tensor dst, const float* host_src) = 0;
  virtual void download_f32(float* host_dst, Tensor src) = 0;  // waits

  // --- stream, timing and graphs (backend/<name>/stream) ---
  // Makes the calling thread use this backend's device (CUDA: cudaSetDevice), for a rank's own
  // thread of a parallel layout (engine/rank_group.h). No-op on the CPU.
  virtual void bind_thread() {}
  // The backend's stream as its runtime's handle (CUDA: the cudaStream_t), for a library that
  // enqueues work of its own on it (NCCL's collectives); null where ops run synchronously.
  virtual void* stream_handle() { return nullptr; }
  virtual void synchronize() = 0;
  virtual Event event_create() = 0;
  virtual void event_record(Event e) = 0;
  virtual float event_elapsed_ms(Event start, Event end) = 0;  // both recorded and complete
  virtual void event_destroy(Event e) = 0;
  virtual bool supports_graphs() const { return false; }
  virtual void capture_begin() {}
  virtual Graph capture_end() { return nullptr; }
  virtual void graph_replay(Graph) {}
  virtual void graph_destroy(Graph) {}
  // Device kernels run between begin and end, with their real names (CUPTI on CUDA), ordered by
  // start; times in ms from the first kernel. Empty where the backend has no kernel tracing.
  virtual void kernel_trace_begin() {}
  virtual std::vector<KernelRecord> kernel_trace_end() { return {}; }
  // The profiled pass holds the stream while the host enqueues a step, then releases it: the
  // device then runs the step's ops back to back, so per-op events time the device's work and
  // not the host's launch gaps. Any call that waits for the device releases the hold first.
  // No-ops where the backend runs ops synchronously.
  virtual void hold_stream() {}
  virtual void release_stream() {}
  // Evicts the device's cache (CUDA: overwrites twice the L2), so that the next kernel reads its
  // inputs from memory as a forward pass's layers do; false where it does nothing (the CPU).
  virtual bool flush_l2() { return false; }
  // The GEMM kernel chosen for every shape run so far (backend/gemm_algo.h); empty on the CPU.
  virtual std::vector<GemmAlgo> gemm_algos() const { return {}; }

  // --- ops ---
  // init: w[i] = dummy_weight_bits(seed, stream, i, scale) (base/rng.h) for every element, so all
  // backends hold the same bf16 values (the CPU as fp32).
  void init_dummy(Tensor w, uint64_t seed, uint64_t stream, float scale) {
    init_dummy_block(w, seed, stream, scale, 0, w.cols);
  }
  // init: w[r][c] = dummy_weight_bits(seed, stream, first_index + r * index_row_stride + c, scale):
  // w is a block of a larger tensor of index_row_stride columns that starts at element
  // first_index, and holds that tensor's values there (a rank's shard of a weight).
  virtual void init_dummy_block(Tensor w, uint64_t seed, uint64_t stream, float scale, int64_t first_index,
                                int64_t index_row_stride) = 0;
  // init: every element = value.
  virtual void fill(Tensor t, float value) = 0;
  // embedding: out[r] = table[ids[r]] for r < out.rows (also gathers rows of activations).
  virtual void embedding(Tensor out, Tensor table, const int32_t* ids) = 0;
  // norm: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, weight [1, cols]; out may alias x.
  virtual void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) = 0;
  // norm: residual += x; out = rmsnorm(residual) * weight. The sum is kept in residual's dtype
  // (bf16 on CUDA, as Hugging Face does in bf16).
  virtual void add_rmsnorm(Tensor residual, Tensor x, Tensor weight, Tensor out, float eps) = 0;
  // matmul: out[M,N] = x[M,K] * w[N,K]^T (+ bias[1,N]); fp32 accumulation. out may be F32 while
  // x and w are act_dtype() (the LM head writes fp32 logits).
  virtual void matmul(Tensor out, Tensor x, Tensor w, const Tensor* bias) = 0;
  // rope: (q/k norm, see RopeParams, then) rotate q [T, Hq*head_dim] and k [T, Hkv*head_dim] in
  // place at positions[t], then write
  // k and v [T, Hkv*head_dim] into the cache at slots[t]. q, k, v may be column slices of one
  // fused qkv buffer: row_stride is the distance in elements between consecutive rows.
  virtual void rope_kv_write(Tensor q, Tensor k, Tensor v, int64_t row_stride, int num_heads,
                             const int32_t* positions, const int32_t* slots, RopeParams rope,
                             KvLayer kv) = 0;
  // attention: out [T, Hq*head_dim] = softmax(q k^T * scale, causal) v over the paged cache, with
  // GQA (query head h reads KV head h / (Hq / Hkv)). q rows have stride row_stride.
  virtual void attention(Tensor out, Tensor q, int64_t row_stride, int num_heads, KvLayer kv,
                         const AttnMeta& meta, float scale) = 0;
  // activation: out[T, I] = silu(gate_up[:, :I]) * gate_up[:, I:].
  virtual void swiglu(Tensor out, Tensor gate_up) = 0;
  // argmax: out[r] = index of the largest logits[r] (F32), the lowest index on ties.
  virtual void argmax(int32_t* out, Tensor logits) = 0;

  // --- mixture of experts (backend/<name>/moe) ---
  // moe: topk_ids [T, top_k] and topk_weights [T, top_k] (fp32) of router_logits [T, E] (F32), see
  // MoeRouteParams. Equal scores: the lower expert index wins.
  virtual void moe_route(int32_t* topk_ids, float* topk_weights, Tensor router_logits, const MoeRouteParams& p) = 0;
  // moe: out[t] = sum_k topk_weights[t,k] * expert_{topk_ids[t,k]}(x[t]) (accumulate: out[t] += ...)
  // with SwiGLU experts fused per expert: gate_up [E*2I, D] holds expert e's gate rows at [2Ie, 2Ie+I)
  // and its up rows after them; down [E*D, I] holds expert e's rows at [De, De+D). Those E experts
  // are the model's experts [expert_begin, expert_begin + E) of num_experts (expert parallel: the
  // others live on other ranks); a slot choosing another rank's expert adds nothing here.
  virtual void moe_experts(Tensor out, Tensor x, Tensor gate_up, Tensor down, const int32_t* topk_ids,
                           const float* topk_weights, int top_k, bool accumulate, const MoeWorkspace& ws,
                           int64_t expert_begin, int64_t num_experts) = 0;
  // moe: y[t] *= sigmoid(x[t] . w), w [1, D] (qwen2_moe's gate on its shared expert).
  virtual void sigmoid_gate(Tensor y, Tensor x, Tensor w) = 0;

  // --- MLA: DeepSeek-V2/V3 multi-head latent attention in absorbed form (backend/<name>/mla) ---
  // The cache holds per token only the RMS-normalized latent c (kv_lora_rank L) and the rotated rope
  // key k_pe (qk_rope_head_dim R), shared by all heads: a KvLayer with k = the pool
  // [num_blocks][block_size][L + R] (row [c | k_pe]), v = nullptr, num_kv_heads = 1, head_dim = L + R.
  // kv_b_proj.weight [H*(nope+vd), L] holds per head h W_UK_h [nope, L] (rows h*(nope+vd) ..) and
  // W_UV_h [vd, L] (the vd rows after them). Since q_nope_h . (W_UK_h c) = (W_UK_h^T q_nope_h) . c,
  // one step is, without ever making per-head keys or values:
  //   q_latent_h = W_UK_h^T q_nope_h                                   matmul_heads, transpose_w
  //   rotate q_pe and k_pe; cache row = [rmsnorm(c) | k_pe]              mla_rope_kv_write
  //   o_h = sum_j softmax_j(scale (q_latent_h . c_j + q_pe_h . k_pe_j)) c_j   mla_attention
  //   out_h = W_UV_h o_h                                                 matmul_heads
  // A strided view of per-head slices: slice (r, h) is `cols` contiguous elements at
  // data + r * row_stride + h * head_stride (elements of `dtype`), e.g. head h's q_nope in the q
  // buffer [T, H*(nope+R)] has rows T, cols nope, row_stride H*(nope+R), head_stride nope+R, and
  // W_UK_h in kv_b_proj.weight has rows nope, cols L, row_stride L, head_stride (nope+vd)*L.
  struct HeadSlices {
    void* data = nullptr;
    DType dtype = DType::F32;
    int64_t rows = 0, heads = 0, cols = 0;
    int64_t row_stride = 0, head_stride = 0;
  };
  // mla: a batched matmul per head with fp32 accumulation, for every row t and head h:
  //   out(t,h)[n] = sum_k x(t,h)[k] * w(n,h)[k]   (w: N = out.cols rows of K = x.cols)
  //   or, with transpose_w, sum_k x(t,h)[k] * w(k,h)[n]   (w: K rows of N), so W_UK_h^T is read in
  //   place. out must not overlap x or w.
  virtual void matmul_heads(HeadSlices out, HeadSlices x, HeadSlices w, bool transpose_w) = 0;
  // mla: for every token t (row of kv_a [T, L + R], the kv_a_proj_with_mqa output, left unchanged):
  // c = kv_a[t, :L] RMS-normalized with rope.k_norm [L] (kv_a_layernorm; eps rope.norm_eps; null:
  // copied as is), k_pe = kv_a[t, L:] rotated at positions[t], and [c | k_pe] written to the cache
  // at slots[t]; and each head's q_pe(t,h) (R = q_pe.cols) rotated in place. Rotation is DeepSeek's
  // interleaved-pair form (V2's complex multiply): pair i < R/2 is (x[2i], x[2i+1]) turned by
  // positions[t] * rope.inv_freq[i], cos and sin times rope.attn_factor. (V3's rope_interleave
  // writes the result de-interleaved; q_pe and k_pe are permuted alike, so every score is equal.)
  // rope.q_norm must be null.
  virtual void mla_rope_kv_write(HeadSlices q_pe, Tensor kv_a, const int32_t* positions,
                                 const int32_t* slots, RopeParams rope, KvLayer kv) = 0;
  // mla: out [T, H*L] = for every query row t and head h, with H = q_pe.heads, R = q_pe.cols,
  // L = kv.head_dim - R: sum_j p_j c_j, p = softmax_j(scale * (q_latent(t,h) . c_j + q_pe(t,h) .
  // k_pe_j)) over the cache rows j = [c_j | k_pe_j] that row t attends to (causal, paged, AttnMeta
  // as in attention). q_latent [T, H*L]. scale is the model's: qk_head_dim^-0.5 (nope + R, not
  // L + R), times mscale^2 under yarn with mscale_all_dim. out must not overlap q_latent or q_pe.
  virtual void mla_attention(Tensor out, Tensor q_latent, HeadSlices q_pe, KvLayer kv,
                             const AttnMeta& meta, float scale) = 0;
  // The decompressed form, for a step none of whose sequences has a cached prefix (a prefill:
  // model/attention_mla.cc says when it runs): per-head keys and values up-projected from the
  // step's latents with kv_b_proj, then ordinary causal attention, whose qk head dim (nope + R)
  // differs from its v head dim, over those rows of the step rather than the cache:
  // mla: out(t,h) = sum_j p_j v(j,h), p = softmax_j(scale * q(t,h) . [k(j,h) | k_rope(j,h)]) over
  // the rows j <= t of t's sequence (meta: q_start; every ctx_len must equal its q_len, and
  // block_table is not read). The key comes in two column parts: MLA's k_nope per head, and its
  // k_pe, which k_rope's head_stride 0 shares among all heads. q.cols = k.cols + k_rope.cols,
  // out.cols = v.cols, every view has q.heads heads and at least the step's rows; out must not
  // overlap the inputs.
  virtual void attention_dense(HeadSlices out, HeadSlices q, HeadSlices k, HeadSlices k_rope, HeadSlices v,
                               const AttnMeta& meta, float scale) = 0;

  // --- kernel paths ---
  // Which path each op family with more than one took since the last call: "fast" (kernels for
  // the common sizes), "general" (any size the engine accepts) or "fast+general", by op name.
  // Noted when an op is enqueued, so graph replays add nothing. Empty where a backend has one path.
  std::map<std::string, std::string> take_kernel_paths() {
    std::map<std::string, std::string> out;
    for (const auto& [op, bits] : paths_) out[op] = bits == 1 ? "fast" : bits == 2 ? "general" : "fast+general";
    paths_.clear();
    return out;
  }

 protected:
  void note_path(const char* op, bool general) { paths_[op] |= general ? 2 : 1; }

 private:
  std::map<std::string, int> paths_;  // bit 1: fast, bit 2: general
};

}  // namespace gpubench
