// Every config in configs/: it loads, its resolved YAML loads back to the same message, its
// JSON and text-format forms (generated here from the message) load to the same message,
// and every mutant of it — each key misspelt, deleted, duplicated, and given a value of a
// wrong type or out of range — is either rejected with a message naming the field path, or
// (a deleted field with a default) accepted with that default.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "launcher/config.h"
#include "launcher/config_options.pb.h"
#include "launcher/config_resolve.h"
#include "launcher/config_schema.h"

namespace torus::config {
namespace {

using google::protobuf::Reflection;
using google::protobuf::util::MessageDifferencer;

std::vector<std::string> config_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(TORUS_SOURCE_DIR) / "configs"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string stem_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

// The message as JSON, by reflection (enum values by name, as users write them).
nlohmann::ordered_json to_json(const Message& message) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  const Reflection* r = message.GetReflection();
  const Descriptor* type = message.GetDescriptor();
  const auto value = [&](const FieldDescriptor* f, int i) -> nlohmann::ordered_json {
    const bool rep = i >= 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(message, f, i) : r->GetInt32(message, f);
      case FieldDescriptor::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(message, f, i) : r->GetInt64(message, f);
      case FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(message, f, i) : r->GetDouble(message, f);
      case FieldDescriptor::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(message, f, i) : r->GetBool(message, f);
      case FieldDescriptor::CPPTYPE_ENUM: return (rep ? r->GetRepeatedEnum(message, f, i) : r->GetEnum(message, f))->name();
      case FieldDescriptor::CPPTYPE_STRING: return rep ? r->GetRepeatedString(message, f, i) : r->GetString(message, f);
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return to_json(rep ? r->GetRepeatedMessage(message, f, i) : r->GetMessage(message, f));
      default: ADD_FAILURE() << "unexpected field type in " << f->full_name(); return nullptr;
    }
  };
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    if (f->is_repeated()) {
      out[f->name()] = nlohmann::ordered_json::array();
      for (int k = 0; k < r->FieldSize(message, f); ++k) out[f->name()].push_back(value(f, k));
    } else if (r->HasField(message, f)) {
      out[f->name()] = value(f, -1);
    }
  }
  return out;
}

// ---- mutations of a YAML tree ----

struct Mutation {
  enum Kind { none, misspell, remove, duplicate, replace } kind = none;
  std::string path;      // of the key (or list element) mutated
  std::string new_name;  // misspell
  YAML::Node value;      // replace
  std::string what;      // for failure messages
};

// Emits the tree with one mutation applied; paths are built as the loader builds them.
void emit(YAML::Emitter& out, const YAML::Node& node, const std::string& path, const Mutation& m) {
  if (node.IsMap()) {
    out << YAML::BeginMap;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string name = it->first.Scalar();
      const std::string key_path = child_path(path, name);
      const YAML::Node value = it->second;
      if (key_path != m.path || m.kind == Mutation::none) {
        out << YAML::Key << name << YAML::Value;
        emit(out, value, key_path, m);
        continue;
      }
      switch (m.kind) {
        case Mutation::misspell: out << YAML::Key << m.new_name << YAML::Value; emit(out, value, key_path, m); break;
        case Mutation::remove: break;
        case Mutation::duplicate:
          for (int twice = 0; twice < 2; ++twice) {
            out << YAML::Key << name << YAML::Value;
            emit(out, value, key_path, m);
          }
          break;
        case Mutation::replace: out << YAML::Key << name << YAML::Value << m.value; break;
        case Mutation::none: break;
      }
    }
    out << YAML::EndMap;
  } else if (node.IsSequence()) {
    out << YAML::BeginSeq;
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string element = element_path(path, static_cast<int>(i));
      if (element == m.path && m.kind == Mutation::replace) out << m.value;
      else emit(out, node[i], element, m);
    }
    out << YAML::EndSeq;
  } else {
    out << node;
  }
}

// The schema field at a loader path ("model.cnn.conv[0].kernel").
const FieldDescriptor* field_at(const std::string& path) {
  const Descriptor* type = ExperimentConfig::descriptor();
  const FieldDescriptor* field = nullptr;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    name = name.substr(0, name.find('['));
    if (!type) return nullptr;
    field = type->FindFieldByName(name);
    if (!field) return nullptr;
    type = field->message_type();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return field;
}

