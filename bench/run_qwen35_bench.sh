#!/usr/bin/env bash
# Reproduces the qwen35moe row of docs/BENCHMARKS.md: a synthetic Qwen3.5-style
# Gated DeltaNet hybrid made by apex synth (8 blocks: 6 linear-attention, 2
# full-attention; 32 experts of FFN 512 + a shared expert; hidden 1024),
# quantized by apex to Q4_K_M; then engine_bench runs apex and the oracle's
# libllama (best CPU variant, APEX_ORACLE_CPU=best) on the same file: pp512
# and tg128 tokens/s, same threads, one run each.
#   bench/run_qwen35_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
MODEL=$WORK/qwen35moe-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch qwen35moe --layers 8 --embd 1024 --heads 8 --kv-heads 2 \
  --head-dim 128 --experts 32 --experts-used 4 --ff 512 --ff-shared 512 --ssm-state 128 \
  --ssm-groups 4 --ssm-heads 8 --vocab 32000 --ctx 4096 --seed 7 --no-progress "$MODEL"
OUT=$WORK/qwen35moe-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" 512 128
