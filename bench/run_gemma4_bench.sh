#!/usr/bin/env bash
# The gemma4 row of docs/BENCHMARKS.md: a synthetic Gemma 4 shaped like the
# 26B-A4B, made by apex synth (12 blocks: every sixth global with 256-wide
# heads and V = K, the others sliding-window (1024) with 128-wide heads;
# 32 experts of FFN 512, 4 used, beside a dense FFN of 1024; hidden 1024;
# fused gate/up experts; soft-capped logits), quantized by apex to Q4_K_M
# (about 0.4 GB); then engine_bench runs apex and the oracle's libllama (best
# CPU variant, APEX_ORACLE_CPU=best) on the same file: pp512 and tg128
# tokens/s, same threads, one run each.
#   bench/run_gemma4_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# Smaller settings for a quick check: G4_LAYERS, G4_EMBD, G4_EXPERTS, G4_FF,
# G4_VOCAB, G4_PP, G4_TG (the model file's name records the shape).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
LAYERS=${G4_LAYERS:-12}
EMBD=${G4_EMBD:-1024}
EXPERTS=${G4_EXPERTS:-32}
FF=${G4_FF:-512}
VOCAB=${G4_VOCAB:-32000}
PP=${G4_PP:-512}
TG=${G4_TG:-128}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
SHAPE=${LAYERS}l-${EMBD}-${EXPERTS}x${FF}-v${VOCAB}
MODEL=$WORK/gemma4-$SHAPE-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch gemma4 --layers "$LAYERS" --full-attn-interval 6 \
  --embd "$EMBD" --heads 8 --kv-heads 2 --swa-kv-heads 4 --head-dim 256 --swa-head-dim 128 \
  --experts "$EXPERTS" --experts-used 4 --ff "$FF" --ff-dense $((2 * FF)) --sliding-window 1024 \
  --rope-base 1000000 --vocab "$VOCAB" --ctx 4096 --seed 7 --no-progress "$MODEL"
OUT=$WORK/gemma4-$SHAPE-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "$PP" "$TG"
