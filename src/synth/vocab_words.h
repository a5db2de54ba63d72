// The English words and word pieces the synthetic vocabularies are built
// around (vocab.cpp), shared by the SentencePiece and BPE generators.
#pragma once

#include <span>

namespace apex::synth {

std::span<const char* const> vocab_words();
std::span<const char* const> vocab_pieces();

}  // namespace apex::synth
