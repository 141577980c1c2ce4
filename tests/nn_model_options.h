// The model builders' option structs as the JSON the PyTorch reference reads
// (examples/torch_reference/models.py build_model: the C++ field names).
#pragma once

#include <nlohmann/json.hpp>

#include "framework/nn/models.h"

namespace torus::test {

inline nlohmann::json to_json(const nn::MlpOptions& o) {
  return {{"in", o.in}, {"hidden", o.hidden}, {"classes", o.classes},
          {"activation", std::string(nn::activation_name(o.activation))}};
}

inline nlohmann::json to_json(const nn::CnnOptions& o) {
  nlohmann::json stages = nlohmann::json::array();
  for (const nn::ConvStage& s : o.stages) {
    const char* pool = s.pool == nn::PoolKind::max ? "max" : s.pool == nn::PoolKind::avg ? "avg" : "none";
    stages.push_back({{"channels", s.channels}, {"kernel", s.kernel}, {"stride", s.stride},
                      {"padding", s.padding}, {"pool", pool}, {"pool_kernel", s.pool_kernel}});
  }
  return {{"in_channels", o.in_channels}, {"height", o.height},   {"width", o.width},
          {"stages", stages},             {"hidden", o.hidden},   {"classes", o.classes},
          {"fc_relu", o.fc_relu},         {"activation", std::string(nn::activation_name(o.activation))}};
}

inline nlohmann::json to_json(const nn::GptOptions& o) {
  return {{"vocab", o.vocab},   {"context", o.context},     {"d_model", o.d_model}, {"layers", o.layers},
          {"heads", o.heads},   {"tied_head", o.tied_head}, {"dropout", o.dropout}, {"init_std", o.init_std}};
}

}  // namespace torus::test
