// Reflection-driven mapping of YAML nodes onto config messages. Numbers, booleans and
// enum names must be plain scalars in the source, so a quoted "0.1" (a JSON string) is a
// wrong type rather than a silent conversion; strings accept any scalar.
#include "launcher/config_tree.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "launcher/config_options.pb.h"
#include "launcher/config_schema.h"

namespace torus::config {
namespace {

using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// yaml-cpp tags plain scalars "?"; quoted ones "!" (or the explicit tag given).
bool is_plain(const YAML::Node& node) { return node.Tag() == "?"; }

// How a value reads in a message: "a map", "a list", "'abc'", "the string \"0.1\"".
std::string describe(const YAML::Node& node) {
  if (node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (!is_plain(node)) return fmt::format("the string \"{}\"", node.Scalar());
  return fmt::format("'{}'", node.Scalar());
}

std::string members_of(const OneofDescriptor* oneof) {
  std::string out;
  for (int i = 0; i < oneof->field_count(); ++i)
    out += (i == 0 ? "" : i + 1 == oneof->field_count() ? " or " : ", ") + oneof->field(i)->name();
  return out;
}

// Flow-style YAML text of a node: `[512, 256]`, `{a: 1}`.
std::string flow_text(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetSeqFormat(YAML::Flow);
  out.SetMapFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

enum class NumberStatus { ok, malformed, too_large };

NumberStatus parse_integer(std::string_view text, int64_t& value) {
  if (text.size() > 1 && text[0] == '+') text.remove_prefix(1);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return NumberStatus::too_large;
  return error == std::errc() && end == text.data() + text.size() ? NumberStatus::ok : NumberStatus::malformed;
}

NumberStatus parse_double(std::string_view text, double& value) {
  if (text.size() > 1 && text[0] == '+') text.remove_prefix(1);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return NumberStatus::too_large;
  if (error != std::errc() || end != text.data() + text.size()) return NumberStatus::malformed;
  return std::isfinite(value) ? NumberStatus::ok : NumberStatus::malformed;  // "inf", "nan"
}

bool parse_bool(const std::string& text, bool& value) {
  if (text == "true" || text == "True" || text == "TRUE") return value = true, true;
  if (text == "false" || text == "False" || text == "FALSE") return value = false, true;
  return false;
}

}  // namespace

TreeMapper::TreeMapper(std::string origin, bool use_marks, SourceMap& locations)
    : origin_(std::move(origin)), use_marks_(use_marks), locations_(locations) {}

Location TreeMapper::location_of(const YAML::Node& node, const Location& fallback) const {
  if (!use_marks_) return Location{origin_};
  const YAML::Mark mark = node.Mark();
  // A null value has no text of its own; its key is where to look.
  if (node.IsNull() || mark.is_null() || mark.line < 0) return fallback;
  return Location{origin_, mark.line + 1, mark.column + 1};
}

void TreeMapper::merge(const YAML::Node& node, Message& message, const std::string& path) {
  if (node.IsNull()) return;  // `optimizer:` with nothing under it: all defaults
  const Location here = location_of(node, Location{origin_});
  if (!node.IsMap())
    throw ConfigError(here, path,
                      fmt::format("expected {}, got {}",
                                  path.empty() ? "a map of sections and fields (model:, data:, ...)" : "a map of fields",
                                  describe(node)));
  const Descriptor* type = message.GetDescriptor();
  std::map<std::string, Location> seen;
  std::map<const OneofDescriptor*, std::string> oneof_given;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // The iterator yields a temporary pair: copy the (reference-counted) nodes out of it.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const Location key_location = location_of(key, here);
    if (!key.IsScalar())
      throw ConfigError(key_location, path, fmt::format("expected a field name, got {}", describe(key)));
    const std::string& name = key.Scalar();
    const std::string field_path = child_path(path, name);
    if (auto first = seen.find(name); first != seen.end())
      throw ConfigError(key_location, field_path,
                        first->second.line > 0 ? fmt::format("duplicated key (first given at line {})", first->second.line)
                                               : std::string("duplicated key"));
    seen.emplace(name, key_location);
    const FieldDescriptor* field = type->FindFieldByName(name);
    if (!field && name == "<<")  // yaml-cpp reads merge keys as plain keys
      throw ConfigError(key_location, field_path,
                        "YAML merge keys are not supported; write the fields out, or alias a whole section");
    if (!field) throw ConfigError(key_location, field_path, unknown_field_problem(type, name));
    if (const OneofDescriptor* oneof = field->containing_oneof()) {
      if (auto other = oneof_given.find(oneof); other != oneof_given.end())
        throw ConfigError(key_location, field_path,
                          fmt::format("give only one of {}; {} is already given", members_of(oneof), other->second));
      oneof_given.emplace(oneof, name);
    }
    locations_.set(field_path, key_location);
    assign_value(value, message, field, field_path, key_location);
  }
}

void TreeMapper::assign(const YAML::Node& node, Message& message, const FieldDescriptor* field,
                        const std::string& path) {
  const Location where = location_of(node, Location{origin_});
  locations_.erase_below(path);
  locations_.set(path, where);
  assign_value(node, message, field, path, where);
}

void TreeMapper::assign_element(const YAML::Node& node, Message& message, const FieldDescriptor* field, int index,
                                const std::string& path) {
  const Location where = location_of(node, Location{origin_});
  locations_.erase_below(path);
  locations_.set(path, where);
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    Message* element = message.GetReflection()->MutableRepeatedMessage(&message, field, index);
    element->Clear();
    merge(node, *element, path);
  } else {
    store_scalar(node, message, field, index, path, where);
  }
}

void TreeMapper::assign_value(const YAML::Node& node, Message& message, const FieldDescriptor* field,
                              const std::string& path, const Location& where) {
  const Reflection* reflection = message.GetReflection();
  const Location value_location = location_of(node, where);
  reflection->ClearField(&message, field);
  if (field->is_repeated()) {
    if (node.IsNull()) return;  // `hidden:` with nothing: an empty list
    if (!node.IsSequence())
      throw ConfigError(value_location, path, fmt::format("expected {}, got {}", expected_value(field), describe(node)));
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node element = node[i];
      const std::string path_i = element_path(path, static_cast<int>(i));
      const Location element_location = location_of(element, value_location);
      locations_.set(path_i, element_location);
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        if (!element.IsMap() && !element.IsNull())
          throw ConfigError(element_location, path_i, fmt::format("expected a map of fields, got {}", describe(element)));
        merge(element, *reflection->AddMessage(&message, field), path_i);
      } else {
        store_scalar(element, message, field, -1, path_i, element_location);
      }
    }
    return;
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (!node.IsMap() && !node.IsNull())
      throw ConfigError(value_location, path, fmt::format("expected a map of fields, got {}", describe(node)));
    merge(node, *reflection->MutableMessage(&message, field), path);
    return;
  }
  locations_.set(path, value_location);  // a bad value is reported where the value is
  store_scalar(node, message, field, -1, path, value_location);
}

