#!/usr/bin/env bash
# apex vs llama.cpp on a synthetic OLMoE-style model made by apex synth
# (olmoe: 8 blocks, hidden 1024, 16 heads = 16 KV heads, q/k norms over the
# whole projections, 64 experts of FFN 256 with 8 used, softmax router
# without renormalisation), quantized by apex to Q4_K_M (~0.3 GB); then
# engine_bench runs apex and the oracle's libllama (best CPU variant,
# APEX_ORACLE_CPU=best) on the same file: pp512 and tg128 tokens/s, same
# threads, one run each.
#   bench/run_olmoe_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# Smaller shapes for a quick check: LAYERS, EMBD, HEADS, EXPERTS, FF, VOCAB.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
LAYERS=${LAYERS:-8} EMBD=${EMBD:-1024} HEADS=${HEADS:-16} EXPERTS=${EXPERTS:-64} FF=${FF:-256}
VOCAB=${VOCAB:-32000}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
TAG=olmoe-${LAYERS}l-${EMBD}e-${EXPERTS}x${FF}
MODEL=$WORK/$TAG-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch olmoe --layers "$LAYERS" --embd "$EMBD" \
  --heads "$HEADS" --kv-heads "$HEADS" --experts "$EXPERTS" --experts-used 8 --ff "$FF" \
  --vocab "$VOCAB" --ctx 4096 --seed 7 --no-progress "$MODEL"
OUT=$WORK/$TAG-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "${PP:-512}" "${TG:-128}"
