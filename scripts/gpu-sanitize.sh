#!/usr/bin/env bash
# compute-sanitizer over the GPU tests, on the GPU machine (it builds the addon and
# build-test/gpubench_cuda_ops_test first, as gpu-check.sh and `npm run test:gpu` do): memcheck,
# racecheck and synccheck over every CUDA op case, then memcheck over the engine's GPU tests (golden fixtures, random configs: every kernel
# path of a real forward, graphs included) run through node. Each run under its own time limit;
# a summary line per run ("ERROR SUMMARY: N errors") goes to stdout, full logs under $OUT.
set -o pipefail
out="${OUT:-out/gpu-sanitize}"
mkdir -p "$out"
cs=compute-sanitizer
exe=build-test/gpubench_cuda_ops_test
status=0
npx cmake-js compile --out build --parallel 16 --CDCMAKE_CUDA_ARCHITECTURES=90a >"$out/build.log" 2>&1 && npx tsc -p tsconfig.json &&
  cmake -S . -B build-test -DCMAKE_CUDA_ARCHITECTURES=90a >>"$out/build.log" 2>&1 &&
  cmake --build build-test --target gpubench_cuda_ops_test -j 16 >>"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
sanitize() {  # name, time limit (s), command...
  local name=$1 limit=$2; shift 2
  timeout "$limit" "$@" >"$out/sanitize-$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitize-$name.log" | tail -1); $(grep -E '[0-9]+ passed, [0-9]+ failed|Tests +[0-9]' "$out/sanitize-$name.log" | tail -1)"
  [ "$rc" -eq 0 ] || status=1
}
sanitize memcheck-ops 150 $cs --tool memcheck --error-exitcode 9 --print-limit 20 $exe
sanitize racecheck-ops 150 $cs --tool racecheck --racecheck-report all --error-exitcode 9 --print-limit 20 $exe
sanitize synccheck-ops 90 $cs --tool synccheck --error-exitcode 9 --print-limit 20 $exe
sanitize memcheck-engine 200 $cs --tool memcheck --target-processes all --error-exitcode 9 --print-limit 20 \
  npx vitest run --config vitest.gpu.config.ts test/gpu/golden.test.ts test/gpu/random-configs.test.ts
exit $status
