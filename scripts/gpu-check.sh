#!/usr/bin/env bash
# Everything the GPU machine must confirm, in one call (each step under its own time limit, so a
# slow step does not hide the later ones): the CUDA build, a default run with provenance and NVML
# telemetry, the GPU tests (CUDA ops against the CPU ops, engine and golden fixtures, general
# kernel paths, telemetry, OOM recovery, instruments) with the offline package check beside them,
# then the roofline benchmark in two processes. Writes its logs under $OUT (default out/gpu-check).
# Run from the repository root, with node on PATH. With little device time left: SKIP_PACKAGE=1
# leaves out the package check, REPEAT=1 runs the roofline in one process.
set -o pipefail
out="${OUT:-out/gpu-check}"
mkdir -p "$out"
t0=$(date +%s)
elapsed() { echo "[$(($(date +%s) - t0))s] $*"; }
npx cmake-js compile --out build --parallel 16 --CDCMAKE_CUDA_ARCHITECTURES=90a >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
npx tsc -p tsconfig.json || exit 1
elapsed built
{
  node dist/cli.js --version
  node dist/cli.js devices
  timeout 80 node dist/cli.js run --batch 1,32 --input-len 1024 --output-len 32 --save-jsonl "$out/run.jsonl"
  echo "run rc=$?"
} >"$out/info.txt" 2>&1
elapsed run done
tail -30 "$out/info.txt"
[ "${SKIP_PACKAGE:-0}" = 1 ] || (
  GPUBENCH_CUDA_ARCHITECTURES=90a timeout 200 bash scripts/check-package.sh /tmp/gpubench-package-check >"$out/check-package.txt" 2>&1
  echo "check rc=$?" >>"$out/check-package.txt"
) &
timeout 200 npm run test:gpu >"$out/testgpu.log" 2>&1
echo "test:gpu rc=$?"
elapsed gpu tests done
grep -E 'Test Files|Tests |FAIL|passed,|failed' "$out/testgpu.log" | tail -20
wait
elapsed package check done
[ "${SKIP_PACKAGE:-0}" = 1 ] || tail -14 "$out/check-package.txt"
timeout 100 node bench/gpu-roofline.mjs --repeat "${REPEAT:-2}" --out /tmp/gpubench-bench --json "$out/roofline.json" >"$out/roofline.txt" 2>&1
echo "roofline rc=$?"
elapsed roofline done
tail -24 "$out/roofline.txt"
