// The fp32 reference backend: host memory, synchronous ops, every op threaded over a small pool.
// Each op is defined in the file of its name (init.cc, norm.cc, ...), beside which the CUDA kernel
// of the same name lives in backend/cuda/.
#pragma once
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/parallel.h"
#include "backend/op_checks.h"
#include "base/error.h"

namespace gpubench {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int threads);

  std::string name() const override { return "cpu"; }
  DType act_dtype() const override { return DType::F32; }
  DeviceInfo device_info() const override;
  void* alloc(size_t bytes) override;
  void release(void* p) override;
  void copy_to_device(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_device(void* dst, const void* src, size_t bytes) override;
  void upload_f32(Tensor dst, const float* host_src) override;
  void download_f32(float* host_dst, Tensor src) override;

  void synchronize() override {}
  Event event_create() override;
  void event_record(Event e) override;
  float event_elapsed_ms(Event start, Event end) override;
  void event_destroy(Event e) override;
  bool supports_graphs() const override { return false; }

  void init_dummy_block(Tensor w, uint64_t seed, uint64_t stream, float scale, int64_t first_index,
                        int64_t index_row_stride) override;
  void fill(Tensor t, float value) override;
  void embedding(Tensor out, Tensor table, const int32_t* ids) override;
  void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) override;
  void add_rmsnorm(Tensor residual, Tensor x, Tensor weight, Tensor out, float eps) override;
  void matmul(Tensor out, Tensor x, Tensor w, const Tensor* bias) override;
  void rope_kv_write(Tensor q, Tensor k, Tensor v, int64_t row_stride, int num_heads,
                     const int32_t* positions, const int32_t* slots, RopeParams rope,
                     KvLayer kv) override;
  void attention(Tensor out, Tensor q, int64_t row_stride, int num_heads, KvLayer kv,
                 const AttnMeta& meta, float scale) override;
  void swiglu(Tensor out, Tensor gate_up) override;
  void argmax(int32_t* out, Tensor logits) override;
  void moe_route(int32_t* topk_ids, float* topk_weights, Tensor router_logits, const MoeRouteParams& p) override;
  void moe_experts(Tensor out, Tensor x, Tensor gate_up, Tensor down, const int32_t* topk_ids,
                   const float* topk_weights, int top_k, bool accumulate, const MoeWorkspace& ws,
                   int64_t expert_begin, int64_t num_experts) override;
  void sigmoid_gate(Tensor y, Tensor x, Tensor w) override;
  void matmul_heads(HeadSlices out, HeadSlices x, HeadSlices w, bool transpose_w) override;
  void mla_rope_kv_write(HeadSlices q_pe, Tensor kv_a, const int32_t* positions, const int32_t* slots,
                         RopeParams rope, KvLayer kv) override;
  void mla_attention(Tensor out, Tensor q_latent, HeadSlices q_pe, KvLayer kv, const AttnMeta& meta,
                     float scale) override;
  void attention_dense(HeadSlices out, HeadSlices q, HeadSlices k, HeadSlices k_rope, HeadSlices v,
                       const AttnMeta& meta, float scale) override;

 private:
  ThreadPool pool_;
};

// 1 / sqrt(mean(x[0..n)^2) + eps): the RMSNorm scale, shared by norm.cc and rope.cc's q/k norm.
float rms_inv(const float* x, int64_t n, float eps);

// Dot product with eight independent partial sums, so the compiler vectorizes it without
// reassociating (attention and MLA attention scores).
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float sum = 0.0f;
  for (int l = 0; l < 8; ++l) sum += acc[l];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// p[0..n) = softmax(p[0..n)) in place, exp taken against the max (attention and MLA attention).
inline void softmax_in_place(float* p, int64_t n) {
  float max = -INFINITY;
  for (int64_t j = 0; j < n; ++j) max = std::max(max, p[j]);
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - max));
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
}

// Slice (r, h) of an fp32 HeadSlices view (backend.h).
inline float* head_slice(const Backend::HeadSlices& v, int64_t r, int64_t h) {
  return static_cast<float*>(v.data) + r * v.row_stride + h * v.head_stride;
}

// Bounds of a step's attention metadata (attention.cc; used by mla.cc too).
void check_attn_meta(const char* op, const AttnMeta& m, const KvLayer& kv, int64_t rows);

// threads 0: one per hardware thread.
std::unique_ptr<Backend> make_cpu_backend(int threads);

// Argument checks of the CPU op files (and op_checks.h's); `what` names the tensor in the message.
inline void check_f32(const char* op, const char* what, const Tensor& t) {
  if (t.dtype != DType::F32)
    invalid(op, what, " is ", dtype_name(t.dtype), ", the cpu backend needs f32");
}

inline void check_float(const char* op, const char* what, const Tensor& t) {
  if (t.dtype == DType::I32) invalid(op, what, " is i32, expected f32 or bf16");
}

}  // namespace gpubench
