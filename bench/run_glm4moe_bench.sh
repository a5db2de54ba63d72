#!/usr/bin/env bash
# glm4moe (GLM-4.5/4.6/4.7 MoE) engine benchmark: a synthetic GLM-4.5-style
# model made by apex synth (10 blocks, the first dense; 48 sigmoid-routed
# experts of FFN 512, 4 per token, + one shared expert; q/k/v biases and
# norms, half of each head rotated; hidden 1024, 8 heads of 128 over 2 KV
# heads; 0.8 B parameters), about 0.5 GB at Q4_K_M once apex has quantized it; then
# engine_bench runs apex and the oracle's libllama (best CPU variant,
# APEX_ORACLE_CPU=best) on the same file: pp512 and tg128 tokens/s, same
# threads, one run each.
#   bench/run_glm4moe_bench.sh [WORKDIR] [THREADS] [BUILD_DIR]
# LAYERS, EMBD, EXPERTS, FF, VOCAB, PP, TG override the shape and the
# lengths (a quick check: LAYERS=2 EMBD=256 EXPERTS=4 FF=128 VOCAB=1000 PP=32 TG=8).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
BUILD=${3:-build/release}
LAYERS=${LAYERS:-10} EMBD=${EMBD:-1024} EXPERTS=${EXPERTS:-48} FF=${FF:-512} VOCAB=${VOCAB:-32000}
PP=${PP:-512} TG=${TG:-128}
mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
TAG=glm4moe-${LAYERS}l-${EMBD}-${EXPERTS}x${FF}-v${VOCAB}
MODEL=$WORK/$TAG-f16.gguf
[[ -f $MODEL ]] || "$BUILD"/apex synth --arch glm4moe --layers "$LAYERS" --embd "$EMBD" --heads 8 \
  --kv-heads 2 --head-dim $((EMBD / 8)) --experts "$EXPERTS" --experts-used 4 --ff "$FF" \
  --ff-dense $((4 * FF)) --dense-lead 1 --shared-experts 1 --qk-norm 1 --vocab "$VOCAB" --ctx 4096 \
  --seed 7 --no-progress "$MODEL"
OUT=$WORK/$TAG-Q4_K_M.gguf
[[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
"$BUILD"/bench/engine_bench "$OUT" "$THREADS" "$PP" "$TG"
