// What the schema says about a field, read by reflection from config.proto and its custom
// options: how to name its type and range to a user, which section applies, which name a
// misspelling meant. Shared by the loader, the validator, the emitter and the reference.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

namespace torus::config {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// "optimizer" + "lr" -> "optimizer.lr"; "" + "seed" -> "seed".
std::string child_path(const std::string& parent, const std::string& name);
// "model.mlp.hidden", 1 -> "model.mlp.hidden[1]".
std::string element_path(const std::string& path, int index);

// The field's one-line doc, or "".
std::string doc_of(const FieldDescriptor* field);
bool is_required(const FieldDescriptor* field);

// The allowed range of a numeric field, from its (min)/(max) options.
struct Range {
  std::optional<double> min, max;
  bool min_exclusive = false, max_exclusive = false;
  bool contains(double value) const;
  bool empty() const { return !min && !max; }
  std::string str() const;  // "[0, 1)", ">= 1", "> 0", ""
};
Range range_of(const FieldDescriptor* field);

// For messages: "an integer", "a number", "true or false", "one of sgd, adam, adamw",
// "a string", "a map of fields", "a list of integers".
std::string expected_value(const FieldDescriptor* field);
// What one value (one element, for a list) of the field must be: "an integer".
std::string expected_element(const FieldDescriptor* field);
// For the reference: "integer", "number", "bool", "string", "section", "list of integers".
std::string type_name(const FieldDescriptor* field);
// "mlp, cnn, gpt".
std::string enum_choices(const EnumDescriptor* type);
// The field's default as it would be written in YAML ("0.01", "true", "sgd", "\"runs\""),
// or "" for fields without one (sections, lists, required fields).
std::string default_text(const FieldDescriptor* field);
// Shortest text that reads back as the same double ("0.0003", "1e-08", "300").
std::string number_text(double value);

// For a section with (selected_by): whether it applies, given the selecting enum's value.
// Other fields always apply.
bool applies(const Message& parent, const FieldDescriptor* field);
// The enum field that selects `section`, or null if the section is not selected.
const FieldDescriptor* selector_of(const FieldDescriptor* section);

// The problem to report for an unknown field `name` in a message of `type`:
// "unknown field; did you mean 'lr'?", with the nearest sibling name within a few edits,
// else fields of that name elsewhere in the config, else the list of valid names.
std::string unknown_field_problem(const Descriptor* type, const std::string& name);
// "unknown value 'mpl'; expected one of mlp, cnn, gpt; did you mean 'mlp'?"
std::string unknown_enum_problem(const EnumDescriptor* type, const std::string& value);
// The candidate nearest to `word` within a few edits (transpositions count as one), or "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

// Dotted paths of every field called `name` (ignoring case and - versus _) below
// ExperimentConfig, with "[]" after list fields: "model.cnn.conv[].kernel".
std::vector<std::string> paths_of_field(const std::string& name);

}  // namespace torus::config
