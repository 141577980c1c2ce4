// Loading an experiment config: the file (YAML, JSON or protobuf text format, chosen by
// extension), then key=value overrides, then the defaults, then one validation pass.
// Anything the user got wrong is one ConfigError; the config returned holds every field.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "launcher/config.pb.h"
#include "launcher/config_error.h"

namespace torus::config {

enum class Format { yaml, json, text_format };

// .yaml/.yml, .json, .txtpb/.textproto/.pbtxt; any other extension is a ConfigError.
Format format_of(const std::string& path);

ExperimentConfig load(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from text in memory; `origin` names it in messages and gives the default name.
ExperimentConfig load_text(const std::string& text, Format format, const std::string& origin,
                           const std::vector<std::string>& overrides = {});

// Where the run writes: <trainer.run_dir>/<name>.
std::filesystem::path run_directory(const ExperimentConfig& config);

}  // namespace torus::config
