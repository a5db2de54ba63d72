#!/usr/bin/env bash
# Reproduces the engine rows of docs/BENCHMARKS.md: a ~2.8 GB F16 qwen3moe
# model made by apex synth (the quantize benchmark's shape), quantized by
# apex to Q4_K_M (~0.9 GB) and Q8_0 (~1.5 GB); then engine_bench runs apex and
# the oracle's libllama (best CPU variant, APEX_ORACLE_CPU=best) on each file:
# pp512 and tg128 tokens/s, same threads; the engines alternate RUNS times
# (default 3) and each row gives the medians.
#   bench/run_engine_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
RUNS=${RUNS:-3}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
MODEL=$WORK/moe-2g-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch qwen3moe --layers 8 --embd 2048 --heads 16 --kv-heads 4 \
  --head-dim 128 --experts 32 --experts-used 4 --ff 768 --vocab 32000 --seed 7 --no-progress "$MODEL"
for ftype in Q4_K_M Q8_0; do
  out=$WORK/moe-2g-$ftype.gguf
  [[ -f $out ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$out" "$ftype" >/dev/null
done
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
first=1
for ftype in Q4_K_M Q8_0; do
  "$BUILD"/bench/engine_bench "$WORK/moe-2g-$ftype.gguf" "$THREADS" 512 128 "$RUNS" 2>/dev/null | if ((first)); then cat; else tail -n 1; fi
  first=0
done
