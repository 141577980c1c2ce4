// Formatting of config error messages and the path-to-location map behind them.
#include "launcher/config_error.h"

#include <fmt/format.h>

namespace torus::config {
namespace {

std::string compose(const Location& location, const std::string& path, const std::string& problem) {
  std::string message = location.str();
  if (!message.empty()) message += ": ";
  if (!path.empty()) message += path + ": ";
  return message + problem;
}

// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
std::string parent_path(const std::string& path) {
  const size_t cut = path.find_last_of(".[");
  return cut == std::string::npos ? std::string() : path.substr(0, cut);
}

}  // namespace

std::string Location::str() const {
  if (line <= 0) return origin;
  if (column <= 0) return fmt::format("{}:{}", origin, line);
  return fmt::format("{}:{}:{}", origin, line, column);
}

void SourceMap::erase_below(const std::string& path) {
  for (auto it = locations_.lower_bound(path); it != locations_.end() && it->first.starts_with(path);) {
    const std::string& key = it->first;
    const bool below = key.size() == path.size() || key[path.size()] == '.' || key[path.size()] == '[';
    it = below ? locations_.erase(it) : std::next(it);
  }
}

Location SourceMap::find(const std::string& path) const {
  for (std::string p = path; !p.empty(); p = parent_path(p))
    if (auto it = locations_.find(p); it != locations_.end()) return it->second;
  return Location{default_origin_};
}

ConfigError::ConfigError(const Location& location, const std::string& path, const std::string& problem)
    : ValueError(compose(location, path, problem)), location_(location), path_(path), problem_(problem) {}

}  // namespace torus::config
