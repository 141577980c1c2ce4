// Pre-flight checks of a launch: what can be checked before anything starts — the torus
// executable and the programs the scheduler needs, the data and files the runs read, the
// hostfile or host list (hosts resolvable, slots), cores against ranks — each problem
// said in one line. The config itself was validated when it was loaded.
#pragma once

#include <string>
#include <vector>

#include "launcher/config.pb.h"
#include "launcher/launch_plan.h"

namespace torus::cli {

struct PreflightReport {
  std::vector<std::string> errors;    // the launch cannot work: nothing is started
  std::vector<std::string> warnings;  // it may work, or work worse than meant
};

// `dry_run`: a program the launch would need (sbatch, mpirun) missing here is a warning,
// since nothing is run.
PreflightReport preflight(const config::ExperimentConfig& config, const LaunchContext& context, bool dry_run);

struct HostSlots {
  std::string host;
  int slots = 1;
};

// An Open MPI hostfile: "host [slots=N] [max_slots=N]" lines, '#' comments. A line it
// cannot read is an error naming the file and the line.
std::vector<HostSlots> read_hostfile(const std::string& path);

// launch.hosts entries, "name" or "name:slots".
std::vector<HostSlots> parse_hosts(const std::vector<std::string>& hosts);

}  // namespace torus::cli
