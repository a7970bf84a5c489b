#include "core/nccl_communicator.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include "base/error.h"

namespace gpubench {

namespace {

// The few NCCL declarations used here (nccl.h is not needed to build; these are NCCL 2's stable
// ABI): every function returns ncclResult_t, 0 on success; enums are C ints.
using ncclResult_t = int;
using ncclComm_t = void*;
struct ncclUniqueId {
  char internal[128];
};
constexpr int ncclInt32 = 2, ncclFloat32 = 7, ncclBfloat16 = 9;
constexpr int ncclSum = 0;

int nccl_dtype(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::BF16: return ncclBfloat16;
    case DType::I32: return ncclInt32;
  }
  return ncclFloat32;
}

}  // namespace

class NcclLibrary {
 public:
  ncclResult_t (*get_version)(int*) = nullptr;
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*comm_destroy)(ncclComm_t) = nullptr;
  ncclResult_t (*comm_abort)(ncclComm_t) = nullptr;
  ncclResult_t (*all_reduce)(const void*, void*, size_t, int, int, ncclComm_t, void*) = nullptr;
  ncclResult_t (*all_gather)(const void*, void*, size_t, int, ncclComm_t, void*) = nullptr;
  ncclResult_t (*reduce_scatter)(const void*, void*, size_t, int, int, ncclComm_t, void*) = nullptr;
  ncclResult_t (*group_start)() = nullptr;
  ncclResult_t (*group_end)() = nullptr;
  const char* (*error_string)(ncclResult_t) = nullptr;
  std::string problem;  // empty when loaded
  int version = 0;

  // Loaded once per process and kept: NCCL keeps threads and state of its own.
  static const NcclLibrary& get() {
    static NcclLibrary lib;
    return lib;
  }

  const NcclLibrary& require() const {
    if (!problem.empty()) {
      fail(ErrorCode::Device, "tp * dp > 1 on CUDA needs NCCL: " + problem +
                                  " (install NCCL 2, e.g. the libnccl2 package or the nvidia-nccl wheel, so that "
                                  "libnccl.so.2 is in the library path)");
    }
    return *this;
  }

  void check(ncclResult_t r, const char* what) const {
    if (r != 0) fail(ErrorCode::Device, std::string(what) + " failed: " + error_string(r));
  }

 private:
  NcclLibrary() {
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      problem = "libnccl.so.2 not found";
      return;
    }
    const bool ok = load(lib, "ncclGetVersion", get_version) && load(lib, "ncclGetUniqueId", get_unique_id) &&
                    load(lib, "ncclCommInitRank", comm_init_rank) && load(lib, "ncclCommDestroy", comm_destroy) &&
                    load(lib, "ncclCommAbort", comm_abort) && load(lib, "ncclAllReduce", all_reduce) &&
                    load(lib, "ncclAllGather", all_gather) && load(lib, "ncclReduceScatter", reduce_scatter) &&
                    load(lib, "ncclGroupStart", group_start) && load(lib, "ncclGroupEnd", group_end) &&
                    load(lib, "ncclGetErrorString", error_string);
    if (!ok) {
      problem = "libnccl.so.2 lacks an NCCL function this needs";
      return;
    }
    // ncclBfloat16 exists from NCCL 2.10 (version code 21000).
    if (get_version(&version) != 0 || version < 21000) problem = "NCCL " + std::to_string(version) + " is older than 2.10";
  }

  template <typename F>
  static bool load(void* lib, const char* name, F& fn) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
    return fn != nullptr;
  }
};

NcclCommunicator::~NcclCommunicator() {
  if (comm_) nccl_.comm_destroy(comm_);
}

// A communicator aborted after a failed step has no NCCL state left to use.
void NcclCommunicator::live(const char* op) const {
  if (!comm_) fail(ErrorCode::Device, std::string(op) + ": the NCCL communicator was aborted after a failed step (reopen the engine)");
}

void NcclCommunicator::all_reduce(Tensor t) {
  check_collective("all_reduce", t, t, 1);
  live("all_reduce");
  nccl_.check(nccl_.all_reduce(t.data, t.data, (size_t)t.numel(), nccl_dtype(t.dtype), ncclSum, comm_, be_.stream_handle()),
              "ncclAllReduce");
}

