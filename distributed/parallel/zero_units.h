// The units ZeRO stage 3 gathers and frees together (as FSDP's wrapped modules): the
// model itself, and every layer of a Sequential (at any depth) that has parameters. A
// unit owns the parameters of its subtree that no nested unit owns, so a GPT's units are
// its transformer blocks plus the model (embeddings, final norm, head: what it uses
// outside the blocks, tied weights included), and an MLP's units are its Linear layers.
#pragma once

#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace torus::parallel {

struct ZeroUnit {
  Layer* layer = nullptr;  // whose forward uses the parameters
  std::string name;        // dotted path; "" for the model
  NamedTensors parameters;  // dotted names from the model, in registration order
};

// The model's unit first, then the others depth first in registration order. Units
// without parameters of their own are left out (an MLP's model unit). Every parameter
// belongs to exactly one unit.
std::vector<ZeroUnit> find_zero_units(Layer& model);

}  // namespace torus::parallel
