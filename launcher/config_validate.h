// One validation pass over the final message (after the file, the overrides and the
// defaults): what the schema's options say — required fields, ranges, patterns, sections
// given where they do not apply — then the rules across fields that belong to the config
// (the batch splits over ranks and micro-batches, heads divide d_model, sweep values fit).
// The first problem is thrown as a ConfigError pointing where the field was given.
#pragma once

#include "launcher/config.pb.h"
#include "launcher/config_error.h"

namespace torus::config {

void validate(const ExperimentConfig& config, const SourceMap& locations);

}  // namespace torus::config
