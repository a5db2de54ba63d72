#!/usr/bin/env bash
# The gpt-oss row of docs/BENCHMARKS.md: a synthetic gpt-oss-style model
# made by apex synth (12 blocks alternating sliding-window 128 / full
# attention with sinks and biases, YaRN x32 over 4096; 16 query heads of 64,
# 4 KV heads; 32 experts of FFN 768, 4 used; hidden 1024; ~0.5 GB at
# Q4_K_M), quantized by apex to Q4_K_M; then engine_bench runs apex and the
# oracle's libllama (best CPU variant, APEX_ORACLE_CPU=best) on the same
# file: pp512 and tg128 tokens/s, same threads, one run each.
#   bench/run_gptoss_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# Smaller models for a quick check: LAYERS, EMBD, EXPERTS, FF, VOCAB, PP, TG
# in the environment (the file names carry the dimensions).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
LAYERS=${LAYERS:-12} EMBD=${EMBD:-1024} EXPERTS=${EXPERTS:-32} FF=${FF:-768} VOCAB=${VOCAB:-32000}
PP=${PP:-512} TG=${TG:-128}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
TAG=gptoss-${LAYERS}l-${EMBD}e-${EXPERTS}x${FF}-v${VOCAB}
MODEL=$WORK/$TAG-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch gpt-oss --layers "$LAYERS" --embd "$EMBD" --heads 16 \
  --kv-heads 4 --head-dim 64 --experts "$EXPERTS" --experts-used 4 --ff "$FF" --vocab "$VOCAB" \
  --sliding-window 128 --yarn-factor 32 --yarn-orig-ctx 4096 --ctx 8192 --seed 7 --no-progress "$MODEL"
OUT=$WORK/$TAG-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "$PP" "$TG"
