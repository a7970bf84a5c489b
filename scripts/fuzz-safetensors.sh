#!/usr/bin/env bash
# Fuzzes the safetensors parser for a bounded time: builds test/fuzz/safetensors_fuzz.cc with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, seeds it with the golden fixtures'
# files and the regression corpus, and runs FUZZ_SECONDS (default 60) seconds. A crash, a sanitizer
# report or a violated property exits non-zero and leaves the input in build-fuzz/crash-*; copy it
# into test/fuzz/corpus/safetensors/ once fixed so the replay test keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
out=build-fuzz
rm -rf "$out/seeds" "$out/new"
mkdir -p "$out/seeds" "$out/new"
# The parser's sources, where CMakeLists.txt lists them (native/core/safetensors.cc, native/base/json.cc).
read -r -a parser <<<"$(node scripts/cmake-sources.mjs CORE BASE | tr ' ' '\n' | grep -E '/(safetensors|json)\.cc$' | tr '\n' ' ')"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Inative \
  test/fuzz/safetensors_fuzz.cc "${parser[@]}" -o "$out/safetensors_fuzz"
for f in test/fixtures/*/model.safetensors; do
  cp "$f" "$out/seeds/$(basename "$(dirname "$f")").safetensors"
done
"$out/safetensors_fuzz" -max_total_time="$seconds" -dict=test/fuzz/safetensors.dict -rss_limit_mb=1024 \
  -artifact_prefix="$out/" -print_final_stats=1 "$out/new" "$out/seeds" test/fuzz/corpus/safetensors
