// The CUDA backend: bf16 storage, fp32 math, one non-blocking stream, cuBLASLt for the GEMMs.
// Each op's member function lives in the .cu file of the same name as its CPU reference
// (init.cu, norm.cu, ...); cuda_backend.cu holds memory, copies, events and graphs.
//
// This header is plain C++ (the addon includes it from .cc files): CUDA handle types are
// forward-declared under the names the CUDA headers give them.
#pragma once
#include <cstddef>
#include <memory>

#include "backend/backend.h"

struct CUstream_st;      // cudaStream_t is CUstream_st*
struct cublasLtContext;  // cublasLtHandle_t is cublasLtContext*

namespace gpubench {

struct MatmulPlans;  // cached cuBLASLt descriptors and algorithms (matmul.cu)

class CudaBackend : public Backend {
 public:
  // Selects the device on the calling thread; the engine then makes every call from one thread.
  explicit CudaBackend(int device_index);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override;
  DType act_dtype() const override { return DType::BF16; }
  DeviceInfo device_info() const override;
  void* alloc(size_t bytes) override;
  void release(void* p) override;
  void copy_to_device(void* dst, const void* host_src, size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t bytes) override;
  void copy_device(void* dst, const void* src, size_t bytes) override;
  void upload_f32(Tensor dst, const float* host_src) override;
  void download_f32(float* host_dst, Tensor src) override;

  void bind_thread() override;
  void* stream_handle() override { return stream_; }
  void synchronize() override;
  Event event_create() override;
  void event_record(Event e) override;
  float event_elapsed_ms(Event start, Event end) override;
  void event_destroy(Event e) override;
  bool supports_graphs() const override { return true; }
  void capture_begin() override;
  Graph capture_end() override;
  void graph_replay(Graph g) override;
  void graph_destroy(Graph g) override;
  void kernel_trace_begin() override;
  std::vector<KernelRecord> kernel_trace_end() override;
  void hold_stream() override;
  void release_stream() override;
  bool flush_l2() override;
  // Which GEMM kernels matmul weighs: Auto times cuBLASLt's candidates and, for M <= 8, the own
  // kernel (matmul_small_m.cu) and keeps one by matmul.cu's rule; the op tests pin one of them, and
  // so does GPUBENCH_GEMM=cublaslt|small_m (read when the backend opens), to measure each in a forward.
  enum class GemmKernel { Auto, CublasLt, SmallM };
  void set_gemm_kernel(GemmKernel k) { gemm_kernel_ = k; }
  std::vector<GemmAlgo> gemm_algos() const override;

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

  // mixture of experts (moe.cu)
  void moe_route(int32_t* topk_ids, float* topk_weights, Tensor router_logits,
                 const MoeRouteParams& p) override;
  void moe_experts(Tensor out, Tensor x, Tensor gate_up, Tensor down, const int32_t* topk_ids,
                   const float* topk_weights, int top_k, bool accumulate, const MoeWorkspace& ws,
                   int64_t expert_begin, int64_t num_experts) override;
  void sigmoid_gate(Tensor y, Tensor x, Tensor w) override;

  // MLA (mla.cu)
  void matmul_heads(HeadSlices out, HeadSlices x, HeadSlices w, bool transpose_w) override;
  void mla_rope_kv_write(HeadSlices q_pe, Tensor kv_a, const int32_t* positions,
                         const int32_t* slots, RopeParams rope, KvLayer kv) override;
  void mla_attention(Tensor out, Tensor q_latent, HeadSlices q_pe, KvLayer kv,
                     const AttnMeta& meta, float scale) override;
  void attention_dense(HeadSlices out, HeadSlices q, HeadSlices k, HeadSlices k_rope, HeadSlices v,
                       const AttnMeta& meta, float scale) override;  // attention_dense.cu

 private:
  // One bf16 GEMM (or a strided batch of them) through cuBLASLt, what matmul and matmul_heads run
  // (matmul.cu): for each of `batch` problems, out[M,N] = x[M,K] * w^T for w [N,K] (w itself
  // for w [K,N] when w_kn) (+ bias[1,N], batch 1 only), fp32 accumulation; rows of out, x and w
  // are ld_* elements apart and problems stride_* elements apart. Shapes cuBLASLt has no
  // algorithm for run a general kernel; `op` names the op family whose path that is.
  struct GemmArgs {
    void* out;
    const void* x;
    const void* w;
    DType out_dtype;
    const Tensor* bias;
    int64_t m, n, k, batch;
    bool w_kn;
    int64_t ld_out, ld_x, ld_w, stride_out, stride_x, stride_w;
    const char* op = "matmul";
  };
  void gemm(const GemmArgs& g);
  void matmul_init();     // cuBLASLt handle and workspace (matmul.cu)
  void matmul_destroy();  // frees what matmul_init and the plan cache hold; never throws
  void destroy();         // frees everything; used by the destructor and a failed constructor

  int device_ = 0;
  int num_sms_ = 0;
  GemmKernel gemm_kernel_ = GemmKernel::Auto;
  bool pdl_ = false;    // dependent_launch_available(): decode-path kernels launch early (dependent_launch.cuh)
  bool wgmma_ = false;  // wgmma_available(): Hopper kernels for MoE prefill GEMMs and prefill attention
  CUstream_st* stream_ = nullptr;
  cublasLtContext* lt_ = nullptr;
  void* lt_workspace_ = nullptr;
  void* l2_flush_ = nullptr;  // overwritten by flush_l2 (the matmul tuner, the peaks, benchOp)
  size_t l2_flush_bytes_ = 0;
  MatmulPlans* plans_ = nullptr;
  // Split-KV decode partials (attention.cu). Fixed size, allocated once: ops never allocate.
  static constexpr size_t kAttnScratchBytes = size_t(32) << 20;
  void* attn_scratch_ = nullptr;
  // hold_stream's flag (stream_gate.cu): pinned host memory the gate kernel polls.
  int* gate_flag_ = nullptr;
  bool held_ = false;
};

std::unique_ptr<Backend> make_cuda_backend(int device_index);
int cuda_device_count();  // 0 when there is no driver or no device
DeviceInfo cuda_device_info(int index);

}  // namespace gpubench
