#!/usr/bin/env bash
# Issue 14's runs on several GPUs of one host (a device kind with 2, 4 or 8 GPUs), in one call: the
# CUDA build; the NCCL collectives over every GPU (cuda_ops_test nccl); sharded engines against one
# GPU, in one process and as two processes (test/gpu/parallel.test.ts, process-rank.test.ts); then
# the layouts' benchmarks with the per-op profile that shows all-reduce and all-gather time per
# layer, as JSONL under $OUT. Layouts larger than the machine are skipped. Run from the repository
# root with node on PATH.
set -o pipefail
out="${OUT:-out/gpu-multi}"
mkdir -p "$out"
t0=$(date +%s)
elapsed() { echo "[$(($(date +%s) - t0))s] $*"; }
n=$(nvidia-smi -L | wc -l)
echo "GPUs: $n"
npx cmake-js compile --out build --parallel 16 --CDCMAKE_CUDA_ARCHITECTURES=90a >"$out/build.log" 2>&1 && npx tsc -p tsconfig.json &&
  cmake -S . -B build-test -DCMAKE_CUDA_ARCHITECTURES=90a >>"$out/build.log" 2>&1 &&
  cmake --build build-test --target gpubench_cuda_ops_test -j 16 >>"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
elapsed built
node dist/cli.js devices
timeout 60 build-test/gpubench_cuda_ops_test nccl | tee "$out/nccl.txt"
timeout 240 npx vitest run --config vitest.gpu.config.ts test/gpu/parallel.test.ts test/gpu/process-rank.test.ts >"$out/parallel-tests.log" 2>&1
echo "parallel tests rc=$?"; grep -E 'Tests |✓|×|FAIL' "$out/parallel-tests.log" | tail -12
elapsed tests done
bench() {  # name, ranks needed, gpubench run flags...
  local name=$1 need=$2; shift 2
  if [ "$need" -gt "$n" ]; then echo "$name: skipped ($need GPUs needed)"; return; fi
  timeout 300 node dist/cli.js run --device cuda:0 --profile decode --save-jsonl "$out/runs.jsonl" --run-name "$name" "$@" \
    >>"$out/runs.txt" 2>&1
  echo "$name: rc=$?"
}
# 70B in bf16 is 141 GB: at tp 2 half of its layers, so that each 80 GB card keeps room for KV.
bench "llama-3.1-70b tp 2 (40 layers)" 2 --model llama-3.1-70b --layers 40 --tp 2 --batch 1,32 --input-len 1024 --output-len 32
for tp in 4 8; do bench "llama-3.1-70b tp $tp" $tp --model llama-3.1-70b --tp $tp --batch 1,32 --input-len 1024 --output-len 32; done
for ep in 2 4 8; do bench "qwen3-30b-a3b tp $ep ep $ep" $ep --model qwen3-30b-a3b --tp $ep --ep $ep --batch 1,32 --input-len 1024 --output-len 32; done
bench "deepseek-v3 dp 8 ep 8 (8 layers)" 8 --model deepseek-v3 --layers 8 --dp 8 --ep 8 --batch 1,32 --input-len 1024 --output-len 32
bench "llama-3.1-70b simulated tp 8" 1 --model llama-3.1-70b --layers 20 --tp 8 --simulate-world 8 --bus-bandwidth 360 --batch 1,32 --input-len 1024 --output-len 32
elapsed benchmarks done
tail -60 "$out/runs.txt"
