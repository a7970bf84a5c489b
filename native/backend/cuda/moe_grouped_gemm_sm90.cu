// The prefill grouped GEMM of moe_experts on Hopper's warpgroup MMA (wgmma, sm_90a): the same
// tiling and row gather as grouped_gemm_kernel in moe_grouped_gemm.cu, with each 64-row half of a
// 128 x 128 tile computed by one warpgroup from shared memory, without ldmatrix. cp.async fills
// the stages in the 128-byte swizzled layout wgmma reads (TMA could not gather the rows).
// Reference: moe_experts in backend/cpu/moe.cc, through moe.cu.
#include <cuda_runtime.h>

#include "backend/cuda/check.h"
#include "backend/cuda/moe_grouped_gemm.cuh"

// wgmma exists only in the sm_90a build; other builds keep the kernel empty and report it
// unavailable, so the mma.sync kernel runs there.
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GPUBENCH_WGMMA 1
#endif

namespace gpubench {

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 64, kStages = 3;
constexpr int kThreads = 256;                    // two warpgroups of 64 rows each
constexpr int kTileBytes = kBM * kBK * 2;        // one stage of A (and of B: kBN == kBM)
constexpr int kSmemBytes = 2 * kStages * kTileBytes + 1024;  // + room to align to 1024

#ifdef GPUBENCH_WGMMA
// Shared memory matrix descriptor of a K-major tile in the 128-byte swizzle: rows of 64 bf16
// (128 bytes), 8-row groups 1024 bytes apart (PTX ISA, "Matrix Descriptor Format").
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 |
         (uint64_t)1 << 62;
}

// d[64 x 128] += A[64 x 16] B[16 x 128], both from shared memory: thread t of the warpgroup
// holds, for each 8-column block j, rows 16 (t / 32) + (t % 32) / 4 (+ 8) and columns
// 8 j + 2 (t % 4) (+ 1), as mma.sync's C fragments.
__device__ __forceinline__ void wgmma_128(float (&d)[64], uint64_t a, uint64_t b) {
  // scale-d is a predicate: 1 adds the product to d (which starts at zero).
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(a), "l"(b), "r"(1));
}
#endif

__global__ void __launch_bounds__(kThreads) wgmma_grouped_kernel(GroupedGemm g) {
#ifdef GPUBENCH_WGMMA
  extern __shared__ uint8_t smem_raw[];
  const TileRef tile = find_tile<kBM>(g.offsets, g.experts, blockIdx.y);
  if (tile.expert < 0) return;  // the grid covers the worst routing; this step has fewer tiles
  const int n0 = blockIdx.x * kBN;
  const int tid = threadIdx.x;
  // Stage s of A at base + s * kTileBytes, of B after all of A's; 1024-aligned for the swizzle.
  const uint32_t raw = (uint32_t)__cvta_generic_to_shared(smem_raw);
  const uint32_t base = (raw + 1023) & ~1023u;
  const uint32_t b_base = base + kStages * kTileBytes;

  // Each thread copies 4 chunks of 16 bytes of A and of B per stage: rows tid / 8 + 32 j, chunk
  // tid % 8, stored at chunk (c ^ row % 8) of its 128-byte row (the swizzle).
  const int c = tid % 8;
  const bf16* a_src[4];
  const bf16* b_src[4];
  uint32_t dst[4];
  const bf16* w_expert = g.w + (int64_t)tile.expert * g.n * g.k;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int r = tid / 8 + 32 * j;
    a_src[j] = nullptr;
    if (r < tile.rows) {
      const int row = tile.row0 + r;
      a_src[j] = g.in + (int64_t)(g.order ? g.order[row] / g.top_k : row) * g.k;
    }
    b_src[j] = n0 + r < g.n ? w_expert + (int64_t)(n0 + r) * g.k : nullptr;
    dst[j] = r * 128 + ((c ^ (r % 8)) << 4);
  }
  auto load_stage = [&](int stage, int kt) {
    const int k = kt * kBK + c * 8;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const bool va = a_src[j] && k < g.k, vb = b_src[j] && k < g.k;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(base + stage * kTileBytes + dst[j]),
                   "l"(va ? a_src[j] + k : g.in), "r"(va ? 16 : 0));
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(b_base + stage * kTileBytes + dst[j]),
                   "l"(vb ? b_src[j] + k : g.w), "r"(vb ? 16 : 0));
    }
  };

  float d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0.0f;
  const int wg = tid / 128;  // this warpgroup's 64 rows: wg * 64 ...
  const int ktiles = (g.k + kBK - 1) / kBK;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kStages - 2>();
    // This thread's copies, written through the generic proxy, become visible to wgmma's async
    // proxy; the barrier then publishes everyone's, and tells that the stage about to be
    // refilled (read by the MMAs of tile kt - 1, which every warpgroup waited for) is free.
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    if (kt + kStages - 1 < ktiles) load_stage((kt + kStages - 1) % kStages, kt + kStages - 1);
    cp_async_commit();
    const int st = kt % kStages;
    const uint32_t a_tile = base + st * kTileBytes + wg * 64 * 128, b_tile = b_base + st * kTileBytes;
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) wgmma_128(d, smem_desc(a_tile + kk * 32), smem_desc(b_tile + kk * 32));
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
  }

  const int warp = (tid % 128) / 32, lane = tid % 32;
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = wg * 64 + warp * 16 + lane / 4 + 8 * h, col = n0 + j * 8 + 2 * (lane % 4);
      if (r < tile.rows && col < g.n)
        *reinterpret_cast<uint32_t*>(g.out + (int64_t)(tile.row0 + r) * g.n + col) =
            pack_bf16x2(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]);
    }
#endif
}

// Writes 1 where the running build has the wgmma kernel's body (sm_90a), 0 elsewhere.
__global__ void wgmma_probe_kernel(int* out) {
#ifdef GPUBENCH_WGMMA
  *out = 1;
#else
  *out = 0;
#endif
}

}  // namespace

bool wgmma_grouped_gemm_available() {
  int* flag = nullptr;
  int host = 0;
  CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
  wgmma_probe_kernel<<<1, 1>>>(flag);
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t copied = cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(flag);
  CUDA_CHECK(launched);
  CUDA_CHECK(copied);
  return host == 1;
}

void launch_wgmma_grouped_gemm(const GroupedGemm& g, int64_t slots, cudaStream_t stream) {
  const dim3 grid((unsigned)((g.n + kBN - 1) / kBN), (unsigned)max_row_tiles(slots, g.experts, kBM));
  CUDA_CHECK(cudaFuncSetAttribute(wgmma_grouped_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  wgmma_grouped_kernel<<<grid, kThreads, kSmemBytes, stream>>>(g);
  check_launch();
}

}  // namespace gpubench
