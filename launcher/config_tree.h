// Maps a YAML node tree onto config messages through reflection. YAML files, JSON files
// (read by yaml-cpp, as JSON is YAML's flow syntax) and the values of key=value overrides
// all come through here, so they share one set of checks: unknown and duplicated keys,
// wrong types, numbers that do not fit, unknown enum values.
#pragma once

#include <string>

#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include "launcher/config_error.h"

namespace torus::config {

class TreeMapper {
 public:
  // `origin` names the source in messages. With `use_marks`, node positions are file
  // positions; an override's value has none worth reporting.
  TreeMapper(std::string origin, bool use_marks, SourceMap& locations);

  // Merges a map node into `message`, the section at `path` ("" for the top level).
  void merge(const YAML::Node& node, google::protobuf::Message& message, const std::string& path);
  // Replaces `field` of `message` (at `path`) with the value `node` holds.
  void assign(const YAML::Node& node, google::protobuf::Message& message,
              const google::protobuf::FieldDescriptor* field, const std::string& path);
  // Replaces element `index` of the repeated `field`.
  void assign_element(const YAML::Node& node, google::protobuf::Message& message,
                      const google::protobuf::FieldDescriptor* field, int index, const std::string& path);

 private:
  Location location_of(const YAML::Node& node, const Location& fallback) const;
  void assign_value(const YAML::Node& node, google::protobuf::Message& message,
                    const google::protobuf::FieldDescriptor* field, const std::string& path, const Location& where);
  // Stores a scalar into `field`: at `index` of a repeated field, appended when index < 0.
  void store_scalar(const YAML::Node& node, google::protobuf::Message& message,
                    const google::protobuf::FieldDescriptor* field, int index, const std::string& path,
                    const Location& where);

  std::string origin_;
  bool use_marks_;
  SourceMap& locations_;
};

}  // namespace torus::config
