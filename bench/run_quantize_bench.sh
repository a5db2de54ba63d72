#!/usr/bin/env bash
# Reproduces the quantize rows of docs/BENCHMARKS.md: a ~2.8 GB F16 MoE model
# made by apex synth, quantized by llama_model_quantize (the oracle) and by
# apex with the same plan and threads, one run each, timed in child processes.
#   bench/run_quantize_bench.sh [WORKDIR] [THREADS]
# SECTIONS=kquant or SECTIONS=iquant runs one part (default: both);
# IQ_FTYPES="IQ4_XS IQ1_M" picks the i-quant rows.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apex-bench}
THREADS=${2:-2}
mkdir -p "$WORK"
cmake --preset release -G Ninja >/dev/null
cmake --build build/release -j "$(nproc)" --target apex quantize_bench synth_imatrix >/dev/null
SECTIONS=${SECTIONS:-kquant,iquant}
echo "| model | plan | threads | oracle time | apex time | time ratio | oracle peak RSS | apex peak RSS | RSS ratio | identical bytes |"
echo "|---|---|---|---|---|---|---|---|---|---|"
if [[ $SECTIONS == *kquant* ]]; then
MODEL=$WORK/moe-2g-f16.gguf
[[ -f $MODEL ]] || build/release/apex synth --arch qwen3moe --layers 8 --embd 2048 --heads 16 --kv-heads 4 \
  --head-dim 128 --experts 32 --experts-used 4 --ff 768 --vocab 32000 --seed 7 --no-progress "$MODEL"
# An APEX-style mix: experts by layer position, attention and output in Q6_K.
MIX=$WORK/apex-mix.txt
{ for i in $(seq 0 7); do
    if ((i < 2 || i >= 6)); then t=q6_k; elif ((i < 3 || i >= 5)); then t=q5_k; else t=q4_k; fi
    echo "blk\\.$i\\.ffn_(gate|up|down)_exps=$t"
  done
  echo "attn_(q|k|v|output)=q6_k"; echo "token_embd=q4_k"; echo "output=q6_k"; } > "$MIX"
build/release/bench/quantize_bench "$MODEL" Q4_K_M "$THREADS"
build/release/bench/quantize_bench "$MODEL" Q6_K "$THREADS" "$MIX"
fi

# The i-quant rows (issue 4): a smaller model of the same shape family, since
# the oracle's i-quant quantizers take minutes per GB, and an imatrix (IQ2_XXS
# cannot run without one; the others use it as llama-quantize would).
if [[ $SECTIONS == *iquant* ]]; then
IQ_MODEL=$WORK/moe-1g-f16.gguf
[[ -f $IQ_MODEL ]] || build/release/apex synth --arch qwen3moe --layers 4 --embd 2048 --heads 16 --kv-heads 4 \
  --head-dim 128 --experts 16 --experts-used 4 --ff 768 --vocab 32000 --seed 7 --no-progress "$IQ_MODEL"
IQ_IMATRIX=$WORK/moe-1g.imatrix.gguf
[[ -f $IQ_IMATRIX ]] || build/release/bench/synth_imatrix "$IQ_MODEL" "$IQ_IMATRIX"
for ft in ${IQ_FTYPES:-IQ4_XS IQ3_S IQ2_XXS IQ1_M}; do
  build/release/bench/quantize_bench "$IQ_MODEL" "$ft" "$THREADS" - "$IQ_IMATRIX"
done
fi
