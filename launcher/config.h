// The config system in one include: the schema's message types (torus::config::
// ExperimentConfig and its sections), loading with overrides, the resolved YAML, errors.
#pragma once

#include "launcher/config.pb.h"
#include "launcher/config_error.h"
#include "launcher/config_load.h"
#include "launcher/config_yaml.h"
