// The runs of a launch: the config's own run, or one per combination of its sweep's values
// (the cross product, first axis slowest), each named from the values it takes so that
// every run of a sweep has its own run directory.
#pragma once

#include <string>
#include <vector>

#include "launcher/config.pb.h"
#include "launcher/launch_plan.h"

namespace torus::cli {

// `overrides`: the user's key=value overrides, passed on to every run.
std::vector<RunSpec> plan_runs(const config::ExperimentConfig& config, const std::vector<std::string>& overrides);

// The command line's --sweep PATH=V1,V2 arguments as one override of the config's sweep
// section (it replaces the file's axes): sweep.axes=[{path: PATH, values: [V1, V2]}, ...].
// Commas inside brackets, braces or quotes belong to a value: hidden=[256,128],[512,256].
std::string sweep_override(const std::vector<std::string>& arguments);

// "hidden=256,128" for path model.mlp.hidden and value [256, 128]: a run name's part.
std::string name_part(const std::string& key, const std::string& value);

}  // namespace torus::cli