void TreeMapper::store_scalar(const YAML::Node& node, Message& message, const FieldDescriptor* field, int index,
                              const std::string& path, const Location& where) {
  const Reflection* reflection = message.GetReflection();
  const bool repeated = field->is_repeated();
  const auto fail = [&](const std::string& problem) { throw ConfigError(where, path, problem); };
  const auto wrong_type = [&] { fail(fmt::format("expected {}, got {}", expected_element(field), describe(node))); };

  if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    std::string text;
    if (node.IsScalar()) text = node.Scalar();
    else if (!node.IsNull()) {
      if (!field->options().GetExtension(config::yaml_text)) wrong_type();
      text = flow_text(node);
    }
    if (!repeated) reflection->SetString(&message, field, text);
    else if (index < 0) reflection->AddString(&message, field, text);
    else reflection->SetRepeatedString(&message, field, index, text);
    return;
  }
  if (node.IsNull()) fail(fmt::format("no value; expected {}", expected_element(field)));
  if (!node.IsScalar()) wrong_type();
  const std::string& text = node.Scalar();

  if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
    const auto* value = field->enum_type()->FindValueByName(text);
    if (!value) fail(unknown_enum_problem(field->enum_type(), text));
    if (!repeated) reflection->SetEnum(&message, field, value);
    else if (index < 0) reflection->AddEnum(&message, field, value);
    else reflection->SetRepeatedEnum(&message, field, index, value);
    return;
  }
  if (!is_plain(node)) wrong_type();  // a quoted "3" is a string, not a number

  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool value = false;
      if (!parse_bool(text, value)) wrong_type();
      if (!repeated) reflection->SetBool(&message, field, value);
      else if (index < 0) reflection->AddBool(&message, field, value);
      else reflection->SetRepeatedBool(&message, field, index, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double value = 0;
      const NumberStatus status = parse_double(text, value);
      if (status == NumberStatus::too_large) fail(fmt::format("{} is out of range for a number", text));
      if (status != NumberStatus::ok) wrong_type();
      if (!repeated) reflection->SetDouble(&message, field, value);
      else if (index < 0) reflection->AddDouble(&message, field, value);
      else reflection->SetRepeatedDouble(&message, field, index, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value = 0;
      const NumberStatus status = parse_integer(text, value);
      const bool is32 = field->cpp_type() == FieldDescriptor::CPPTYPE_INT32;
      const bool fits = status == NumberStatus::ok &&
                        (!is32 || (value >= std::numeric_limits<int32_t>::min() && value <= std::numeric_limits<int32_t>::max()));
      if (status == NumberStatus::too_large || (status == NumberStatus::ok && !fits))
        fail(fmt::format("{} is out of range; expected an integer of {} bits", text, is32 ? 32 : 64));
      if (status != NumberStatus::ok) wrong_type();
      if (is32) {
        const auto v32 = static_cast<int32_t>(value);
        if (!repeated) reflection->SetInt32(&message, field, v32);
        else if (index < 0) reflection->AddInt32(&message, field, v32);
        else reflection->SetRepeatedInt32(&message, field, index, v32);
      } else {
        if (!repeated) reflection->SetInt64(&message, field, value);
        else if (index < 0) reflection->AddInt64(&message, field, value);
        else reflection->SetRepeatedInt64(&message, field, index, value);
      }
      return;
    }
    default:
      fail(fmt::format("fields of type {} are not supported by the config loader", field->type_name()));
  }
}

}  // namespace torus::config