void NcclCommunicator::all_gather(Tensor out, Tensor in) {
  check_collective("all_gather", out, in, size_);
  live("all_gather");
  nccl_.check(nccl_.all_gather(in.data, out.data, (size_t)in.numel(), nccl_dtype(in.dtype), comm_, be_.stream_handle()),
              "ncclAllGather");
}

void NcclCommunicator::reduce_scatter(Tensor out, Tensor in) {
  check_collective("reduce_scatter", in, out, size_);
  live("reduce_scatter");
  nccl_.check(nccl_.reduce_scatter(in.data, out.data, (size_t)out.numel(), nccl_dtype(in.dtype), ncclSum, comm_,
                                   be_.stream_handle()),
              "ncclReduceScatter");
}

void NcclCommunicator::abort() {
  if (comm_) nccl_.comm_abort(comm_);
  comm_ = nullptr;
}

NcclComms::NcclComms(const std::vector<Backend*>& backends) : backends_(backends) {
  const NcclLibrary& nccl = NcclLibrary::get().require();
  const std::vector<ncclComm_t> comms = init_all();
  const int n = (int)backends_.size();
  for (int r = 0; r < n; ++r) ranks.push_back(std::make_unique<NcclCommunicator>(nccl, comms[r], *backends_[r], r, n));
}

std::vector<ncclComm_t> NcclComms::init_all() {
  const NcclLibrary& nccl = NcclLibrary::get().require();
  const int n = (int)backends_.size();
  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  nccl.check(nccl.get_unique_id(&id), "ncclGetUniqueId");
  // One thread initializing every rank: each ncclCommInitRank on its rank's device, inside a group
  // (what ncclCommInitAll does, for backends that know their device).
  std::vector<ncclComm_t> comms(n, nullptr);
  nccl.check(nccl.group_start(), "ncclGroupStart");
  for (int r = 0; r < n; ++r) {
    backends_[r]->bind_thread();
    nccl.check(nccl.comm_init_rank(&comms[r], n, id, r), "ncclCommInitRank");
  }
  nccl.check(nccl.group_end(), "ncclGroupEnd");
  if (n > 0) backends_[0]->bind_thread();
  return comms;
}

void NcclComms::abort() {
  for (auto& r : ranks) r->abort();
  aborted_ = true;
}

void NcclComms::reset() {
  if (!aborted_) return;
  const std::vector<ncclComm_t> comms = init_all();
  for (size_t r = 0; r < ranks.size(); ++r) ranks[r]->comm_ = comms[r];
  aborted_ = false;
}

std::string nccl_unique_ids(int n) {
  const NcclLibrary& nccl = NcclLibrary::get().require();
  std::string ids;
  for (int i = 0; i < n; ++i) {
    ncclUniqueId id;
    nccl.check(nccl.get_unique_id(&id), "ncclGetUniqueId");
    ids.append(id.internal, sizeof id.internal);
  }
  return ids;
}

std::unique_ptr<NcclCommunicator> nccl_join(const std::string& id, int size, int rank, Backend& be) {
  const NcclLibrary& nccl = NcclLibrary::get().require();
  ncclUniqueId uid;
  if (id.size() != sizeof uid.internal) {
    fail(ErrorCode::InvalidArgument, "NCCL unique id of " + std::to_string(id.size()) + " bytes (allowed: 128, from nccl_unique_ids)");
  }
  std::memcpy(uid.internal, id.data(), sizeof uid.internal);
  be.bind_thread();
  ncclComm_t comm = nullptr;
  nccl.check(nccl.comm_init_rank(&comm, size, uid, rank), "ncclCommInitRank");
  return std::make_unique<NcclCommunicator>(nccl, comm, be, rank, size);
}

std::string nccl_status() {
  const NcclLibrary& nccl = NcclLibrary::get();
  if (!nccl.problem.empty()) return nccl.problem;
  const int v = nccl.version;  // e.g. 22803: major * 10000 + minor * 100 + patch
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace gpubench
