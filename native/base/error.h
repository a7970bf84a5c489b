// Errors that cross into JavaScript: a stable code plus a one-line message.
// The addon maps each code to a JS error class (lib/base/errors.ts).
#pragma once
#include <stdexcept>
#include <string>

namespace gpubench {

enum class ErrorCode {
  InvalidArgument,  // a value outside what is allowed
  InvalidConfig,    // a model config that cannot be run
  DoesNotFit,       // KV pool or device memory too small for a point
  OutOfMemory,      // an allocation failed at run time
  Timeout,          // the batch did not fill in time
  Aborted,          // cancelled through an AbortSignal
  Weights,          // safetensors: missing tensor, wrong shape, truncated file
  Device,           // CUDA/driver failure
  Internal,
};

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::InvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ErrorCode::InvalidConfig: return "ERR_INVALID_CONFIG";
    case ErrorCode::DoesNotFit: return "ERR_DOES_NOT_FIT";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::Timeout: return "ERR_TIMEOUT";
    case ErrorCode::Aborted: return "ERR_ABORTED";
    case ErrorCode::Weights: return "ERR_WEIGHTS";
    case ErrorCode::Device: return "ERR_DEVICE";
    case ErrorCode::Internal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

struct Error : std::runtime_error {
  ErrorCode code;
  Error(ErrorCode c, const std::string& msg) : std::runtime_error(msg), code(c) {}
};

[[noreturn]] inline void fail(ErrorCode c, const std::string& msg) { throw Error(c, msg); }

}  // namespace gpubench
