#!/usr/bin/env bash
# apex vs llama.cpp on a synthetic MiniMax-M2-style model made by apex synth
# (minimax-m2: 8 blocks, hidden 1024, 16 heads of 128 (q_dim 2048 != hidden),
# 4 KV heads, RoPE over 64 of 128 dims, 32 experts of FFN 512 with 4 used,
# sigmoid router with selection bias), quantized by apex to Q4_K_M (~0.4 GB);
# then engine_bench runs apex and the oracle's libllama (best CPU variant,
# APEX_ORACLE_CPU=best) on the same file: pp512 and tg128 tokens/s, same
# threads, one run each.
#   bench/run_minimax_m2_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# Smaller shapes for a quick check: LAYERS, EMBD, HEADS, EXPERTS, FF, VOCAB.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
LAYERS=${LAYERS:-8} EMBD=${EMBD:-1024} HEADS=${HEADS:-16} EXPERTS=${EXPERTS:-32} FF=${FF:-512}
VOCAB=${VOCAB:-32000}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
TAG=minimax-m2-${LAYERS}l-${EMBD}e-${EXPERTS}x${FF}
MODEL=$WORK/$TAG-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch minimax-m2 --layers "$LAYERS" --embd "$EMBD" \
  --heads "$HEADS" --kv-heads $((HEADS / 4)) --head-dim 128 --rope-dim 64 --experts "$EXPERTS" \
  --experts-used 4 --ff "$FF" --vocab "$VOCAB" --ctx 4096 --seed 7 --no-progress "$MODEL"
OUT=$WORK/$TAG-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "${PP:-512}" "${TG:-128}"
