// Standalone test of native/core/host_communicator (W rank threads against a naive sum, the same
// bits on every rank whatever order the threads arrive in, abort releasing waiting peers) and of
// native/core/layout (shards that tile the model, one-line errors for layouts that do not split),
// and the NCCL communicator's load (its collectives run in the CUDA op tests on the GPU machine).
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "core/host_communicator.h"
#include "core/nccl_communicator.h"
#include "core/layout.h"

using namespace gpubench;
using namespace gpubench_test;

namespace {

// fn(rank) on W threads, rank r starting after a delay that depends on `order`, so that the
// arrival order differs between calls.
void on_ranks(int W, int order, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < W; ++r) {
    threads.emplace_back([&, r] {
      std::this_thread::sleep_for(std::chrono::microseconds(200 * ((r + order) % W)));
      fn(r);
    });
  }
  for (auto& t : threads) t.join();
}

std::vector<float> rank_data(int r, size_t n) { return random_vec(n, 100 + r); }

void test_all_reduce(int W, int64_t rows, int64_t cols) {
  const size_t n = (size_t)(rows * cols);
  std::vector<double> want(n, 0.0);
  for (int r = 0; r < W; ++r) {
    std::vector<float> v = rank_data(r, n);
    for (size_t i = 0; i < n; ++i) want[i] += v[i];
  }
  std::vector<std::vector<float>> first;
  for (int order = 0; order < 3; ++order) {
    HostComms comms(W);
    std::vector<std::vector<float>> data(W);
    for (int r = 0; r < W; ++r) data[r] = rank_data(r, n);
    on_ranks(W, order, [&](int r) { comms.ranks[r]->all_reduce(t32(data[r], rows, cols)); });
    const std::string name = "all_reduce W" + std::to_string(W) + " " + std::to_string(rows) + "x" + std::to_string(cols);
    if (order == 0) {
      check_close(name + " = the sum", data[0], want);
      first = data;
    }
    bool same = true;
    for (int r = 0; r < W; ++r) same = same && data[r] == first[0];
    check(name + " arrival order " + std::to_string(order) + ": the same bits on every rank and run", same);
  }
}

void test_gather_scatter(int W) {
  const int64_t rows = 3, cols = 5, n = rows * cols;
  HostComms comms(W);
  std::vector<std::vector<float>> in(W), gathered(W, std::vector<float>((size_t)(W * n), kNaN));
  for (int r = 0; r < W; ++r) in[r] = rank_data(r, (size_t)n);
  on_ranks(W, 1, [&](int r) { comms.ranks[r]->all_gather(t32(gathered[r], W * rows, cols), t32(in[r], rows, cols)); });
  std::vector<double> want_gather;
  for (int r = 0; r < W; ++r) want_gather.insert(want_gather.end(), in[r].begin(), in[r].end());
  for (int r = 0; r < W; ++r) check_close("all_gather W" + std::to_string(W) + " rank " + std::to_string(r), gathered[r], want_gather, 0);

  // reduce_scatter of per-rank [W * rows, cols] inputs: rank r gets block r summed over the ranks.
  std::vector<std::vector<float>> big(W), out(W, std::vector<float>((size_t)n, kNaN));
  for (int r = 0; r < W; ++r) big[r] = rank_data(10 + r, (size_t)(W * n));
  on_ranks(W, 2, [&](int r) { comms.ranks[r]->reduce_scatter(t32(out[r], rows, cols), t32(big[r], W * rows, cols)); });
  for (int r = 0; r < W; ++r) {
    std::vector<double> want((size_t)n, 0.0);
    for (int k = 0; k < W; ++k)
      for (int64_t i = 0; i < n; ++i) want[(size_t)i] += big[k][(size_t)(r * n + i)];
    check_close("reduce_scatter W" + std::to_string(W) + " rank " + std::to_string(r), out[r], want);
  }
}

void test_abort() {
  // Rank 1 fails before its collective: rank 0, already waiting, is released with an error.
  HostComms comms(2);
  std::vector<float> v(4, 1.0f);
  std::string got;
  on_ranks(2, 0, [&](int r) {
    if (r == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      comms.group->abort();
      return;
    }
    try {
      comms.ranks[0]->all_reduce(t32(v, 1, 4));
    } catch (const Error& e) {
      got = e.what();
    }
  });
  check("abort releases a waiting rank with a one-line error", got == "collective abandoned: another rank failed", got);
  comms.group->reset();
  std::vector<std::vector<float>> d{{1, 2}, {3, 4}};
  on_ranks(2, 0, [&](int r) { comms.ranks[r]->all_reduce(t32(d[r], 1, 2)); });
  check("after reset the group reduces again", d[0] == std::vector<float>{4, 6} && d[1] == d[0]);
}

