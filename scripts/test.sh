#!/usr/bin/env bash
# Installs what is missing (including the llama.cpp oracle), builds the
# release preset and runs the whole test suite with ctest.
#   scripts/test.sh [extra ctest args]     e.g. scripts/test.sh -R gguf
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --oracle
cmake --preset release -G Ninja -DAPEX_BUILD_TESTS=ON -DAPEX_BUILD_BENCH=ON >/dev/null
cmake --build build/release -j "$(nproc)"
ctest --test-dir build/release --output-on-failure -j "$(nproc)" "$@"
