// Config errors: one message that names where the problem is (file, line and column where
// the format gives them, or the override), the field path, and what was expected.
#pragma once

#include <map>
#include <string>

#include "kernels/common/error.h"

namespace torus::config {

// Where a value came from: a file position (1-based; 0 when unknown) or an override.
struct Location {
  std::string origin;  // "configs/mlp.yaml" or "override 'optimizer.lr=3e-4'"
  int line = 0;
  int column = 0;

  // "configs/mlp.yaml:12:5", "configs/mlp.yaml", "override 'optimizer.lr=3e-4'" or "".
  std::string str() const;
};

// The location of every field path a source gave ("optimizer.lr", "model.cnn.conv[1]"),
// so that checks on the final message can point back into the file.
class SourceMap {
 public:
  void set(const std::string& path, Location location) { locations_[path] = std::move(location); }
  // Forgets `path` and everything below it (an override replaced it).
  void erase_below(const std::string& path);
  // The location of `path`, else of its nearest enclosing section, else just the origin.
  Location find(const std::string& path) const;
  void set_default_origin(std::string origin) { default_origin_ = std::move(origin); }

 private:
  std::map<std::string, Location> locations_;
  std::string default_origin_;
};

// A user error in a config file or override. The `torus` tool prints it and exits with 2.
class ConfigError : public ValueError {
 public:
  // what(): "<location>: <path>: <problem>", leaving out the parts that are empty.
  ConfigError(const Location& location, const std::string& path, const std::string& problem);

  const Location& location() const { return location_; }
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  Location location_;
  std::string path_, problem_;
};

}  // namespace torus::config
