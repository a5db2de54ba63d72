#!/usr/bin/env bash
# One row per architecture for docs/BENCHMARKS.md (issue 8): apex synth
# writes a synthetic F16 model of ARCH shaped like a small member of the
# family (table below), apex quantize makes its Q4_K_M, and engine_bench runs
# apex and the oracle's libllama (best CPU variant, APEX_ORACLE_CPU=best) on
# that same file: pp512 and tg128 tokens/s, same threads; the engines
# alternate RUNS times (default 3) and the row gives the medians.
#
#   bench/run_arch_bench.sh ARCH|all [WORKDIR] [THREADS] [BUILD_DIR]
#
# ARCH: qwen35moe gemma4 gpt-oss deepseek2 glm4moe nemotron_h_moe minimax-m2
# olmoe. Models are kept in WORKDIR (named by arch and seed) and reused.
# PP / TG override the prompt and generation lengths for a quick check,
# RUNS the number of alternating runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHS=${1:?usage: bench/run_arch_bench.sh ARCH|all [WORKDIR] [THREADS] [BUILD_DIR]}
WORK=${2:-/tmp/apex-bench}
THREADS=${3:-2}
BUILD=${4:-build/release}
PP=${PP:-512}
TG=${TG:-128}
RUNS=${RUNS:-3}

# Every model: hidden 1024 (deepseek2 1536), vocab 32000, context 4096 or
# more, 8-12 blocks, 32-64 experts: 0.3-1 GB in F16.
synth_flags() {
  case $1 in
    qwen35moe)  # 6 Gated DeltaNet + 2 gated attention blocks, shared expert
      echo "--layers 8 --embd 1024 --heads 8 --kv-heads 2 --head-dim 128 --experts 32 --experts-used 4
            --ff 512 --ff-shared 512 --ssm-state 128 --ssm-groups 4 --ssm-heads 8 --ctx 4096" ;;
    gemma4)  # 26B-A4B-like: every sixth block global (256-wide heads, V = K), dense FFN beside experts
      echo "--layers 12 --full-attn-interval 6 --embd 1024 --heads 8 --kv-heads 2 --swa-kv-heads 4
            --head-dim 256 --swa-head-dim 128 --experts 32 --experts-used 4 --ff 512 --ff-dense 1024
            --sliding-window 1024 --rope-base 1000000 --ctx 4096" ;;
    gpt-oss)  # sinks, sliding window 128 on even blocks, YaRN x32, biased experts
      echo "--layers 12 --embd 1024 --heads 16 --kv-heads 4 --head-dim 64 --experts 32 --experts-used 4
            --ff 768 --sliding-window 128 --yarn-factor 32 --yarn-orig-ctx 4096 --ctx 8192" ;;
    deepseek2)  # V3-like MLA (q_lora 768, kv_lora 256), 8 expert groups, dense lead, shared expert
      echo "--layers 12 --embd 1536 --heads 16 --head-dim 192 --rope-dim 64 --v-head-dim 128
            --q-lora-rank 768 --kv-lora-rank 256 --experts 48 --experts-used 6 --expert-groups 8
            --expert-groups-used 4 --ff 512 --dense-lead 1 --ff-dense 2048 --shared-experts 1
            --expert-scale 2.5 --gating 2 --ctx 4096" ;;
    glm4moe)  # dense lead, sigmoid router + exp_probs_b, ungated shared expert, q/k norms
      echo "--layers 10 --embd 1024 --heads 8 --kv-heads 2 --head-dim 128 --experts 48 --experts-used 4
            --ff 512 --ff-dense 2048 --dense-lead 1 --shared-experts 1 --qk-norm 1 --ctx 4096" ;;
    nemotron_h_moe)  # Mamba-2 / attention / relu^2 MoE blocks by pattern
      echo "--layers 12 --layer-pattern MEMEM*EMEM*E --embd 1024 --heads 16 --kv-heads 2 --head-dim 128
            --experts 64 --experts-used 6 --ff 768 --ff-shared 1536 --ssm-state 128 --ssm-groups 8
            --ssm-heads 32 --ssm-inner 2048 --expert-scale 2.5 --ctx 4096" ;;
    minimax-m2)  # whole-projection q/k norms, partial RoPE, sigmoid router with selection bias
      echo "--layers 8 --embd 1024 --heads 16 --kv-heads 4 --head-dim 128 --rope-dim 64 --experts 32
            --experts-used 4 --ff 512 --ctx 4096" ;;
    olmoe)  # every head its own KV head, softmax router without renormalisation
      echo "--layers 8 --embd 1024 --heads 16 --kv-heads 16 --experts 64 --experts-used 8 --ff 256
            --ctx 4096" ;;
    *) echo "run_arch_bench: unknown architecture '$1'" >&2; return 1 ;;
  esac
}

if [[ $ARCHS == all ]]; then
  ARCHS="qwen35moe gemma4 gpt-oss deepseek2 glm4moe nemotron_h_moe minimax-m2 olmoe"
fi
for arch in $ARCHS; do synth_flags "$arch" >/dev/null; done  # fail before building

mkdir -p "$WORK"
if [[ ! -d $BUILD ]]; then cmake --preset release -G Ninja >/dev/null; fi
cmake --build "$BUILD" -j "$THREADS" --target apex engine_bench >/dev/null
export APEX_ORACLE_CPU=${APEX_ORACLE_CPU:-best}
first=1
for arch in $ARCHS; do
  MODEL=$WORK/arch-$arch-f16.gguf
  OUT=$WORK/arch-$arch-Q4_K_M.gguf
  # shellcheck disable=SC2046  # the flags are words on purpose
  [[ -f $MODEL ]] || "$BUILD"/apex synth --arch "$arch" $(synth_flags "$arch") --vocab 32000 \
    --seed 7 --no-progress "$MODEL"
  [[ -f $OUT ]] || "$BUILD"/apex quantize --threads "$THREADS" --no-progress "$MODEL" "$OUT" Q4_K_M >/dev/null
  "$BUILD"/bench/engine_bench "$OUT" "$THREADS" "$PP" "$TG" "$RUNS" 2>/dev/null |
    if ((first)); then cat; else tail -n 1; fi
  first=0
done
