// YAML emission through yaml-cpp's emitter, which does the quoting and escaping; numbers
// are formatted here, shortest text that reads back to the same value.
#include "launcher/config_yaml.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "kernels/common/error.h"
#include "launcher/config_schema.h"

namespace torus::config {
namespace {

using google::protobuf::Reflection;

void emit_scalar(YAML::Emitter& out, const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out << std::to_string(repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      out << std::to_string(repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      out << std::to_string(repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      out << std::to_string(repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out << number_text(repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field));
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out << number_text(repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      out << ((repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field)) ? "true" : "false");
      return;
    case FieldDescriptor::CPPTYPE_ENUM:
      out << (repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))->name();
      return;
    case FieldDescriptor::CPPTYPE_STRING:
      // Always quoted, so that "1e-3", "true" or "" read back as strings.
      out << YAML::DoubleQuoted
          << (repeated ? r->GetRepeatedString(message, field, index) : r->GetString(message, field));
      return;
    case FieldDescriptor::CPPTYPE_MESSAGE: return;
  }
}

void emit_message(YAML::Emitter& out, const Message& message) {
  const Reflection* r = message.GetReflection();
  const Descriptor* type = message.GetDescriptor();
  out << YAML::BeginMap;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (field->is_repeated()) {
      const int size = r->FieldSize(message, field);
      out << YAML::Key << field->name() << YAML::Value;
      // Lists of numbers and strings on one line; lists of sections as blocks.
      out << (is_message && size > 0 ? YAML::Block : YAML::Flow) << YAML::BeginSeq;
      for (int k = 0; k < size; ++k) {
        if (is_message) emit_message(out, r->GetRepeatedMessage(message, field, k));
        else emit_scalar(out, message, field, k);
      }
      out << YAML::EndSeq;
      continue;
    }
    if (!r->HasField(message, field)) continue;
    out << YAML::Key << field->name() << YAML::Value;
    if (is_message) emit_message(out, r->GetMessage(message, field));
    else emit_scalar(out, message, field, -1);
  }
  out << YAML::EndMap;
}

}  // namespace

std::string to_yaml(const Message& message) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit_message(out, message);
  return std::string(out.c_str()) + "\n";
}

std::filesystem::path write_resolved(const ExperimentConfig& config, const std::filesystem::path& run_dir) {
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) throw IOError(fmt::format("{}: cannot create the run directory: {}", run_dir.string(), error.message()));
  const std::filesystem::path path = run_dir / "config.resolved.yaml";
  const std::filesystem::path temporary = run_dir / "config.resolved.yaml.tmp";
  {
    std::ofstream file(temporary);
    file << "# The config of run " << config.name() << " with every default filled in (torus config reference\n"
         << "# documents each field). `torus train` reads it as it reads any config.\n"
         << to_yaml(config);
    file.close();
    if (!file) throw IOError(fmt::format("{}: cannot write: {}", temporary.string(), std::strerror(errno)));
  }
  std::filesystem::rename(temporary, path, error);
  if (error) throw IOError(fmt::format("{}: cannot rename to {}: {}", temporary.string(), path.string(), error.message()));
  return path;
}

}  // namespace torus::config
