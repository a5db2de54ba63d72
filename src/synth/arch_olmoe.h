// olmoe (OLMoE): the tensor table and hooks synth's kArchs row points at
// (arch_olmoe.cpp).
#pragma once

#include "synth/arch.h"

namespace apex::synth {

extern const TensorSpec kOlmoeLayer[12];
Status olmoe_validate(const Options& o);

}  // namespace apex::synth
