// The NCCL communicator (core/nccl_communicator.h) on the GPU machine: a group of one rank on
// the test's device (every collective is then a copy: the values must come back bit for bit), and,
// where the machine has several GPUs, one rank per GPU, each on its own thread as the engine's
// rank threads call it, against the sums and concatenations computed on the host.
#include <thread>

#include "core/nccl_communicator.h"
#include "cuda_test_harness.h"

namespace gpubench::test {

namespace {

std::vector<float> values(int64_t n, int rank) {
  std::vector<float> v((size_t)n);
  // Small integers and halves: exact in bf16, and so are their sums over a few ranks.
  for (int64_t i = 0; i < n; ++i) v[i] = (float)((i * 7 + rank * 3) % 17) * 0.5f - 4.0f;
  return v;
}

void test_one_rank(DType dt) {
  Scope s;
  NcclComms comms({G});
  NcclCommunicator& c = *comms.ranks[0];
  const int64_t rows = 6, cols = 1000;
  const std::vector<float> v = values(rows * cols, 0);
  Tensor t{s.alloc(G, rows * cols * dtype_size(dt)), dt, rows, cols};
  Tensor out{s.alloc(G, rows * cols * dtype_size(dt)), dt, rows, cols};
  G->upload_f32(t, v.data());
  c.all_reduce(t);
  bool same = download(G, t) == v;
  G->upload_f32(out, std::vector<float>(v.size(), NAN).data());
  c.all_gather(out, t);
  same = same && download(G, out) == v;
  G->upload_f32(out, std::vector<float>(v.size(), NAN).data());
  c.reduce_scatter(out, t);
  same = same && download(G, out) == v;
  report(std::string("nccl one rank all_reduce/all_gather/reduce_scatter ") + dtype_name(dt), same, nccl_status());
}

// A group joined by id (as the processes of a launch join theirs), of one rank here.
void test_join() {
  Scope s;
  const std::string ids = nccl_unique_ids(2);
  bool ok = ids.size() == 256 && ids.substr(0, 128) != ids.substr(128);
  std::unique_ptr<NcclCommunicator> c = nccl_join(ids.substr(128), 1, 0, *G);
  const std::vector<float> v = values(3 * 77, 0);
  Tensor t{s.alloc(G, v.size() * 2), DType::BF16, 3, 77};
  G->upload_f32(t, v.data());
  c->all_reduce(t);
  ok = ok && download(G, t) == v;
  report("nccl join by id: two distinct ids, a one-rank all_reduce", ok, nccl_status());
}

// One rank per device, each collective called from the ranks' own threads.
void test_ranks(int n) {
  std::vector<std::unique_ptr<Backend>> owned;
  std::vector<Backend*> backends;
  for (int r = 0; r < n; ++r) {
    owned.push_back(make_cuda_backend(r));
    backends.push_back(owned.back().get());
  }
  NcclComms comms(backends);
  const int64_t rows = 4 * n, cols = 513;
  const int64_t part = rows / n * cols;
  std::vector<float> sum((size_t)(rows * cols), 0.0f), gathered;
  for (int r = 0; r < n; ++r) {
    const auto v = values(rows * cols, r);
    for (size_t i = 0; i < v.size(); ++i) sum[i] += v[i];
    gathered.insert(gathered.end(), v.begin(), v.begin() + rows / n * cols);
  }
  std::vector<int> ok(n, 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      Backend& be = *backends[r];
      be.bind_thread();
      Tensor t{be.alloc(rows * cols * 2), DType::BF16, rows, cols};
      Tensor piece{be.alloc(part * 2), DType::BF16, rows / n, cols};
      Tensor whole{be.alloc(rows * cols * 2), DType::BF16, rows, cols};
      const auto v = values(rows * cols, r);
      be.upload_f32(t, v.data());
      be.upload_f32(piece, v.data());
      comms.ranks[r]->all_gather(whole, piece);
      comms.ranks[r]->reduce_scatter(piece, t);
      comms.ranks[r]->all_reduce(t);
      be.synchronize();
      std::vector<float> got_sum(sum.size()), got_whole(gathered.size()), got_piece((size_t)part);
      be.download_f32(got_sum.data(), t);
      be.download_f32(got_whole.data(), whole);
      be.download_f32(got_piece.data(), piece);
      const std::vector<float> want_piece(sum.begin() + r * part, sum.begin() + (r + 1) * part);
      ok[r] = got_sum == sum && got_whole == gathered && got_piece == want_piece;
      for (void* p : {t.data, piece.data, whole.data}) be.release(p);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) report("nccl " + std::to_string(n) + " ranks, rank " + std::to_string(r), ok[r] != 0, nccl_status());
}

}  // namespace

void run_nccl_tests() {
  run("nccl", [] { test_one_rank(DType::BF16); });
  run("nccl", [] { test_one_rank(DType::F32); });
  run("nccl", test_join);
  const int n = cuda_device_count();
  if (n >= 2) {
    run("nccl", [n] { test_ranks(n); });
  } else {
    std::printf("SKIP nccl several ranks: %d CUDA device(s)\n", n);
  }
}

}  // namespace gpubench::test
