#!/usr/bin/env bash
# The nemotron_h_moe row of docs/BENCHMARKS.md: a synthetic Nemotron-3
# Nano-style hybrid made by apex synth (12 blocks "MEMEM*EMEM*E": 4 Mamba-2,
# 6 MoE, 2 attention; 64 relu^2 experts of FFN 768, 6 used, + a shared expert;
# hidden 1024; Mamba-2 with 32 heads of 64, 8 groups, state 128), quantized by
# apex to Q4_K_M (~0.4 GB); then engine_bench runs apex and the oracle's
# libllama (best CPU variant, APEX_ORACLE_CPU=best) on the same file: pp512
# and tg128 tokens/s, same threads, one run each.
#   bench/run_nemotron_h_moe_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# Smaller shapes for a quick check: NEMO_EMBD, NEMO_EXPERTS, NEMO_FF,
# NEMO_SSM_INNER, NEMO_VOCAB, NEMO_PP, NEMO_TG (environment).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
EMBD=${NEMO_EMBD:-1024}
EXPERTS=${NEMO_EXPERTS:-64}
FF=${NEMO_FF:-768}
SSM_INNER=${NEMO_SSM_INNER:-2048}
VOCAB=${NEMO_VOCAB:-32000}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
TAG=nemotron_h_moe-e${EMBD}-x${EXPERTS}-f${FF}-i${SSM_INNER}-v${VOCAB}
MODEL=$WORK/$TAG-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch nemotron_h_moe --layers 12 --layer-pattern 'MEMEM*EMEM*E' \
  --embd "$EMBD" --heads 16 --kv-heads 2 --head-dim 128 --experts "$EXPERTS" --experts-used 6 \
  --ff "$FF" --ff-shared $((2 * FF)) --ssm-state 128 --ssm-groups 8 --ssm-heads 32 \
  --ssm-inner "$SSM_INNER" --expert-scale 2.5 --vocab "$VOCAB" --ctx 4096 --seed 7 --no-progress "$MODEL"
OUT=$WORK/$TAG-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "${NEMO_PP:-512}" "${NEMO_TG:-128}"
