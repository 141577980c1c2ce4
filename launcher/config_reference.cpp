// The reference is a walk over ExperimentConfig's descriptors; nothing in it is written
// by hand except the introduction, so it lists exactly what the loader accepts.
#include "launcher/config_reference.h"

#include <cctype>
#include <functional>

#include <fmt/format.h>

#include "launcher/config.pb.h"
#include "launcher/config_options.pb.h"
#include "launcher/config_schema.h"

namespace torus::config {
namespace {

struct Entry {
  std::string path;  // "model.cnn.conv[].kernel"
  std::string type;
  std::string default_value;
  std::string allowed;
  std::string doc;
};

std::string allowed_of(const FieldDescriptor* field, const std::string& parent_path) {
  std::vector<std::string> parts;
  if (is_required(field)) parts.push_back("required");
  if (field->enum_type()) parts.push_back("one of " + enum_choices(field->enum_type()));
  if (const Range range = range_of(field); !range.empty()) parts.push_back(range.str());
  if (const std::string& pattern_doc = field->options().GetExtension(config::pattern_doc); !pattern_doc.empty())
    parts.push_back(pattern_doc);
  if (const FieldDescriptor* selector = selector_of(field))
    parts.push_back(fmt::format("only when {} is {}", child_path(parent_path, selector->name()), field->name()));
  if (const auto* oneof = field->containing_oneof()) {
    std::string members;
    for (int i = 0; i < oneof->field_count(); ++i) members += (i ? " or " : "") + oneof->field(i)->name();
    parts.push_back("give " + members + ", not both");
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

void collect(const Descriptor* type, const std::string& path, std::vector<Entry>& entries) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const std::string field_path = child_path(path, field->name());
    entries.push_back({field_path, type_name(field), default_text(field), allowed_of(field, path), doc_of(field)});
    if (field->message_type())
      collect(field->message_type(), field->is_repeated() ? field_path + "[]" : field_path, entries);
  }
}

std::vector<Entry> all_entries() {
  std::vector<Entry> entries;
  collect(ExperimentConfig::descriptor(), "", entries);
  return entries;
}

// Table cells: keep '|' from ending the cell, <name> from reading as an HTML tag and
// a * b from turning italic.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '<') out += "&lt;";
    else if (c == '*') out += "\\*";
    else out += c;
  }
  return out;
}

std::string sentence(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text + ".";
}

constexpr const char* kIntroduction = R"(# Config reference

Generated from `launcher/config.proto` by `torus config reference --markdown`; do not edit
by hand (a test checks that this file is up to date).

A config file is YAML (`.yaml`, `.yml`), JSON (`.json`) or protobuf text format (`.txtpb`,
`.textproto`, `.pbtxt`); the fields and their names are the same in all three, enum values
included (`kind: mlp`). Overrides on the command line set one field each, after the file:
`key=value` with a dotted path and a value written as in YAML, for example
`optimizer.lr=3e-4`, `model.mlp.hidden=[512,256]`, `launch.scheduler=slurm`, or
`model.cnn.conv[1].pool=2` for an element of a list (`[]` in the paths below stands for any
element). `torus config print CONFIG [key=value ...]` prints the config with every default
filled in, as the run directory's `config.resolved.yaml` holds it; `torus config check`
only validates.

Unknown keys, duplicated keys, wrong types, values out of range and missing required fields
are errors that name the file, line and column, the field path and what was expected; the
`torus` tool exits with status 2 and starts nothing.
)";

}  // namespace

std::string reference_text() {
  std::string out;
  for (const Entry& e : all_entries()) {
    out += e.path + "  (" + e.type;
    if (!e.default_value.empty()) out += ", default " + e.default_value;
    if (!e.allowed.empty()) out += "; " + e.allowed;
    out += ")\n";
    if (!e.doc.empty()) out += "    " + e.doc + "\n";
  }
  return out;
}

std::string reference_markdown() {
  std::string out = kIntroduction;
  const auto table_header = [&] {
    out += "\n| field | type | default | allowed | description |\n|---|---|---|---|---|\n";
  };
  const auto row = [&](const Entry& e) {
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", e.path, e.type,
                       e.default_value.empty() ? "" : "`" + e.default_value + "`", cell(e.allowed), cell(e.doc));
  };
  const std::vector<Entry> entries = all_entries();
  const Descriptor* top = ExperimentConfig::descriptor();
  out += "\n## Top level\n";
  table_header();
  for (const Entry& e : entries)
    if (const auto* f = top->FindFieldByName(e.path); f && !f->message_type()) row(e);
  for (int i = 0; i < top->field_count(); ++i) {
    const FieldDescriptor* section = top->field(i);
    if (!section->message_type()) continue;
    out += fmt::format("\n## {}\n\n{}\n", section->name(), cell(sentence(doc_of(section))));
    table_header();
    for (const Entry& e : entries)
      if (e.path.starts_with(section->name() + ".")) row(e);
  }
  return out;
}

}  // namespace torus::config
