#include "core/host_communicator.h"

#include <cstring>
#include <string>

#include "base/error.h"
#include "base/rng.h"

namespace gpubench {

namespace {

float load(const Tensor& t, int64_t i) {
  if (t.dtype == DType::BF16) return bf16_bits_to_f32(static_cast<const uint16_t*>(t.data)[i]);
  return static_cast<const float*>(t.data)[i];
}

void store(const Tensor& t, int64_t i, float v) {
  if (t.dtype == DType::BF16) {
    static_cast<uint16_t*>(t.data)[i] = f32_to_bf16_bits(v);
  } else {
    static_cast<float*>(t.data)[i] = v;
  }
}

// Elements [begin, end) of dst = the sum over the ranks' src tensors, element src_offset + i for
// dst's i, in rank order, accumulated in fp32.
void sum_ranks(const std::vector<Tensor>& src, int64_t src_offset, const Tensor& dst, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    float acc = load(src[0], src_offset + i);
    for (size_t k = 1; k < src.size(); ++k) acc += load(src[k], src_offset + i);
    store(dst, i, acc);
  }
}

}  // namespace

HostCommGroup::HostCommGroup(int size) : size_(size), in_(size) {}

void HostCommGroup::abort() {
  std::lock_guard<std::mutex> lock(mu_);
  aborted_ = true;
  cv_.notify_all();
}

void HostCommGroup::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  aborted_ = false;
  arrived_ = 0;
}

void HostCommGroup::barrier() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto abandoned = [] { throw CollectiveAbandoned(); };
  if (aborted_) abandoned();
  const uint64_t gen = generation_;
  if (++arrived_ == size_) {
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return generation_ != gen || aborted_; });
  if (generation_ == gen) abandoned();
}

void HostCommunicator::post(Tensor in) {
  {
    std::lock_guard<std::mutex> lock(g_.mu_);
    g_.in_[rank_] = in;
  }
  g_.barrier();
  // Every rank sees the same posts, so all refuse a mismatch alike and none is left waiting.
  for (int k = 0; k < size(); ++k) {
    if (g_.in_[k].numel() != in.numel() || g_.in_[k].dtype != in.dtype) {
      fail(ErrorCode::Internal, "collective: rank " + std::to_string(k) + " posted " + std::to_string(g_.in_[k].numel()) +
                                    " elements, rank " + std::to_string(rank_) + " " + std::to_string(in.numel()));
    }
  }
}

void HostCommunicator::all_reduce(Tensor t) {
  check_collective("all_reduce", t, t, 1);
  post(t);
  // Reduce-scatter then all-gather, as a ring does: rank r sums chunk r into its own tensor (no
  // other rank reads chunk r of it meanwhile), then copies every other chunk from its owner.
  const int64_t n = t.numel(), W = size();
  const auto chunk = [&](int64_t k) { return std::make_pair(k * n / W, (k + 1) * n / W); };
  auto [begin, end] = chunk(rank_);
  sum_ranks(g_.in_, 0, t, begin, end);
  g_.barrier();
  const size_t elem = dtype_size(t.dtype);
  for (int64_t k = 0; k < W; ++k) {
    if (k == rank_) continue;
    auto [b, e] = chunk(k);
    std::memcpy((char*)t.data + b * elem, (const char*)g_.in_[k].data + b * elem, (size_t)(e - b) * elem);
  }
  g_.barrier();  // no rank writes its tensor again before every copy of it is done
}

void HostCommunicator::all_gather(Tensor out, Tensor in) {
  check_collective("all_gather", out, in, size());
  post(in);
  const size_t bytes = in.bytes();
  for (int k = 0; k < size(); ++k) std::memcpy((char*)out.data + k * bytes, g_.in_[k].data, bytes);
  g_.barrier();
}

void HostCommunicator::reduce_scatter(Tensor out, Tensor in) {
  check_collective("reduce_scatter", in, out, size());
  post(in);
  sum_ranks(g_.in_, rank_ * out.numel(), out, 0, out.numel());
  g_.barrier();
}

HostComms::HostComms(int size) : group(std::make_unique<HostCommGroup>(size)) {
  for (int r = 0; r < size; ++r) ranks.push_back(std::make_unique<HostCommunicator>(*group, r));
}

}  // namespace gpubench
