// `torus config reference`: every config field with its type, default, allowed values and
// doc, generated from the schema's descriptors (docs/CONFIG.md is its Markdown form).
#pragma once

#include <string>

namespace torus::config {

std::string reference_text();
std::string reference_markdown();

}  // namespace torus::config
