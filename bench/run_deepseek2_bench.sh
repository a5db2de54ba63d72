#!/usr/bin/env bash
# The deepseek2 row of docs/BENCHMARKS.md: a synthetic DeepSeek-V3-shaped
# model made by apex synth (multi-head latent attention with q_lora 768,
# kv_lora 256, 16 heads of qk 128+64 / v 128; 12 blocks, the first dense;
# 48 routed experts of FFN 512 in 8 groups, 6 per token from 4 groups,
# sigmoid routing with exp_probs_b, one shared expert; hidden 1536; about
# 0.7 GB at Q4_K_M), quantized by apex to Q4_K_M; then engine_bench runs
# apex and the oracle's libllama (best CPU variant, APEX_ORACLE_CPU=best) on
# the same file: pp512 and tg128 tokens/s, same threads, one run each.
#   bench/run_deepseek2_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# The shape can be shrunk for a quick check through DS2_LAYERS, DS2_EMBD,
# DS2_EXPERTS (a multiple of 8), DS2_FF, DS2_VOCAB, DS2_PP and DS2_TG.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
LAYERS=${DS2_LAYERS:-12}
EMBD=${DS2_EMBD:-1536}
EXPERTS=${DS2_EXPERTS:-48}
FF=${DS2_FF:-512}
VOCAB=${DS2_VOCAB:-32000}
PP=${DS2_PP:-512}
TG=${DS2_TG:-128}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
TAG=deepseek2-${LAYERS}l-${EMBD}e-${EXPERTS}x${FF}-${VOCAB}v
MODEL=$WORK/$TAG-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch deepseek2 --layers "$LAYERS" --embd "$EMBD" --heads 16 \
  --head-dim 192 --rope-dim 64 --v-head-dim 128 --q-lora-rank 768 --kv-lora-rank 256 \
  --experts "$EXPERTS" --experts-used 6 --expert-groups 8 --expert-groups-used 4 --ff "$FF" \
  --dense-lead 1 --ff-dense $((4 * FF)) --shared-experts 1 --expert-scale 2.5 --gating 2 --vocab "$VOCAB" --ctx 4096 \
  --seed 7 --no-progress "$MODEL"
OUT=$WORK/$TAG-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "$PP" "$TG"
