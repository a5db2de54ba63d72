#!/usr/bin/env bash
# The two-minute tour: installs what is missing, builds apex, makes a small
# synthetic MoE model, quantizes it with an APEX-style layer gradient and
# shows the result. Needs nothing but apt (no model downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release -G Ninja >/dev/null
cmake --build build/release -j "$(nproc)" --target apex
APEX=build/release/apex
OUT=${DEMO_DIR:-build/demo}
mkdir -p "$OUT"

echo "== 1. a small qwen3moe-shaped MoE model with random weights (F16)"
$APEX synth --arch qwen3moe --layers 12 --embd 512 --heads 8 --kv-heads 2 --experts 16 \
  --experts-used 4 --ff 256 --vocab 2048 --seed 1 "$OUT/demo-f16.gguf"

echo
echo "== 2. an APEX-style plan: experts in edge layers kept precise, middle layers compressed"
# Layer classes as in APEX: first/last 2 layers edge, next 2 near-edge, the rest middle.
# (The full planner with named tiers is 'apex plan' / '--profile', coming next.)
N=12
: > "$OUT/apex-balanced.txt"
for ((i = 0; i < N; i++)); do
  if ((i < 2 || i >= N - 2)); then t=q6_k; elif ((i < 4 || i >= N - 4)); then t=q5_k; else t=q4_k; fi
  echo "blk\\.$i\\.ffn_(gate|up|down)_exps=$t" >> "$OUT/apex-balanced.txt"
done
echo "attn_(q|k|v|output)=q6_k" >> "$OUT/apex-balanced.txt"
head -3 "$OUT/apex-balanced.txt"; echo "  ..."

echo
echo "== 3. quantize (llama-quantize semantics; output loads in stock llama.cpp)"
$APEX quantize --tensor-type-file "$OUT/apex-balanced.txt" "$OUT/demo-f16.gguf" "$OUT/demo-apex.gguf" Q6_K

echo
echo "== 4. what is in the result"
$APEX inspect "$OUT/demo-apex.gguf" | sed -n '/^by type/,$p'
ls -l "$OUT"/demo-*.gguf
