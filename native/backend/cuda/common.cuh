// Device helpers shared by the CUDA op files: 16-byte bf16 vectors, block reductions, and the
// tensor-core primitives (mma.sync, ldmatrix, cp.async) of attention_prefill.cu and
// moe_grouped_gemm.cu.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace gpubench {

using bf16 = __nv_bfloat16;

// 16-byte accesses need 16-byte aligned addresses; views (row(), column slices) may not be.
__host__ __device__ inline bool aligned(const void* p, uintptr_t bytes) {
  return ((uintptr_t)p & (bytes - 1)) == 0;
}
__host__ __device__ inline bool aligned16(const void* p) { return aligned(p, 16); }

// Eight bf16 values travel as one uint4 (one 16-byte load or store).
__device__ __forceinline__ void bf16x8_to_f32(const uint4& v, float f[8]) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

__device__ __forceinline__ uint4 f32_to_bf16x8(const float f[8]) {
  uint4 v;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block, returned to every thread. blockDim.x must be a multiple of 32. The
// trailing barrier lets a kernel call it again without the calls racing on `partial`.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < nwarps ? partial[lane] : 0.0f;
  v = warp_sum(v);
  __syncthreads();
  return v;
}

// ---- tensor cores: mma.sync m16n8k16 (bf16 in, fp32 accumulate), fed by ldmatrix from shared
// memory that cp.async fills. The fragment layouts are spelled out above attention_prefill.cu's
// kernel.

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm(  // no side effects beyond its operands: the compiler may schedule it freely
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, and r[i] holds
// row lane / 4, columns 2 (lane % 4) and +1 of it (.trans: column lane / 4, rows 2 (lane % 4)
// and +1).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf16* p) {
  const uint32_t addr = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const bf16* p) {
  const uint32_t addr = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16 bytes global -> shared without passing through registers; zero-filled when !valid (the
// source address is then not read but must still be a valid pointer).
// The shared-space address form (kernels that lay out their own swizzled shared memory).
__device__ __forceinline__ void cp_async_16(uint32_t smem_addr, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_16(bf16* smem, const bf16* gmem, bool valid) {
  cp_async_16((uint32_t)__cvta_generic_to_shared(smem), gmem, valid);
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// W elements per access, as fp32: 8 (one 16-byte vector) or 2 (one bf16 pair) when the row
// width and the base addresses allow it, else 1 (odd widths and unaligned views).
template <int W>
__device__ __forceinline__ void load(const bf16* p, int64_t unit, float (&f)[W]) {
  if constexpr (W == 8) {
    bf16x8_to_f32(reinterpret_cast<const uint4*>(p)[unit], f);
  } else if constexpr (W == 2) {
    const float2 v = __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(p)[unit]);
    f[0] = v.x;
    f[1] = v.y;
  } else {
    f[0] = __bfloat162float(p[unit]);
  }
}

template <int W>
__device__ __forceinline__ void store(bf16* p, int64_t unit, const float (&f)[W]) {
  if constexpr (W == 8) {
    reinterpret_cast<uint4*>(p)[unit] = f32_to_bf16x8(f);
  } else if constexpr (W == 2) {
    reinterpret_cast<__nv_bfloat162*>(p)[unit] = __floats2bfloat162_rn(f[0], f[1]);
  } else {
    p[unit] = __float2bfloat16_rn(f[0]);
  }
}

// (value, index) with the lower index winning ties; NaN never compares greater, so it is never
// chosen (argmax, moe_route).
struct Best {
  float v;
  int i;
};

__device__ __forceinline__ void consider(Best& b, float v, int i) {
  if (v > b.v || (v == b.v && i < b.i)) {
    b.v = v;
    b.i = i;
  }
}

}  // namespace gpubench