ModelSpec moe_spec() {
  ModelSpec s;
  s.model_type = "qwen2_moe";
  s.hidden_size = 64;
  s.intermediate_size = 96;
  s.num_layers = 2;
  s.num_heads = 4;
  s.num_kv_heads = 2;
  s.head_dim = 16;
  s.moe.num_experts = 8;
  s.moe.top_k = 2;
  s.moe.expert_intermediate_size = 32;
  s.moe.shared_intermediate_size = 48;
  s.moe.layer_is_moe = {false, true};
  return s;
}

void test_layout() {
  const ModelSpec s = moe_spec();
  // Every layout the tests run: the shards tile heads, experts and intermediate sizes exactly once.
  for (Layout l : {Layout{2, 1, 1}, Layout{4, 1, 1}, Layout{2, 1, 2}, Layout{4, 1, 4}, Layout{1, 2, 2}, Layout{2, 2, 4}}) {
    validate_layout(s, l);
    const std::string name = "layout tp" + std::to_string(l.tp) + " dp" + std::to_string(l.dp) + " ep" + std::to_string(l.ep);
    std::vector<int> heads(s.num_heads), expert_cols(s.moe.num_experts * s.moe.expert_intermediate_size),
        shared(s.moe.shared_intermediate_size);
    bool kv_ok = true;
    for (int64_t r = 0; r < l.world(); ++r) {
      const ShardSpec z = shard_spec(s, l, r);
      if (z.dp_rank == 0)
        for (int64_t h = 0; h < z.q_heads.size; ++h) ++heads[z.q_heads.begin + h];
      // Each q head's KV head (h / group) is one this rank holds.
      const int64_t group = s.num_heads / s.num_kv_heads;
      for (int64_t h = z.q_heads.begin; h < z.q_heads.begin + z.q_heads.size; ++h)
        kv_ok = kv_ok && h / group >= z.kv_heads.begin && h / group < z.kv_heads.begin + z.kv_heads.size;
      for (int64_t e = z.experts.begin; e < z.experts.begin + z.experts.size; ++e)
        for (int64_t c = 0; c < z.expert_inter.size; ++c) ++expert_cols[e * s.moe.expert_intermediate_size + z.expert_inter.begin + c];
      for (int64_t c = 0; c < z.shared_inter.size; ++c) ++shared[z.shared_inter.begin + c];
    }
    const auto once = [](const std::vector<int>& v) { return std::all_of(v.begin(), v.end(), [](int x) { return x == 1; }); };
    check(name + ": heads of a DP group, expert columns and shared columns each held once",
          once(heads) && once(expert_cols) && once(shared));
    check(name + ": every q head's KV head is on its rank", kv_ok);
  }
  const ShardSpec z = shard_spec(s, Layout{4, 1, 1}, 3);
  check("tp 4 over 2 KV heads: rank 3 keeps KV head 1 alone", z.kv_heads.begin == 1 && z.local.num_kv_heads == 1 &&
                                                                   z.local.num_heads == 1 && z.local.intermediate_size == 24);
  check_throws("heads not divisible", ErrorCode::InvalidConfig, [&] { validate_layout(s, Layout{3, 1, 1}); });
  check_throws("experts not divisible", ErrorCode::InvalidConfig, [&] { validate_layout(s, Layout{1, 3, 3}); });
  check_throws("ep not dividing tp * dp", ErrorCode::InvalidArgument, [&] { validate_layout(s, Layout{2, 1, 4}); });
  check_throws("a zero tp", ErrorCode::InvalidArgument, [&] { validate_layout(s, Layout{0, 1, 1}); });
  ModelSpec dense = s;
  dense.model_type = "llama";
  dense.moe = MoeSpec{};
  check_throws("ep on a dense model", ErrorCode::InvalidConfig, [&] { validate_layout(dense, Layout{2, 1, 2}); });
}

// Where libnccl.so.2 cannot be loaded (CI, this machine), a group of NCCL ranks is one line that
// says what to install; where it can, its version reads as one.
void test_nccl_status() {
  const std::string status = nccl_status();
  if (status.rfind("NCCL ", 0) == 0) {
    check("nccl_status names a version: " + status, status.find('.') != std::string::npos);
    return;
  }
  check_throws("nccl_unique_ids without NCCL", ErrorCode::Device, [] { nccl_unique_ids(1); });
  try {
    NcclComms comms({});
    check("NcclComms without NCCL throws", false);
  } catch (const Error& e) {
    const std::string msg = e.what();
    check("NcclComms without NCCL: one Device error naming libnccl.so.2 and what to install (" + msg + ")",
          e.code == ErrorCode::Device && msg.find("libnccl.so.2") != std::string::npos &&
              msg.find("install NCCL") != std::string::npos && msg.find('\n') == std::string::npos);
  }
}

}  // namespace

int main() {
  for (int W : {1, 2, 3, 4}) {
    test_all_reduce(W, 7, 13);
    test_gather_scatter(W);
  }
  test_all_reduce(4, 1, 2);  // fewer elements than ranks: some chunks are empty
  test_abort();
  test_layout();
  test_nccl_status();
  return summary();
}
