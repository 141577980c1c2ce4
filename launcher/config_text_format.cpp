// Text format goes straight into the message (no tree), so its type checks are protobuf's;
// the field positions it records feed the same validation pass as YAML and JSON. Its
// errors carry a position but no field path: protobuf's tokenizer, run up to that
// position, tells which sections are open and which field was being read.
#include "launcher/config_text_format.h"

#include <regex>

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>

#include "launcher/config_schema.h"

namespace torus::config {
namespace {

using google::protobuf::TextFormat;
using google::protobuf::io::Tokenizer;

class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!seen) line_ = line, column_ = column, message_ = message, seen = true;
  }
  void AddWarning(int, int, const std::string&) override {}
  bool seen = false;
  int line_ = -1, column_ = -1;
  std::string message_;
};

class IgnoreErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
};

// Where the parser was at (line, column), 0-based: the sections open there and the last
// field name read, as "data" and "batch_size".
struct Context {
  std::vector<std::string> sections;
  std::string field;
  std::string section_path() const {
    std::string path;
    for (const std::string& s : sections) path = child_path(path, s);
    return path;
  }
};

Context context_at(const std::string& text, int line, int column) {
  google::protobuf::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  IgnoreErrors ignore;
  Tokenizer tokenizer(&input, &ignore);
  Context context;
  Tokenizer::Token previous;  // a field name is an identifier followed by ':', '{' or '<'
  while (tokenizer.Next()) {
    const Tokenizer::Token& token = tokenizer.current();
    if (token.line > line || (token.line == line && token.column >= column)) break;
    const bool after_name = previous.type == Tokenizer::TYPE_IDENTIFIER;
    if (token.text == ":" && after_name) {
      context.field = previous.text;
    } else if (token.text == "{" || token.text == "<") {
      // `data {` or `data: {`
      if (after_name) context.field = previous.text;
      if (after_name || previous.text == ":") context.sections.push_back(context.field);
      context.field.clear();
    } else if ((token.text == "}" || token.text == ">") && !context.sections.empty()) {
      context.field = context.sections.back();
      context.sections.pop_back();
    } else if ((previous.text == ":" && token.text != "[") || token.text == "]") {
      context.field.clear();  // the field's value is complete
    }
    previous = token;
  }
  return context;
}

// The field at a dotted path of section names, or null.
const FieldDescriptor* field_at(const std::vector<std::string>& sections, const std::string& name) {
  const Descriptor* type = ExperimentConfig::descriptor();
  for (const std::string& section : sections) {
    const FieldDescriptor* field = type->FindFieldByName(section);
    if (!field || !field->message_type()) return nullptr;
    type = field->message_type();
  }
  return type->FindFieldByName(name);
}

// Protobuf's wording of the errors users make, rewritten as the YAML loader words them.
ConfigError translate(const FirstError& error, const std::string& text, const std::string& origin) {
  const Location where{origin, error.line_ + 1, error.column_ + 1};
  const Context context = context_at(text, error.line_, error.column_);
  const std::string& message = error.message_;
  std::smatch m;
  static const std::regex unknown_field(R"re(Message type "([\w.]+)" has no field named "([^"]+)"\.)re");
  static const std::regex duplicate(R"re(Non-repeated field "(\w+)" is specified multiple times\.)re");
  static const std::regex enum_value(R"re(Unknown enumeration value of "([^"]*)" for field "(\w+)"\.)re");
  static const std::regex oneof(R"re(Field "(\w+)" is specified along with field "(\w+)", another member of oneof "\w+"\.)re");
  const auto path_of = [&](const std::string& name) { return child_path(context.section_path(), name); };
  if (std::regex_search(message, m, unknown_field)) {
    if (const auto* type = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(m[1].str()))
      return ConfigError(where, path_of(m[2].str()), unknown_field_problem(type, m[2].str()));
  }
  if (std::regex_search(message, m, duplicate)) return ConfigError(where, path_of(m[1].str()), "duplicated key");
  if (std::regex_search(message, m, enum_value)) {
    const FieldDescriptor* field = field_at(context.sections, m[2].str());
    if (field && field->enum_type())
      return ConfigError(where, path_of(m[2].str()), unknown_enum_problem(field->enum_type(), m[1].str()));
  }
  if (std::regex_search(message, m, oneof))
    return ConfigError(where, path_of(m[1].str()),
                       fmt::format("give only one of {} or {}; {} is already given", m[2].str(), m[1].str(), m[2].str()));
  // A wrong type or a syntax error: protobuf's words, with the field being read.
  const FieldDescriptor* field = field_at(context.sections, context.field);
  const std::string path = field ? path_of(context.field) : context.section_path();
  std::string problem = message;
  if (problem.ends_with("got: ")) problem += "the end of the file";  // protobuf leaves it blank
  return ConfigError(where, path, "text format: " + problem);
}

// Records where each field of `message` (at `path`) was given, from the parser's tree.
void record_locations(const Message& message, const TextFormat::ParseInfoTree& tree, const std::string& origin,
                      const std::string& path, SourceMap& locations) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  const auto location = [&](const FieldDescriptor* field, int index) {
    const auto at = tree.GetLocation(field, index);
    return at.line < 0 ? Location{origin} : Location{origin, at.line + 1, at.column + 1};
  };
  for (const FieldDescriptor* field : fields) {
    const std::string field_path = child_path(path, field->name());
    if (!field->is_repeated()) {
      locations.set(field_path, location(field, -1));
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        if (const auto* nested = tree.GetTreeForNested(field, -1))
          record_locations(message.GetReflection()->GetMessage(message, field), *nested, origin, field_path, locations);
      continue;
    }
    const int size = message.GetReflection()->FieldSize(message, field);
    if (size > 0) locations.set(field_path, location(field, 0));
    for (int i = 0; i < size; ++i) {
      locations.set(element_path(field_path, i), location(field, i));
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        if (const auto* nested = tree.GetTreeForNested(field, i))
          record_locations(message.GetReflection()->GetRepeatedMessage(message, field, i), *nested, origin,
                           element_path(field_path, i), locations);
    }
  }
}

}  // namespace

void parse_text_format(const std::string& text, const std::string& origin, ExperimentConfig& config,
                       SourceMap& locations) {
  TextFormat::Parser parser;
  FirstError error;
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&error);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, &config)) {
    if (error.seen) throw translate(error, text, origin);
    throw ConfigError(Location{origin}, "", "text format: cannot be parsed");
  }
  record_locations(config, tree, origin, "", locations);
}

}  // namespace torus::config
