#!/usr/bin/env bash
# Reproduces the export-int rows of docs/BENCHMARKS.md: peak RSS and wall time
# of `apex export-int` on a ~2.8 GB F16 qwen3moe made by apex synth (the shape
# of run_engine_bench.sh) and on its Q8_0 quantization, measured with GNU time.
#   bench/run_export_int_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
mkdir -p "$WORK"
cmake --build "$BUILD" -j "$THREADS" --target apex >/dev/null
MODEL=$WORK/moe-2g-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch qwen3moe --layers 8 --embd 2048 --heads 16 --kv-heads 4 \
  --head-dim 128 --experts 32 --experts-used 4 --ff 768 --vocab 32000 --seed 7 --no-progress "$MODEL"
Q8=$WORK/moe-2g-Q8_0.gguf
[[ -f $Q8 ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$Q8" Q8_0 >/dev/null
echo "| source | bits | format | output MiB | peak RSS MiB | wall s |"
echo "|---|---|---|---|---|---|"
run() {  # source bits format extra-flags...
  local src=$1 bits=$2 format=$3
  shift 3
  local out=$WORK/export-int-out
  rm -rf "$out"
  /usr/bin/time -f '%M %e' -o "$WORK/time.txt" "$BUILD"/apex export-int "$out" --from "$src" \
    --bits "$bits" --format "$format" --threads "$THREADS" --no-progress "$@" >/dev/null
  read -r rss_kb wall <"$WORK/time.txt"
  local mib
  mib=$(du -sm "$out" | cut -f1)
  echo "| $(basename "$src") ($(( $(stat -c %s "$src") >> 20 )) MiB) | $bits | $format | $mib | $((rss_kb >> 10)) | $wall |"
  rm -rf "$out"
}
run "$MODEL" 8 apex
run "$MODEL" 4 apex
run "$Q8" 4 compressed-tensors --max-shard-mb 512