// The message holding the field at `path` ("model.cnn.conv[0].kernel" -> conv[0]).
Message* parent_of(Message& message, const std::string& path) {
  Message* parent = &message;
  const size_t cut = path.find_last_of('.');
  if (cut == std::string::npos) return parent;
  const std::string parent_path = path.substr(0, cut);
  size_t start = 0;
  while (true) {
    const size_t dot = parent_path.find('.', start);
    std::string segment = parent_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    int index = -1;
    if (const size_t bracket = segment.find('['); bracket != std::string::npos) {
      index = std::stoi(segment.substr(bracket + 1));
      segment = segment.substr(0, bracket);
    }
    const FieldDescriptor* f = parent->GetDescriptor()->FindFieldByName(segment);
    parent = index >= 0 ? parent->GetReflection()->MutableRepeatedMessage(parent, f, index)
                        : parent->GetReflection()->MutableMessage(parent, f);
    if (dot == std::string::npos) return parent;
    start = dot + 1;
  }
}

std::string last_name(const std::string& path) { return path.substr(path.find_last_of('.') + 1); }

// The field's value in text format; for a message's prototype, the schema's default.
std::string value_text(const Message& message, const FieldDescriptor* field) {
  std::string text;
  google::protobuf::TextFormat::PrintFieldValueToString(message, field, -1, &text);
  return text;
}

// Misspellings of a key: its last letter doubled, two middle letters swapped, a middle
// letter dropped — each unless it happens to be another valid name there.
std::vector<std::string> misspellings(const std::string& name, const Descriptor* parent) {
  std::vector<std::string> out{name + name.back()};
  if (name.size() >= 4) {
    std::string swapped = name;
    const size_t i = name.size() / 2 - 1;
    std::swap(swapped[i], swapped[i + 1]);
    if (swapped != name) out.push_back(swapped);
  }
  if (name.size() >= 5) out.push_back(name.substr(0, name.size() / 2) + name.substr(name.size() / 2 + 1));
  std::erase_if(out, [&](const std::string& s) { return parent->FindFieldByName(s) != nullptr; });
  return out;
}

YAML::Node yaml(const std::string& text) { return YAML::Load(text); }

// Values of the wrong type (and out of range) for a field, or for one element of a list.
std::vector<std::pair<std::string, YAML::Node>> wrong_values(const FieldDescriptor* field, bool element) {
  std::vector<std::pair<std::string, YAML::Node>> out;
  if (!element && field->is_repeated()) return {{"a scalar for a list", yaml("7")}, {"a map for a list", yaml("{a: 1}")}};
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
    return {{"a scalar for a section", yaml("42")}, {"a list for a section", yaml("[1, 2]")}};
  out.push_back({"a map for a scalar", yaml("{a: 1}")});
  if (!element) out.push_back({"a list for a scalar", yaml("[1, 2]")});
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      out.push_back({"a string for a number", yaml("abc")});
      const Range range = range_of(field);
      if (range.min) out.push_back({"below the minimum", yaml(number_text(range.min_exclusive ? *range.min : *range.min - 1))});
      if (range.max) out.push_back({"above the maximum", yaml(number_text(range.max_exclusive ? *range.max : *range.max + 1))});
      if (field->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE) out.push_back({"a fraction for an integer", yaml("2.5")});
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      out.push_back({"a word for a bool", yaml("maybe")});
      out.push_back({"a number for a bool", yaml("2")});
      break;
    case FieldDescriptor::CPPTYPE_ENUM: out.push_back({"an unknown enum value", yaml("bogus")}); break;
    case FieldDescriptor::CPPTYPE_STRING:
      if (!field->options().GetExtension(config::pattern).empty())
        out.push_back({"a string the pattern rejects", yaml("'not valid!'")});
      break;
    default: break;
  }
  return out;
}

