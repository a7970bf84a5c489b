#!/usr/bin/env bash
# The package check for the GPU machine, offline: gpubench as a stranger installs it.
#   1. npm run prebuild: the CPU prebuild and, with nvcc and cuBLASLt, the CUDA prebuild;
#   2. npm pack, and every production dependency packed from this checkout's node_modules and
#      served by scripts/offline-registry.mjs on 127.0.0.1, so the installs below need neither the
#      network nor a warm npm cache (empty cache), and npm resolves and hoists as it does for a
#      stranger, several versions of one name included;
#   3. install with --ignore-scripts into a fresh project (no build/ folder): `gpubench devices`
#      there must name the CUDA prebuild, and a CUDA point must run;
#   4. a normal install of the tarball, built from source by the hook with the hoisted cmake-js
#      (for GPUBENCH_CUDA_ARCHITECTURES, default 90a, to save time): the CUDA backend must be
#      built, and a CUDA point must run.
# Without a CUDA toolkit or driver it checks the CPU path and says what it skipped.
# Usage: scripts/check-package.sh [WORK_DIR]   (needs `npm install` done in this checkout)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d -t gpubench-check-XXXXXX)}"
mkdir -p "$work/deps" "$work/cache"
platform="$(node -p 'process.platform + "-" + process.arch')"
summary=()
failed=0
pass() { summary+=("PASS  $1"); }
fail() { summary+=("FAIL  $1"); failed=1; }
skip() { summary+=("SKIP  $1"); }
# No registry can be reached from here: until the local one (step 2) runs, any fetch fails fast.
offline=(--cache "$work/cache" --registry http://127.0.0.1:9/ --no-audit --no-fund)
registry_pid=""
trap '[ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null' EXIT
gpu=0
[ -e /proc/driver/nvidia/version ] && gpu=1
point=(--model tiny-llama --batch 1 --input-len 16 --output-len 4)

cd "$repo" || exit 1
echo "== 1. prebuild"
# dist/ as it is where TypeScript is not installed (a checkout carried without its dev tools).
if [ -x node_modules/.bin/tsc ]; then npm run build:ts >/dev/null || fail "npm run build:ts"; fi
if [ -f dist/index.js ] && npm run prebuild | tee "$work/prebuild.txt"; then
  pass "prebuild: $(grep '^gpubench:' "$work/prebuild.txt")"
else
  fail "npm run prebuild (see above)"
fi
cuda_prebuild=0
[ -f "prebuilds/$platform/cuda/gpubench.node" ] && cuda_prebuild=1

echo "== 2. pack"
tarball="$work/$(npm pack --ignore-scripts --silent --pack-destination "$work" | tail -1)"
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 \
  | xargs npm pack --ignore-scripts --silent --pack-destination "$work/deps" >/dev/null
if [ -f "$tarball" ] && ls "$work/deps"/*.tgz >/dev/null 2>&1; then
  pass "packed $(basename "$tarball") and $(ls "$work/deps" | wc -l) dependencies"
else
  fail "npm pack"
fi
node "$repo/scripts/offline-registry.mjs" "$work/deps" >"$work/registry.port" &
registry_pid=$!
for _ in $(seq 50); do [ -s "$work/registry.port" ] && break; sleep 0.1; done
if [ -s "$work/registry.port" ]; then
  offline=(--cache "$work/cache" --registry "http://127.0.0.1:$(cat "$work/registry.port")/" --no-audit --no-fund)
else
  fail "the local registry of the packed dependencies did not start"
fi

fresh() { rm -rf "$1"; mkdir -p "$1" && echo "{\"name\":\"$(basename "$1")\",\"private\":true}" >"$1/package.json"; }

echo "== 3. install --ignore-scripts (prebuilds only)"
fresh "$work/prebuilt"
cd "$work/prebuilt" || exit 1
if npm install "${offline[@]}" --ignore-scripts "$tarball" >/dev/null; then
  [ -e node_modules/gpubench/build ] && fail "the installed package has a build/ folder"
  devices="$(npx gpubench devices 2>&1)"
  echo "$devices"
  addon_line="$(head -1 <<<"$devices")"
  if [ "$cuda_prebuild" = 1 ] && [ "$gpu" = 1 ]; then
    if grep -q "^addon: prebuilds/$platform/cuda/gpubench.node (CUDA prebuild" <<<"$addon_line"; then pass "devices: $addon_line"; else fail "devices: $addon_line"; fi
    if npx gpubench run "${point[@]}" --device cuda; then pass "CUDA point on the CUDA prebuild"; else fail "CUDA point on the CUDA prebuild"; fi
  else
    if grep -q "^addon: prebuilds/$platform/gpubench.node (CPU prebuild" <<<"$addon_line"; then pass "devices: $addon_line"; else fail "devices: $addon_line"; fi
    skip "CUDA point on the CUDA prebuild (no CUDA prebuild or no driver here)"
    if npx gpubench run "${point[@]}" --device cpu >/dev/null; then pass "CPU point on the CPU prebuild"; else fail "CPU point on the CPU prebuild"; fi
  fi
else
  fail "offline npm install --ignore-scripts"
fi

echo "== 4. install with the hook, built from source (cmake-js hoisted)"
fresh "$work/source"
cd "$work/source" || exit 1
if GPUBENCH_BUILD_FROM_SOURCE=1 GPUBENCH_CUDA_ARCHITECTURES="${GPUBENCH_CUDA_ARCHITECTURES:-90a}" npm install "${offline[@]}" --foreground-scripts "$tarball" | tee "$work/install.txt"; then
  line="$(grep '^gpubench:' "$work/install.txt")"
  [ -d node_modules/cmake-js ] && [ ! -e node_modules/gpubench/node_modules/cmake-js ] || fail "cmake-js was not hoisted"
  if [ "$cuda_prebuild" = 1 ]; then
    if grep -q "built the CPU and CUDA backends" <<<"$line"; then pass "install: $line"; else fail "install: $line"; fi
  else
    if grep -q "built the CPU" <<<"$line"; then pass "install: $line"; else fail "install: $line"; fi
  fi
  npx gpubench devices >"$work/devices.txt" 2>&1; head -1 "$work/devices.txt"
  # What the install built decides, not whether the prebuild step made a CUDA binary.
  if [ "$gpu" = 1 ] && grep -q "built the CPU and CUDA backends" <<<"$line"; then
    if npx gpubench run "${point[@]}" --device cuda; then pass "CUDA point on the install-time build"; else fail "CUDA point on the install-time build"; fi
  else
    skip "CUDA point on the install-time build (no toolkit or no driver here)"
    if npx gpubench run "${point[@]}" --device cpu >/dev/null; then pass "CPU point on the install-time build"; else fail "CPU point on the install-time build"; fi
  fi
else
  fail "offline npm install with the install hook"
fi

echo
echo "== gpubench package check ($work)"
printf '%s\n' "${summary[@]}"
exit "$failed"
