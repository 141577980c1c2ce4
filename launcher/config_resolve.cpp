// Filling in defaults by reflection, so that new fields need no code here.
#include "launcher/config_resolve.h"

#include <cctype>
#include <filesystem>

#include "launcher/config_schema.h"

namespace torus::config {
namespace {

using google::protobuf::Reflection;

void set_default(Message& message, const FieldDescriptor* field) {
  const Reflection* r = message.GetReflection();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: r->SetInt32(&message, field, field->default_value_int32()); break;
    case FieldDescriptor::CPPTYPE_INT64: r->SetInt64(&message, field, field->default_value_int64()); break;
    case FieldDescriptor::CPPTYPE_UINT32: r->SetUInt32(&message, field, field->default_value_uint32()); break;
    case FieldDescriptor::CPPTYPE_UINT64: r->SetUInt64(&message, field, field->default_value_uint64()); break;
    case FieldDescriptor::CPPTYPE_DOUBLE: r->SetDouble(&message, field, field->default_value_double()); break;
    case FieldDescriptor::CPPTYPE_FLOAT: r->SetFloat(&message, field, field->default_value_float()); break;
    case FieldDescriptor::CPPTYPE_BOOL: r->SetBool(&message, field, field->default_value_bool()); break;
    case FieldDescriptor::CPPTYPE_ENUM: r->SetEnum(&message, field, field->default_value_enum()); break;
    case FieldDescriptor::CPPTYPE_STRING: r->SetString(&message, field, field->default_value_string()); break;
    case FieldDescriptor::CPPTYPE_MESSAGE: fill_defaults(*r->MutableMessage(&message, field)); break;
  }
}

// A run name the (name) pattern accepts, made from a file name: "my config" -> "my_config".
std::string name_from(const std::string& source_path) {
  std::string name = std::filesystem::path(source_path).stem().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("._+=,-").find(c) == std::string::npos) c = '_';
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name[0]))) name.erase(0, 1);
  return name.empty() ? "run" : name;
}

}  // namespace

void fill_defaults(Message& message) {
  const Reflection* r = message.GetReflection();
  const Descriptor* type = message.GetDescriptor();
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (field->is_repeated()) {
      if (is_message)
        for (int k = 0; k < r->FieldSize(message, field); ++k) fill_defaults(*r->MutableRepeatedMessage(&message, field, k));
      continue;
    }
    if (r->HasField(message, field)) {
      if (is_message) fill_defaults(*r->MutableMessage(&message, field));
      continue;
    }
    // Of a oneof none of whose members is given, the first one takes its default.
    if (const auto* oneof = field->containing_oneof(); oneof && (r->HasOneof(message, oneof) || oneof->field(0) != field))
      continue;
    if (is_required(field) || !applies(message, field)) continue;
    set_default(message, field);
  }
}

void resolve_defaults(ExperimentConfig& config, const std::string& source_path) {
  if (!config.has_name()) config.set_name(name_from(source_path));
  if (config.data().has_dataset() && config.data().dataset() == Dataset::fashion_mnist && config.data().path().empty())
    config.mutable_data()->set_path(kDebianFashionMnistDir);
  fill_defaults(config);
}

}  // namespace torus::config