class ConfigFile : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("torus_config_files_{}_{}", ::getpid(), stem_of(GetParam()));
    std::filesystem::create_directories(dir_);
    original_ = load(GetParam());
    tree_ = YAML::LoadFile(GetParam());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `text` as dir/<name> and returns the path.
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::string mutant_file(const Mutation& m) {
    YAML::Emitter out;
    emit(out, tree_, "", m);
    return write(std::filesystem::path(GetParam()).filename().string(), std::string(out.c_str()) + "\n");
  }

  // Loads the mutant; returns the error message, or "" when it loaded (into `result`).
  std::string try_load(const Mutation& m, ExperimentConfig* result = nullptr) {
    const std::string path = mutant_file(m);
    try {
      ExperimentConfig config = load(path);
      if (result) *result = config;
      return "";
    } catch (const ConfigError& e) {
      return e.what();
    }
  }

  void expect_rejected_naming(const Mutation& m, const std::string& path, const std::string& also = "") {
    const std::string error = try_load(m);
    ++mutants_;
    EXPECT_FALSE(error.empty()) << m.what << ": accepted";
    EXPECT_NE(error.find(path), std::string::npos) << m.what << ": the message does not name " << path << ": " << error;
    if (!also.empty()) {
      EXPECT_NE(error.find(also), std::string::npos) << m.what << ": no '" << also << "' in: " << error;
    }
    EXPECT_EQ(error.find('\n'), std::string::npos) << m.what << ": not one line: " << error;
  }

  // Visits every key of the tree (and every element of a list) with its loader path.
  void each_key(const std::function<void(const std::string& parent, const std::string& name, const YAML::Node&)>& visit) {
    std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& node, const std::string& path) {
      if (node.IsMap()) {
        for (auto it = node.begin(); it != node.end(); ++it) {
          const std::string name = it->first.Scalar();
          visit(path, name, it->second);
          walk(it->second, child_path(path, name));
        }
      } else if (node.IsSequence()) {
        for (size_t i = 0; i < node.size(); ++i) walk(node[i], element_path(path, static_cast<int>(i)));
      }
    };
    walk(tree_, "");
  }

  std::filesystem::path dir_;
  ExperimentConfig original_;
  YAML::Node tree_;
  int mutants_ = 0;
};

TEST_P(ConfigFile, ResolvedYamlLoadsBackToTheSameMessage) {
  const std::string resolved = to_yaml(original_);
  const ExperimentConfig again = load(write("config.resolved.yaml", resolved));
  EXPECT_TRUE(MessageDifferencer::Equals(original_, again)) << resolved << "\nvs\n" << to_yaml(again);
  EXPECT_EQ(to_yaml(again), resolved);
  // The harness's own re-emission of the file, unmutated, loads to the same message.
  ExperimentConfig unmutated;
  EXPECT_EQ(try_load(Mutation{}, &unmutated), "");
  EXPECT_TRUE(MessageDifferencer::Equals(original_, unmutated));
}

TEST_P(ConfigFile, JsonAndTextFormatFormsLoadToTheSameMessage) {
  const std::string stem = stem_of(GetParam());
  for (const int indent : {2, -1}) {  // pretty and on one line
    const ExperimentConfig json = load(write(stem + ".json", to_json(original_).dump(indent)));
    EXPECT_TRUE(MessageDifferencer::Equals(original_, json)) << to_json(original_).dump(indent);
  }
  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(original_, &text));
  const ExperimentConfig from_text = load(write(stem + ".txtpb", text));
  EXPECT_TRUE(MessageDifferencer::Equals(original_, from_text)) << text;
}

TEST_P(ConfigFile, EveryMisspeltKeyIsRejectedWithTheRightSuggestion) {
  each_key([&](const std::string& parent, const std::string& name, const YAML::Node&) {
    const FieldDescriptor* field = field_at(child_path(parent, name));
    ASSERT_NE(field, nullptr) << child_path(parent, name);
    for (const std::string& wrong : misspellings(name, field->containing_type())) {
      const Mutation m{Mutation::misspell, child_path(parent, name), wrong, {}, "misspelt " + child_path(parent, name) + " as " + wrong};
      expect_rejected_naming(m, child_path(parent, wrong), fmt::format("did you mean '{}'?", name));
    }
  });
  std::cout << mutants_ << " misspellings\n";
}

