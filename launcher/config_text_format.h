// Protobuf text-format config files (.txtpb, .textproto, .pbtxt), parsed by protobuf's own
// TextFormat::Parser; its errors are rewritten into the config's error style where they
// name a field (unknown field with a did-you-mean, duplicate, enum value, oneof).
#pragma once

#include <string>

#include "launcher/config.pb.h"
#include "launcher/config_error.h"

namespace torus::config {

// Parses `text` into `config`, recording the position of every field given in `locations`.
void parse_text_format(const std::string& text, const std::string& origin, ExperimentConfig& config,
                       SourceMap& locations);

}  // namespace torus::config
