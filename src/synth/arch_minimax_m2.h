// minimax-m2 (MiniMax-M2): the tensor table and hooks synth's kArchs row
// points at (arch_minimax_m2.cpp).
#pragma once

#include "synth/arch.h"

namespace apex::synth {

extern const TensorSpec kMinimaxM2Layer[13];
void minimax_m2_metadata(const Options& o, gguf::Layout& l);
Status minimax_m2_validate(const Options& o);

}  // namespace apex::synth
