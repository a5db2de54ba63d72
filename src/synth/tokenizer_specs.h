// The vocabulary each architecture family's real GGUF files carry, as its
// converter (llama.cpp's convert_hf_to_gguf.py / conversion/*.py) writes
// it: tokenizer model, pre-tokenizer name, control tokens and which of them
// are BOS / EOS / ..., add_bos. ArchSpec::tokenizer points at one of these;
// synth then writes a make_bpe_vocab vocabulary of that kind.
#pragma once

#include "synth/vocab.h"

namespace apex::synth::tokenizers {

extern const TokenizerSpec kQwen35;    // Qwen3.5: gpt2 / qwen35
extern const TokenizerSpec kGptOss;    // gpt-oss (o200k_harmony): gpt2 / gpt-4o
extern const TokenizerSpec kDeepseekV3;  // DeepSeek-V3 / Kimi: gpt2 / deepseek-v3
extern const TokenizerSpec kGlm4;      // GLM-4.5: gpt2 / glm4
extern const TokenizerSpec kNemotronH;   // Nemotron-3 Nano (Mistral Nemo's tekken): gpt2 / pixtral
extern const TokenizerSpec kMinimaxM2;   // MiniMax-M2: gpt2 / minimax-m2
extern const TokenizerSpec kOlmoe;     // OLMoE (GPT-NeoX BPE): gpt2 / olmo
extern const TokenizerSpec kGemma4;    // Gemma 4: gemma4 (no pre; llama.cpp implies "gemma4")

}  // namespace apex::synth::tokenizers
