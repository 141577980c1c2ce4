// Completing a config: every default is written into the message explicitly, so the
// resolved config lists every field and a message loaded back from it is identical.
#pragma once

#include <string>

#include <google/protobuf/message.h>

#include "launcher/config.pb.h"

namespace torus::config {

// Where Debian's dataset-fashion-mnist package installs its IDX files.
inline constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Sets every field not given to its schema default, through every section that applies
// (model.mlp only when model.kind is mlp). Required fields stay unset for validation to
// report; so do sections given where they do not apply.
void fill_defaults(google::protobuf::Message& message);

// fill_defaults, after the defaults that depend on context: the run name from the config
// file's name (`source_path`), and data.path of fashion_mnist.
void resolve_defaults(ExperimentConfig& config, const std::string& source_path);

}  // namespace torus::config
