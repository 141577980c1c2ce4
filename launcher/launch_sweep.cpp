// Sweep expansion (see launch_sweep.h).
#include "launcher/launch_sweep.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "launcher/config_error.h"

namespace torus::cli {
namespace {

// The field a path ends in: "optimizer.lr" -> "lr", "model.cnn.conv[1].pool" -> "pool".
std::string leaf_of(const std::string& path) {
  std::string leaf = path.substr(path.find_last_of('.') + 1);
  return leaf.substr(0, leaf.find('['));
}

// Splits at commas outside brackets, braces and quotes.
std::vector<std::string> split_values(const std::string& text) {
  std::vector<std::string> values;
  std::string current;
  int depth = 0;
  char quote = 0;
  for (char c : text) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      values.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  values.push_back(current);
  return values;
}

// What a run name may hold of a key or a value: brackets, quotes and spaces dropped, any
// other character a name cannot hold replaced by '_'.
std::string for_name(const std::string& text) {
  std::string cleaned;
  for (char c : text) {
    if (c == ' ' || c == '[' || c == ']' || c == '{' || c == '}' || c == '"' || c == '\'') continue;
    const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' ||
                         c == '=' || c == ',' || c == '-';
    cleaned += allowed ? c : '_';
  }
  return cleaned;
}

}  // namespace

std::string name_part(const std::string& key, const std::string& value) { return for_name(key) + "=" + for_name(value); }

std::string sweep_override(const std::vector<std::string>& arguments) {
  std::vector<std::string> axes;
  for (const std::string& argument : arguments) {
    const size_t eq = argument.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == argument.size())
      throw config::ConfigError(config::Location{"--sweep " + argument}, "",
                                "expected PATH=V1,V2,... (for example optimizer.lr=1e-3,3e-4)");
    axes.push_back(fmt::format("{{path: \"{}\", values: [{}]}}", argument.substr(0, eq),
                               fmt::join(split_values(argument.substr(eq + 1)), ", ")));
  }
  return fmt::format("sweep.axes=[{}]", fmt::join(axes, ", "));
}

std::vector<RunSpec> plan_runs(const config::ExperimentConfig& config, const std::vector<std::string>& overrides) {
  const auto& axes = config.sweep().axes();
  if (axes.empty()) return {RunSpec{config.name(), overrides, {}}};
  // A leaf names its axis in run names unless two axes share it; then the whole path does.
  std::multiset<std::string> leaves;
  for (const auto& axis : axes) leaves.insert(leaf_of(axis.path()));
  std::vector<RunSpec> runs;
  std::vector<int> choice(axes.size(), 0);
  while (true) {
    RunSpec run;
    run.overrides = overrides;
    std::string name = config.name();
    for (int i = 0; i < axes.size(); ++i) {
      const std::string& path = axes[i].path();
      const std::string& value = axes[i].values(choice[i]);
      run.overrides.push_back(fmt::format("{}={}", path, value));
      run.label.push_back(run.overrides.back());
      name = fmt::format("{}-{}", name, name_part(leaves.count(leaf_of(path)) > 1 ? path : leaf_of(path), value));
    }
    if (std::any_of(runs.begin(), runs.end(), [&](const RunSpec& r) { return r.name == name; }))
      throw config::ConfigError(config::Location{}, "sweep",
                                fmt::format("two runs of the sweep would both be named '{}'", name));
    run.name = name;
    run.overrides.push_back("name=" + name);
    runs.push_back(std::move(run));
    int i = axes.size() - 1;  // the last axis varies fastest
    while (i >= 0 && ++choice[i] == axes[i].values_size()) choice[i--] = 0;
    if (i < 0) break;
  }
  return runs;
}

}  // namespace torus::cli
