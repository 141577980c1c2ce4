// Reflection helpers over config.proto and its custom options (config_options.proto).
#include "launcher/config_schema.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include <fmt/format.h>

#include "launcher/config.pb.h"
#include "launcher/config_options.pb.h"

namespace torus::config {
namespace {

// Case and '-' versus '_' are not worth an edit: "batch-size" means batch_size.
std::string normalized(const std::string& word) {
  std::string out = word;
  for (char& c : out) c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
// transpositions (the usual typos) each cost one.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string quoted_list(const std::vector<std::string>& names, const char* separator) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? separator : "") + ("'" + names[i] + "'");
  return out;
}

// Visits every field below ExperimentConfig with its dotted path ("[]" after list fields).
void visit_schema(const Descriptor* type, const std::string& path,
                  const std::function<void(const FieldDescriptor*, const std::string&)>& visit) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const std::string field_path = child_path(path, field->name());
    visit(field, field_path);
    if (field->message_type())
      visit_schema(field->message_type(), field->is_repeated() ? field_path + "[]" : field_path, visit);
  }
}

std::string singular_expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: return "an integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: return "a number";
    case FieldDescriptor::CPPTYPE_BOOL: return "true or false";
    case FieldDescriptor::CPPTYPE_ENUM: return "one of " + enum_choices(field->enum_type());
    case FieldDescriptor::CPPTYPE_STRING: return "a string";
    case FieldDescriptor::CPPTYPE_MESSAGE: return "a map of fields";
  }
  return "a value";
}

std::string singular_type_name(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: return "integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: return "number";
    case FieldDescriptor::CPPTYPE_BOOL: return "bool";
    case FieldDescriptor::CPPTYPE_ENUM: return "enum";
    case FieldDescriptor::CPPTYPE_STRING: return "string";
    case FieldDescriptor::CPPTYPE_MESSAGE: return "section";
  }
  return "value";
}

std::string plural(const std::string& type) { return type == "bool" ? "bools" : type + "s"; }

}  // namespace

std::string child_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

std::string element_path(const std::string& path, int index) { return fmt::format("{}[{}]", path, index); }

std::string doc_of(const FieldDescriptor* field) { return field->options().GetExtension(config::doc); }

bool is_required(const FieldDescriptor* field) { return field->options().GetExtension(config::required); }

bool Range::contains(double value) const {
  if (min && (min_exclusive ? value <= *min : value < *min)) return false;
  if (max && (max_exclusive ? value >= *max : value > *max)) return false;
  return true;
}

std::string Range::str() const {
  if (min && max)
    return fmt::format("{}{}, {}{}", min_exclusive ? "(" : "[", number_text(*min), number_text(*max),
                       max_exclusive ? ")" : "]");
  if (min) return fmt::format("{} {}", min_exclusive ? ">" : ">=", number_text(*min));
  if (max) return fmt::format("{} {}", max_exclusive ? "<" : "<=", number_text(*max));
  return "";
}

Range range_of(const FieldDescriptor* field) {
  const auto& options = field->options();
  Range range;
  if (options.HasExtension(config::min)) range.min = options.GetExtension(config::min);
  if (options.HasExtension(config::max)) range.max = options.GetExtension(config::max);
  range.min_exclusive = options.GetExtension(config::min_exclusive);
  range.max_exclusive = options.GetExtension(config::max_exclusive);
  return range;
}

std::string expected_value(const FieldDescriptor* field) {
  if (!field->is_repeated()) return singular_expected(field);
  return "a list of " + plural(singular_type_name(field));
}

std::string expected_element(const FieldDescriptor* field) { return singular_expected(field); }

std::string type_name(const FieldDescriptor* field) {
  if (!field->is_repeated()) return singular_type_name(field);
  return "list of " + plural(singular_type_name(field));
}

std::string enum_choices(const EnumDescriptor* type) {
  std::string out;
  for (int i = 0; i < type->value_count(); ++i) out += (i ? ", " : "") + type->value(i)->name();
  return out;
}

std::string number_text(double value) { return fmt::format("{}", value); }

std::string default_text(const FieldDescriptor* field) {
  if (field->is_repeated()) return "[]";
  if (is_required(field) || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return "";
  // Only the first member of a oneof has a default: it applies when none is given.
  if (const auto* oneof = field->containing_oneof(); oneof && oneof->field(0) != field) return "";
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return std::to_string(field->default_value_int32());
    case FieldDescriptor::CPPTYPE_INT64: return std::to_string(field->default_value_int64());
    case FieldDescriptor::CPPTYPE_UINT32: return std::to_string(field->default_value_uint32());
    case FieldDescriptor::CPPTYPE_UINT64: return std::to_string(field->default_value_uint64());
    case FieldDescriptor::CPPTYPE_DOUBLE: return number_text(field->default_value_double());
    case FieldDescriptor::CPPTYPE_FLOAT: return number_text(field->default_value_float());
    case FieldDescriptor::CPPTYPE_BOOL: return field->default_value_bool() ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM: return field->default_value_enum()->name();
    case FieldDescriptor::CPPTYPE_STRING: return "\"" + field->default_value_string() + "\"";
    case FieldDescriptor::CPPTYPE_MESSAGE: return "";
  }
  return "";
}

const FieldDescriptor* selector_of(const FieldDescriptor* section) {
  const std::string& selector = section->options().GetExtension(config::selected_by);
  if (selector.empty()) return nullptr;
  return section->containing_type()->FindFieldByName(selector);
}

bool applies(const Message& parent, const FieldDescriptor* field) {
  const FieldDescriptor* selector = selector_of(field);
  if (!selector) return true;
  const auto* reflection = parent.GetReflection();
  return reflection->HasField(parent, selector) && reflection->GetEnum(parent, selector)->name() == field->name();
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string wanted = normalized(word);
  const size_t allowed = wanted.size() <= 5 ? 1 : wanted.size() <= 8 ? 2 : 3;  // "base" is not "name"
  std::string best;
  size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = edit_distance(wanted, normalized(candidate));
    if (distance < best_distance) best = candidate, best_distance = distance;
  }
  return best;
}

std::string unknown_field_problem(const Descriptor* type, const std::string& name) {
  std::vector<std::string> siblings;
  for (int i = 0; i < type->field_count(); ++i) siblings.push_back(type->field(i)->name());
  if (std::string near = nearest(name, siblings); !near.empty())
    return fmt::format("unknown field; did you mean '{}'?", near);
  std::vector<std::string> elsewhere = paths_of_field(name);
  if (!elsewhere.empty()) {
    if (elsewhere.size() > 3) elsewhere.resize(3);
    return fmt::format("unknown field here; did you mean {}?", quoted_list(elsewhere, " or "));
  }
  return fmt::format("unknown field; expected one of {}", quoted_list(siblings, ", "));
}

std::string unknown_enum_problem(const EnumDescriptor* type, const std::string& value) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
  const std::string near = nearest(value, names);
  return fmt::format("unknown value '{}'; expected one of {}{}", value, enum_choices(type),
                     near.empty() ? "" : fmt::format("; did you mean '{}'?", near));
}

std::vector<std::string> paths_of_field(const std::string& name) {
  std::vector<std::string> paths;
  visit_schema(ExperimentConfig::descriptor(), "", [&](const FieldDescriptor* field, const std::string& path) {
    if (normalized(field->name()) == normalized(name)) paths.push_back(path);
  });
  return paths;
}

}  // namespace torus::config
