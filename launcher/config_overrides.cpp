// Override paths walk the schema segment by segment, so an unknown name gets the same
// did-you-mean as in a file; the value then goes through the same TreeMapper as files do.
#include "launcher/config_overrides.h"

#include <regex>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "launcher/config_schema.h"
#include "launcher/config_tree.h"

namespace torus::config {
namespace {

using google::protobuf::Reflection;

struct Segment {
  std::string name;
  int index = -1;  // -1: no [i]
};

std::vector<Segment> split_path(const std::string& path, const Location& where) {
  static const std::regex segment_syntax(R"(([^\[\]]+)(?:\[([0-9]{1,9})\])?)");
  std::vector<Segment> segments;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string text = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    std::smatch match;
    if (text.empty())
      throw ConfigError(where, path, "empty name in the field path (two dots, or a dot at an end)");
    if (!std::regex_match(text, match, segment_syntax))
      throw ConfigError(where, path, fmt::format("'{}' is not a field name, or a name with an index like conv[0]", text));
    segments.push_back({match[1].str(), match[2].matched ? std::stoi(match[2].str()) : -1});
    if (dot == std::string::npos) return segments;
    start = dot + 1;
  }
}

// "a number", "an integer", "a list of strings": what a field is, for messages.
std::string kind_of(const FieldDescriptor* field) {
  const std::string name = type_name(field);
  return (name == "integer" || name == "enum" ? "an " : "a ") + name;
}

}  // namespace

Override parse_override(const std::string& text, const Location& where) {
  const size_t equals = text.find('=');
  if (equals == std::string::npos)
    throw ConfigError(where, "", "expected key=value, as in optimizer.lr=3e-4");
  Override result{text.substr(0, equals), text.substr(equals + 1)};
  if (result.path.empty()) throw ConfigError(where, "", "empty field path before '='");
  return result;
}

void check_override_path(const Descriptor* type, const std::string& path, const Location& where) {
  const std::vector<Segment> segments = split_path(path, where);
  std::string walked;
  for (size_t s = 0; s < segments.size(); ++s) {
    const Segment& segment = segments[s];
    const FieldDescriptor* field = type->FindFieldByName(segment.name);
    const std::string field_path = child_path(walked, segment.name);
    if (!field) throw ConfigError(where, field_path, unknown_field_problem(type, segment.name));
    if (segment.index >= 0 && !field->is_repeated())
      throw ConfigError(where, field_path, fmt::format("is {}, not a list; drop the [{}]", kind_of(field), segment.index));
    if (s + 1 == segments.size()) return;
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE)
      throw ConfigError(where, field_path, fmt::format("is {}, not a section, so '{}' names nothing", kind_of(field), path));
    if (field->is_repeated() && segment.index < 0)
      throw ConfigError(where, field_path, fmt::format("is a list; give an index, as in {}[0].{}", field_path, segments[s + 1].name));
    type = field->message_type();
    walked = segment.index >= 0 ? element_path(field_path, segment.index) : field_path;
  }
}

void apply_override(Message& config, const Override& override, const Location& where, SourceMap& locations) {
  check_override_path(config.GetDescriptor(), override.path, where);
  const std::vector<Segment> segments = split_path(override.path, where);
  Message* message = &config;
  std::string path;
  for (size_t s = 0; s < segments.size(); ++s) {
    const Segment& segment = segments[s];
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(segment.name);
    const Reflection* reflection = message->GetReflection();
    std::string target_path = child_path(path, segment.name);
    if (segment.index >= 0) {
      target_path = element_path(target_path, segment.index);
      if (const int size = reflection->FieldSize(*message, field); segment.index >= size)
        throw ConfigError(where, target_path, fmt::format("no such element; the list has {} (indices from 0)", size));
    }
    if (s + 1 < segments.size()) {
      // A section the override brings into being is reported at the override.
      if (segment.index < 0 && !reflection->HasField(*message, field)) locations.set(target_path, where);
      message = segment.index >= 0 ? reflection->MutableRepeatedMessage(message, field, segment.index)
                                   : reflection->MutableMessage(message, field);
      path = target_path;
      continue;
    }
    YAML::Node value;
    try {
      value = YAML::Load(override.value);
    } catch (const YAML::Exception& e) {
      throw ConfigError(where, target_path, fmt::format("the value is not valid YAML: {}", e.msg));
    }
    TreeMapper mapper(where.origin, /*use_marks=*/false, locations);
    if (segment.index >= 0) mapper.assign_element(value, *message, field, segment.index, target_path);
    else mapper.assign(value, *message, field, target_path);
  }
}

void apply_overrides(Message& config, const std::vector<std::string>& overrides, SourceMap& locations) {
  for (const std::string& text : overrides) {
    const Location where{fmt::format("override '{}'", text)};
    apply_override(config, parse_override(text, where), where, locations);
  }
}

}  // namespace torus::config
