#include "engine/op_bench.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "model/rope.h"

namespace gpubench {

namespace {

// Every buffer of one case, released however the case ends.
class Buffers {
 public:
  explicit Buffers(Backend& be) : be_(be) {}
  ~Buffers() {
    for (void* p : ptrs_) be_.release(p);
  }
  // Dummy values of the weights' distribution, so every op sees finite, varied inputs.
  Tensor tensor(int64_t rows, int64_t cols, DType t, uint64_t seed) {
    Tensor x{alloc((size_t)(rows * cols) * dtype_size(t)), t, rows, cols};
    be_.init_dummy(x, seed, seed, 1.0f);
    return x;
  }
  template <typename T>
  T* upload(const std::vector<T>& host) {
    void* p = alloc(host.size() * sizeof(T));
    be_.copy_to_device(p, host.data(), host.size() * sizeof(T));
    return static_cast<T*>(p);
  }

 private:
  void* alloc(size_t bytes) {
    ptrs_.push_back(be_.alloc(std::max<size_t>(bytes, 4)));
    return ptrs_.back();
  }
  Backend& be_;
  std::vector<void*> ptrs_;
};

// A paged cache of `seqs` sequences of ctx tokens each, with sequence s in blocks
// [s * blocks_per_seq, (s + 1) * blocks_per_seq) in order, and the attention metadata of one step.
struct PagedCase {
  KvLayer kv;
  AttnMeta meta;
};

PagedCase make_paged(Buffers& buf, const ModelSpec& s, int64_t block_size, int64_t seqs, int64_t ctx,
                     int64_t q_len, DType t) {
  PagedCase c;
  const int64_t blocks_per_seq = (ctx + block_size - 1) / block_size;
  c.kv = KvLayer{nullptr, nullptr, seqs * blocks_per_seq, block_size, s.num_kv_heads, s.head_dim};
  const int64_t cache_rows = c.kv.num_blocks * s.num_kv_heads * block_size;
  c.kv.k = buf.tensor(cache_rows, s.head_dim, t, 11).data;
  c.kv.v = buf.tensor(cache_rows, s.head_dim, t, 12).data;
  std::vector<int32_t> q_start(seqs + 1), ctx_len(seqs, (int32_t)ctx), table(seqs * blocks_per_seq);
  for (int64_t i = 0; i <= seqs; ++i) q_start[i] = (int32_t)(i * q_len);
  for (int64_t i = 0; i < seqs * blocks_per_seq; ++i) table[i] = (int32_t)i;
  c.meta.num_seqs = (int)seqs;
  c.meta.max_q_len = (int)q_len;
  c.meta.max_ctx_len = (int)ctx;
  c.meta.max_blocks_per_seq = (int)blocks_per_seq;
  c.meta.q_start = buf.upload(q_start);
  c.meta.ctx_len = buf.upload(ctx_len);
  c.meta.block_table = buf.upload(table);
  return c;
}

void require(bool ok, const std::string& what) {
  if (!ok) fail(ErrorCode::InvalidArgument, "benchOp: " + what);
}

}  // namespace

OpTiming bench_op(Backend& be, const ModelSpec& s, int64_t block_size, const OpBenchCase& c) {
  require(c.calls >= 1 && c.warmup >= 0, "calls must be >= 1 and warmup >= 0");
  const DType t = be.act_dtype();
  const double e = (double)dtype_size(t);
  Buffers buf(be);
  OpTiming r;
  std::function<void()> op;
  bool flush = false;  // whether the op's inputs come from memory in a forward pass

  if (c.op == "matmul") {
    require(c.m >= 1 && c.n >= 1 && c.k >= 1, "matmul needs m, n, k >= 1");
    Tensor x = buf.tensor(c.m, c.k, t, 1), w = buf.tensor(c.n, c.k, t, 2), y = buf.tensor(c.m, c.n, t, 3);
    op = [&be, y, x, w] { be.matmul(y, x, w, nullptr); };
    flush = true;  // the weight streams from memory in a forward pass
    r.bytes = e * (double)(c.m * c.k + c.n * c.k + c.m * c.n);
    r.flops = 2.0 * c.m * c.n * c.k;
  } else if (c.op == "attention_decode" || c.op == "attention_prefill") {
    require(!s.is_mla(), "attention needs a grouped-query-attention model (not MLA)");
    const bool decode = c.op == "attention_decode";
    const int64_t seqs = decode ? c.batch : 1, ctx = decode ? c.ctx : c.tokens, q_len = decode ? 1 : c.tokens;
    require(seqs >= 1 && ctx >= 1, decode ? "attention_decode needs batch, ctx >= 1" : "attention_prefill needs tokens >= 1");
    PagedCase p = make_paged(buf, s, block_size, seqs, ctx, q_len, t);
    const int64_t T = seqs * q_len;
    Tensor q = buf.tensor(T, s.q_dim(), t, 4), out = buf.tensor(T, s.q_dim(), t, 5);
    const int heads = (int)s.num_heads;
    const float scale = 1.0f / std::sqrt((float)s.head_dim);
    op = [&be, out, q, heads, p, scale] { be.attention(out, q, q.cols, heads, p.kv, p.meta, scale); };
    // Decode reads every cached K and V row (from memory in a forward: flushed); prefill's K and
    // V were just written by rope_kv_write and it is compute-bound, so it runs as in the forward.
    flush = decode;
    r.bytes = e * (double)(2 * seqs * ctx * s.kv_dim() + 2 * T * s.q_dim());
    // q.k and p.v per query head and visible key: 2 * 2 * head_dim flops; causal prefill sees
    // (tokens + 1) / 2 keys per query on average.
    const double keys = decode ? (double)ctx : (double)(c.tokens + 1) / 2.0;
    r.flops = 4.0 * (double)T * (double)s.num_heads * (double)s.head_dim * keys;
  } else if (c.op == "rmsnorm" || c.op == "rope_kv_write" || c.op == "swiglu") {
    require(c.tokens >= 1, c.op + " needs tokens >= 1");
    const int64_t T = c.tokens;
    if (c.op == "rmsnorm") {
      Tensor x = buf.tensor(T, s.hidden_size, t, 1), w = buf.tensor(1, s.hidden_size, t, 2),
             out = buf.tensor(T, s.hidden_size, t, 3);
      const float eps = (float)s.rms_norm_eps;
      op = [&be, out, x, w, eps] { be.rmsnorm(out, x, w, eps); };
      r.bytes = e * (double)(2 * T * s.hidden_size + s.hidden_size);
    } else if (c.op == "swiglu") {
      Tensor gate_up = buf.tensor(T, 2 * s.intermediate_size, t, 1), out = buf.tensor(T, s.intermediate_size, t, 2);
      op = [&be, out, gate_up] { be.swiglu(out, gate_up); };
      r.bytes = e * (double)(3 * T * s.intermediate_size);
    } else {
      require(!s.is_mla(), "rope_kv_write needs a grouped-query-attention model (not MLA)");
      // One token per sequence at the end of a ctx-token cache (decode), or one sequence of T tokens.
      const int64_t ctx = std::max<int64_t>(c.ctx, 1);
      const bool decode = c.ctx > 0;
      PagedCase p = make_paged(buf, s, block_size, decode ? T : 1, decode ? ctx : T, decode ? 1 : T, t);
      std::vector<int32_t> positions(T), slots(T);
      for (int64_t i = 0; i < T; ++i) {
        positions[i] = (int32_t)(decode ? ctx - 1 : i);
        slots[i] = (int32_t)(decode ? i * p.meta.max_blocks_per_seq * block_size + ctx - 1 : i);
      }
      const RopeTable table = make_rope_table(s.rope, (int)s.head_dim);
      // qwen3's q/k norm runs inside the op, as in its forward.
      const void* q_norm = s.qk_norm ? buf.tensor(1, s.head_dim, t, 6).data : nullptr;
      const void* k_norm = s.qk_norm ? buf.tensor(1, s.head_dim, t, 7).data : nullptr;
      RopeParams rope{buf.upload(table.inv_freq), table.attn_factor, q_norm, k_norm, (float)s.rms_norm_eps};
      Tensor qkv = buf.tensor(T, s.qkv_dim(), t, 1);
      const auto columns = [&](int64_t from, int64_t cols) {
        return Tensor{(char*)qkv.data + (size_t)from * dtype_size(t), t, T, cols};
      };
      Tensor q = columns(0, s.q_dim()), k = columns(s.q_dim(), s.kv_dim()), v = columns(s.q_dim() + s.kv_dim(), s.kv_dim());
      const int heads = (int)s.num_heads;
      const int32_t* pos = buf.upload(positions);
      const int32_t* slot = buf.upload(slots);
      const int64_t stride = s.qkv_dim();
      op = [&be, q, k, v, stride, heads, pos, slot, rope, p] {
        be.rope_kv_write(q, k, v, stride, heads, pos, slot, rope, p.kv);
      };
      // Reads q, k, v; writes q and k back and k, v into the cache.
      r.bytes = e * (double)T * (double)(2 * s.q_dim() + 5 * s.kv_dim());
    }
  } else {
    require(false, "unknown op '" + c.op +
                       "' (matmul, attention_decode, attention_prefill, rmsnorm, rope_kv_write, swiglu)");
  }

  for (int i = 0; i < c.warmup; ++i) op();
  be.synchronize();
  Event a = be.event_create(), b = be.event_create();
  std::vector<double> ms;
  for (int i = 0; i < c.calls; ++i) {
    if (flush) r.l2_flushed = be.flush_l2();
    be.event_record(a);
    op();
    be.event_record(b);
    be.synchronize();
    ms.push_back(be.event_elapsed_ms(a, b));
  }
  be.event_destroy(a);
  be.event_destroy(b);
  std::sort(ms.begin(), ms.end());
  r.calls = (int)ms.size();
  r.min_ms = ms.front();
  r.median_ms = ms[ms.size() / 2];
  r.max_ms = ms.back();
  return r;
}

}  // namespace gpubench
