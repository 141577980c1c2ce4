// The resolved config as YAML: fields in schema order, every one the message holds (for a
// loaded config that is every field, defaults included), so loading it back gives the
// same message. This is what `--print-config` prints and config.resolved.yaml holds.
#pragma once

#include <filesystem>
#include <string>

#include <google/protobuf/message.h>

#include "launcher/config.pb.h"

namespace torus::config {

std::string to_yaml(const google::protobuf::Message& message);

// Writes <run_dir>/config.resolved.yaml (creating run_dir), through a temporary file and a
// rename so that a reader never sees half of it. Returns the file's path.
std::filesystem::path write_resolved(const ExperimentConfig& config, const std::filesystem::path& run_dir);

}  // namespace torus::config
