#include "synth/tokenizer_specs.h"

namespace apex::synth::tokenizers {
namespace {


// Qwen: <|endoftext|> is both BOS and EOS of the base model; no BOS added.
constexpr const char* kQwenTail[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
constexpr SpecialId kQwenIds[] = {{"bos", "<|endoftext|>"}, {"eos", "<|endoftext|>"}, {"padding", "<|endoftext|>"}};

// o200k_harmony: the harmony chat markers follow the text tokens.
constexpr const char* kGptOssTail[] = {"<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>",
                                       "<|channel|>",     "<|start|>",     "<|end|>",    "<|message|>",
                                       "<|call|>"};
constexpr SpecialId kGptOssIds[] = {{"bos", "<|startoftext|>"}, {"eos", "<|return|>"}, {"padding", "<|endoftext|>"}};

// DeepSeek-V3: begin/end of sentence are ids 0 and 1, BOS is added.
constexpr const char* kDeepseekLead[] = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"};
constexpr const char* kDeepseekTail[] = {"<｜User｜>", "<｜Assistant｜>"};
constexpr SpecialId kDeepseekIds[] = {{"bos", "<｜begin▁of▁sentence｜>"},
                                      {"eos", "<｜end▁of▁sentence｜>"},
                                      {"padding", "<｜▁pad▁｜>"}};

// GLM-4.5: the converter sets BOS, EOS and UNK to <|endoftext|> and EOT to <|user|>.
constexpr const char* kGlmTail[] = {"<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>",
                                    "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"};
constexpr SpecialId kGlmIds[] = {{"eos", "<|endoftext|>"}, {"eot", "<|user|>"}, {"unknown", "<|endoftext|>"},
                                 {"bos", "<|endoftext|>"}};

// Nemotron-H: tekken-style ids 0..2 are <unk>, <s>, </s>; BOS is added.
constexpr const char* kNemotronLead[] = {"<unk>", "<s>", "</s>", "[INST]", "[/INST]"};
constexpr const char* kNemotronTail[] = {"<|im_start|>", "<|im_end|>"};
constexpr SpecialId kNemotronIds[] = {{"bos", "<s>"}, {"eos", "</s>"}, {"unknown", "<unk>"}};

// MiniMax-M2: its own begin/end-of-document markers.
constexpr const char* kMinimaxTail[] = {"]~!b[", "]~b]", "[e~[", "]!d~[", "]!p~["};
constexpr SpecialId kMinimaxIds[] = {{"bos", "]~!b["}, {"eos", "[e~["}};

// OLMoE (GPT-NeoX-20B's tokenizer): <|endoftext|> is id 0, BOS and EOS; padding id 1.
constexpr const char* kOlmoeLead[] = {"<|endoftext|>", "<|padding|>"};
constexpr SpecialId kOlmoeIds[] = {{"bos", "<|endoftext|>"}, {"eos", "<|endoftext|>"}, {"padding", "<|padding|>"}};

// Gemma 4: <pad> <eos> <bos> <unk> <mask> lead, the turn markers follow.
constexpr const char* kGemmaLead[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>"};
constexpr const char* kGemmaTail[] = {"<|turn>", "<turn|>"};
constexpr SpecialId kGemmaIds[] = {{"bos", "<bos>"}, {"eos", "<eos>"}, {"unknown", "<unk>"}, {"padding", "<pad>"}};

}  // namespace

const TokenizerSpec kQwen35{VocabKind::kByteBpe, "gpt2", "qwen35", {}, kQwenTail, kQwenIds, false};
const TokenizerSpec kGptOss{VocabKind::kByteBpe, "gpt2", "gpt-4o", {}, kGptOssTail, kGptOssIds, false};
const TokenizerSpec kDeepseekV3{VocabKind::kByteBpe, "gpt2", "deepseek-v3", kDeepseekLead, kDeepseekTail,
                                kDeepseekIds, true};
const TokenizerSpec kGlm4{VocabKind::kByteBpe, "gpt2", "glm4", {}, kGlmTail, kGlmIds, false};
const TokenizerSpec kNemotronH{VocabKind::kByteBpe, "gpt2", "pixtral", kNemotronLead, kNemotronTail,
                               kNemotronIds, true};
const TokenizerSpec kMinimaxM2{VocabKind::kByteBpe, "gpt2", "minimax-m2", {}, kMinimaxTail, kMinimaxIds, false};
const TokenizerSpec kOlmoe{VocabKind::kByteBpe, "gpt2", "olmo", kOlmoeLead, {}, kOlmoeIds, false};
const TokenizerSpec kGemma4{VocabKind::kSpBpe, "gemma4", nullptr, kGemmaLead, kGemmaTail, kGemmaIds, true};

}  // namespace apex::synth::tokenizers
