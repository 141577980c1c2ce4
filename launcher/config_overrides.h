// key=value overrides from the command line (and the values of sweeps), typed by the
// schema: optimizer.lr=3e-4, model.mlp.hidden=[512,256], launch.scheduler=slurm,
// model.cnn.conv[1].pool=2. The value is YAML, so lists and maps are written as in a file.
#pragma once

#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "launcher/config_error.h"

namespace torus::config {

struct Override {
  std::string path;   // "optimizer.lr"
  std::string value;  // "3e-4"
};

// Splits "path=value"; a missing '=' or an empty path is a ConfigError at `where`.
Override parse_override(const std::string& text, const Location& where);

// Checks that `path` names a field of messages of `type`, without a message at hand (a
// sweep's path): unknown names, paths through a number, lists without an index.
void check_override_path(const google::protobuf::Descriptor* type, const std::string& path, const Location& where);

// Sets the field at override.path, replacing what the file (or an earlier override) gave.
// Errors (unknown path, wrong type) are ConfigErrors at `where`.
void apply_override(google::protobuf::Message& config, const Override& override, const Location& where,
                    SourceMap& locations);

// Applies command-line overrides in order; each is named in its errors as override 'k=v'.
void apply_overrides(google::protobuf::Message& config, const std::vector<std::string>& overrides,
                     SourceMap& locations);

}  // namespace torus::config
