#!/usr/bin/env bash
# The measurements of docs/RESULTS.md, end to end on the tiny trained MoE
# (../shared/models/tiny-moe-f16.gguf): an importance matrix from the
# calibration text, every APEX profile with and without it where the profile
# allows, the uniform Q8_0 / Q4_K_M / Q3_K_M / IQ2_M for comparison, and one
# `apex eval` over all of them against the F16 base.
#
#   scripts/results.sh                 # APEX=build/release/apex, files in /tmp/apex-results
#   APEX=build/evalr/apex WORK=/tmp/r CHUNKS=40 TASKS=50 scripts/results.sh
#
# Writes WORK/eval.json, WORK/report/ (report.md, report.html, the SVG plots)
# and copies the plots to docs/results/. Files already in WORK are reused, so
# an interrupted run resumes. The figures are deterministic; about 20 minutes
# on 2 idle cores. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

APEX=${APEX:-build/release/apex}
SHARED=${SHARED:-../shared}
WORK=${WORK:-/tmp/apex-results}
CHUNKS=${CHUNKS:-24}       # PPL/KLD chunks of 512 tokens (tiny-moe-eval.txt holds 158)
TASKS=${TASKS:-10}         # tasks per benchmark (a smoke check at this model size)
TASK_CTX=${TASK_CTX:-2048} # some MMLU candidates are longer than the model's 512
IMATRIX_CHUNKS=${IMATRIX_CHUNKS:-64}

BASE=$SHARED/models/tiny-moe-f16.gguf
CALIB=$SHARED/models/tiny-moe-calib.txt
TEXT=$SHARED/models/tiny-moe-eval.txt
[[ -x $APEX ]] || { echo "results.sh: no apex binary at $APEX (set APEX=...)" >&2; exit 1; }
mkdir -p "$WORK/models"
IMATRIX=$WORK/tiny-moe-calib.imatrix.gguf

echo "== importance matrix: $IMATRIX_CHUNKS chunks of $CALIB"
[[ -s $IMATRIX ]] || $APEX imatrix "$BASE" -f "$CALIB" -o "$IMATRIX" --chunks "$IMATRIX_CHUNKS"

models=()
quantize() {  # OUT-NAME ARGS... ; the output lands in WORK/models/OUT-NAME.gguf
  local name=$1; shift
  local out=$WORK/models/$name.gguf
  if [[ ! -s $out ]]; then
    $APEX quantize --no-progress "$@" >/dev/null
  fi
  models+=("$out")
}

echo "== uniform ftypes"
quantize Q8_0 "$BASE" "$WORK/models/Q8_0.gguf" Q8_0
for ft in Q4_K_M Q3_K_M; do
  quantize "$ft" "$BASE" "$WORK/models/$ft.gguf" "$ft"
  quantize "$ft-imat" --imatrix "$IMATRIX" "$BASE" "$WORK/models/$ft-imat.gguf" "$ft"
done
quantize IQ2_M-imat --imatrix "$IMATRIX" "$BASE" "$WORK/models/IQ2_M-imat.gguf" IQ2_M

echo "== APEX profiles"
profiles=$($APEX plan --list-profiles | awk '{print $1}')
# On a model this small several tiers give the same tensor types (every layer
# of a 6-layer model is an edge layer): those are evaluated once and listed
# in WORK/same_plan.txt. The plan without its profile-name lines is the key.
declare -A plan_owner
: >"$WORK/same_plan.txt"
for p in $profiles; do
  key=$($APEX plan "$BASE" --profile "$p" | grep -v -e '^profile ' -e 'importance matrix' -e '^output file' | sha256sum | cut -c1-16)
  [[ $p == i-* ]] && key="imat-$key"
  if [[ -n ${plan_owner[$key]:-} ]]; then
    echo "   $p: same tensor types as ${plan_owner[$key]}, not evaluated again"
    echo "$p ${plan_owner[$key]}" >>"$WORK/same_plan.txt"
    continue
  fi
  plan_owner[$key]=$p
  if [[ $p == i-* ]]; then
    # I-tiers are the plain tier's tensor types quantized with the imatrix.
    quantize "apex-$p" --profile "$p" --imatrix "$IMATRIX" "$BASE" "$WORK/models/apex-$p.gguf"
  elif [[ -s $WORK/models/apex-$p.gguf ]] ||
       $APEX quantize --no-progress --profile "$p" "$BASE" "$WORK/models/apex-$p.gguf" >/dev/null 2>"$WORK/quantize.err"; then
    models+=("$WORK/models/apex-$p.gguf")
  elif grep -q "needs an importance matrix" "$WORK/quantize.err"; then
    echo "   $p: needs an imatrix (i-quants)"
    # Without an I-tier of its own, the imatrix run stands for the profile.
    if ! grep -qx "i-$p" <<<"$profiles"; then
      quantize "apex-$p-imat" --profile "$p" --imatrix "$IMATRIX" "$BASE" "$WORK/models/apex-$p-imat.gguf"
    fi
  else
    cat "$WORK/quantize.err" >&2
    exit 1
  fi
done

echo "== apex eval: ${#models[@]} files against $(basename "$BASE")"
$APEX eval "${models[@]}" --base "$BASE" -f "$TEXT" --data "$SHARED/data" --chunks "$CHUNKS" --tasks "$TASKS" \
  --task-ctx "$TASK_CTX" \
  --report "$WORK/report" --json >"$WORK/eval.json"
mkdir -p docs/results
cp "$WORK/report/size_vs_kld.svg" "$WORK/report/size_vs_ppl.svg" docs/results/
echo "== done: $WORK/report/report.md, $WORK/eval.json, docs/results/*.svg"
