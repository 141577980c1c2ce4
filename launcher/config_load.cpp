// The loading pipeline, and the two file readers that produce a YAML node tree. JSON goes
// through nlohmann's parser first so that a syntax error is reported as JSON (line,
// column, what the JSON grammar expected); a valid JSON document is then read by yaml-cpp,
// as JSON is YAML's flow syntax, to get the node positions the mapper reports.
#include "launcher/config_load.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "launcher/config_overrides.h"
#include "launcher/config_resolve.h"
#include "launcher/config_text_format.h"
#include "launcher/config_tree.h"
#include "launcher/config_validate.h"

namespace torus::config {
namespace {

Location at(const std::string& origin, const YAML::Mark& mark) {
  return mark.is_null() ? Location{origin} : Location{origin, mark.line + 1, mark.column + 1};
}

YAML::Node read_yaml(const std::string& text, const std::string& origin, const char* format_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(at(origin, e.mark), "", fmt::format("{} syntax error: {}", format_name, e.msg));
  }
  if (documents.size() > 1)
    throw ConfigError(at(origin, documents[1].Mark()), "", "a config file holds one YAML document; a second one starts here");
  return documents.empty() ? YAML::Node() : documents[0];
}

// Accepts every JSON event; only a syntax error is of interest.
class JsonSyntaxCheck : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string& token, const nlohmann::detail::exception& error) override {
    message = error.what();
    last_token = token;
    return false;
  }
  std::string message, last_token;
};

void check_json_syntax(const std::string& text, const std::string& origin) {
  JsonSyntaxCheck check;
  if (nlohmann::json::sax_parse(text, &check)) return;
  // nlohmann words it "[json.exception.parse_error.101] parse error at line 3, column 5: <what>".
  static const std::regex located(R"(line (\d+), column (\d+): (.*))");
  std::smatch m;
  if (std::regex_search(check.message, m, located)) {
    int column = std::stoi(m[2].str());
    // nlohmann counts to the end of the token it stopped at; a string token is clearer
    // pointed at by its start.
    const std::string& token = check.last_token;
    if (token.size() > 1 && token.front() == '"' && token.back() == '"' && token.find('\n') == std::string::npos &&
        column >= static_cast<int>(token.size()))
      column -= static_cast<int>(token.size()) - 1;
    throw ConfigError(Location{origin, std::stoi(m[1].str()), column}, "", "JSON syntax error: " + m[3].str());
  }
  throw ConfigError(Location{origin}, "", "JSON syntax error: " + check.message);
}

std::string read_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw ConfigError(Location{path}, "", "is a directory, not a config file");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError(Location{path}, "", fmt::format("cannot read the config file: {}", std::strerror(errno)));
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

Format format_of(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".yaml" || extension == ".yml") return Format::yaml;
  if (extension == ".json") return Format::json;
  if (extension == ".txtpb" || extension == ".textproto" || extension == ".pbtxt") return Format::text_format;
  throw ConfigError(Location{path}, "",
                    fmt::format("unknown config format '{}'; expected .yaml, .yml, .json, .txtpb, .textproto or .pbtxt",
                                extension));
}

ExperimentConfig load(const std::string& path, const std::vector<std::string>& overrides) {
  const Format format = format_of(path);
  return load_text(read_file(path), format, path, overrides);
}

ExperimentConfig load_text(const std::string& text, Format format, const std::string& origin,
                           const std::vector<std::string>& overrides) {
  ExperimentConfig config;
  SourceMap locations;
  locations.set_default_origin(origin);
  if (format == Format::text_format) {
    parse_text_format(text, origin, config, locations);
  } else {
    if (format == Format::json) check_json_syntax(text, origin);
    const YAML::Node tree = read_yaml(text, origin, format == Format::json ? "JSON" : "YAML");
    TreeMapper(origin, /*use_marks=*/true, locations).merge(tree, config, "");
  }
  apply_overrides(config, overrides, locations);
  resolve_defaults(config, origin);
  validate(config, locations);
  return config;
}

std::filesystem::path run_directory(const ExperimentConfig& config) {
  return std::filesystem::path(config.trainer().run_dir()) / config.name();
}

}  // namespace torus::config