TEST_P(ConfigFile, EveryDeletedKeyTakesItsDefaultOrIsRejectedByName) {
  each_key([&](const std::string& parent, const std::string& name, const YAML::Node&) {
    const std::string path = child_path(parent, name);
    const Mutation m{Mutation::remove, path, "", {}, "deleted " + path};
    ExperimentConfig mutant;
    const std::string error = try_load(m, &mutant);
    ++mutants_;
    if (!error.empty()) {
      EXPECT_NE(error.find(path), std::string::npos) << m.what << ": the message does not name it: " << error;
      return;
    }
    EXPECT_FALSE(is_required(field_at(path))) << m.what << ": a required field, accepted";
    // The field now holds the default the schema declares (name and data.path have
    // defaults derived from the file name and the dataset).
    const FieldDescriptor* field = field_at(path);
    if (!field->message_type() && path != "name" && path != "data.path") {
      const Message& parent = *parent_of(mutant, path);
      if (field->is_repeated()) {
        EXPECT_EQ(parent.GetReflection()->FieldSize(parent, field), 0) << m.what;
      } else {
        const auto* oneof = field->containing_oneof();
        const FieldDescriptor* set = oneof ? oneof->field(0) : field;  // the member that takes its default
        const Message* prototype = google::protobuf::MessageFactory::generated_factory()->GetPrototype(parent.GetDescriptor());
        EXPECT_TRUE(parent.GetReflection()->HasField(parent, set)) << m.what;
        EXPECT_EQ(value_text(parent, set), value_text(*prototype, set)) << m.what;
      }
    }
    ExperimentConfig expected = original_;
    Message* parent = parent_of(expected, path);
    parent->GetReflection()->ClearField(parent, parent->GetDescriptor()->FindFieldByName(last_name(path)));
    resolve_defaults(expected, mutant_file(m));
    EXPECT_TRUE(MessageDifferencer::Equals(mutant, expected)) << m.what << ":\n" << to_yaml(mutant) << "\nexpected\n"
                                                              << to_yaml(expected);
  });
  std::cout << mutants_ << " deletions\n";
}

TEST_P(ConfigFile, EveryDuplicatedKeyIsRejected) {
  each_key([&](const std::string& parent, const std::string& name, const YAML::Node&) {
    const std::string path = child_path(parent, name);
    expect_rejected_naming(Mutation{Mutation::duplicate, path, "", {}, "duplicated " + path}, path, "duplicated key");
  });
  std::cout << mutants_ << " duplicates\n";
}

TEST_P(ConfigFile, EveryKeyGivenAWrongValueIsRejected) {
  each_key([&](const std::string& parent, const std::string& name, const YAML::Node& value) {
    const std::string path = child_path(parent, name);
    const FieldDescriptor* field = field_at(path);
    ASSERT_NE(field, nullptr) << path;
    for (const auto& [what, wrong] : wrong_values(field, false))
      expect_rejected_naming(Mutation{Mutation::replace, path, "", wrong, fmt::format("{}: {}", path, what)}, path);
    // Each element of a list of numbers or strings (a sweep's values are YAML text: any goes).
    if (field->is_repeated() && !field->message_type() && value.IsSequence() &&
        !field->options().GetExtension(config::yaml_text))
      for (size_t i = 0; i < value.size(); ++i)
        for (const auto& [what, wrong] : wrong_values(field, true)) {
          const std::string element = element_path(path, static_cast<int>(i));
          expect_rejected_naming(Mutation{Mutation::replace, element, "", wrong, fmt::format("{}: {}", element, what)}, element);
        }
    // Each element of a list of sections given a scalar.
    if (field->is_repeated() && field->message_type() && value.IsSequence())
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string element = element_path(path, static_cast<int>(i));
        expect_rejected_naming(Mutation{Mutation::replace, element, "", yaml("7"), element + ": a scalar for a section"}, element);
      }
  });
  std::cout << mutants_ << " wrong values\n";
}

INSTANTIATE_TEST_SUITE_P(Configs, ConfigFile, ::testing::ValuesIn(config_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return stem_of(info.param); });

TEST(ConfigFiles, TheShippedSetIsComplete) {
  std::vector<std::string> stems;
  for (const std::string& file : config_files()) stems.push_back(stem_of(file));
  for (const char* expected : {"fashion_mnist_mlp", "fashion_mnist_cnn", "gpt_text", "sweep_mlp_lr", "gpt_text_slurm"})
    EXPECT_NE(std::find(stems.begin(), stems.end(), expected), stems.end()) << expected;
  EXPECT_EQ(load(std::string(TORUS_SOURCE_DIR) + "/configs/gpt_text_slurm.yaml").launch().scheduler(), Scheduler::slurm);
  EXPECT_EQ(load(std::string(TORUS_SOURCE_DIR) + "/configs/sweep_mlp_lr.yaml").sweep().axes_size(), 2);
}

}  // namespace
}  // namespace torus::config
