// Pre-flight checks (see launch_preflight.h).
#include "launcher/launch_preflight.h"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace torus::cli {
namespace fs = std::filesystem;
namespace {

using config::Scheduler;

// The program's path when PATH has it.
std::optional<fs::path> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
  }
  return std::nullopt;
}

bool resolvable(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  const int status = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) ::freeaddrinfo(found);
  return status == 0;
}


void check_inputs(const config::ExperimentConfig& config, const LaunchContext& context, PreflightReport& report) {
  const auto& data = config.data();
  enum class Kind { file, directory, any };
  auto need = [&](const std::string& what, const std::string& path, Kind kind) {
    const fs::path p = context.working_dir / path;  // an absolute path stays as it is
    std::error_code error;
    if (!fs::exists(p, error)) report.errors.push_back(fmt::format("{} {}: does not exist", what, p.string()));
    else if (kind == Kind::directory && !fs::is_directory(p, error))
      report.errors.push_back(fmt::format("{} {}: not a directory", what, p.string()));
    else if (kind == Kind::file && !fs::is_regular_file(p, error))
      report.errors.push_back(fmt::format("{} {}: not a file", what, p.string()));
  };
  if (data.dataset() == config::Dataset::fashion_mnist)
    need("data.path", data.path().empty() ? "/usr/share/datasets/fashion-mnist" : data.path(), Kind::directory);
  else if (data.dataset() != config::Dataset::synthetic)
    need("data.path", data.path(), Kind::file);
  if (!data.eval_path().empty()) need("data.eval_path", data.eval_path(), Kind::any);
  if (!config.init_from().empty()) need("init_from", config.init_from(), Kind::file);
  if (!config.resume().empty() && config.resume() != "auto") need("resume", config.resume(), Kind::directory);
}

void check_hosts(const config::LaunchConfig& launch, PreflightReport& report) {
  std::vector<HostSlots> hosts;
  try {
    if (!launch.hostfile().empty()) hosts = read_hostfile(launch.hostfile());
    else hosts = parse_hosts({launch.hosts().begin(), launch.hosts().end()});
  } catch (const Error& e) {
    report.errors.push_back(e.what());
    return;
  }
  if (hosts.empty()) {
    report.errors.push_back(launch.hostfile().empty()
                                ? "launch.scheduler mpirun needs launch.hostfile or launch.hosts"
                                : fmt::format("{}: names no host", launch.hostfile()));
    return;
  }
  int slots = 0;
  for (const HostSlots& h : hosts) {
    slots += h.slots;
    if (!resolvable(h.host)) report.errors.push_back(fmt::format("host '{}' does not resolve", h.host));
  }
  if (static_cast<int>(hosts.size()) < launch.nodes())
    report.errors.push_back(fmt::format("launch.nodes is {}, but the {} names {} host{}", launch.nodes(),
                                        launch.hostfile().empty() ? "host list" : "hostfile", hosts.size(),
                                        hosts.size() == 1 ? "" : "s"));
  const bool oversubscribe = std::find(launch.mpirun_args().begin(), launch.mpirun_args().end(), "--oversubscribe") !=
                             launch.mpirun_args().end();
  if (slots < launch.ranks() && !oversubscribe)
    report.errors.push_back(fmt::format("{} ranks, but the hosts have {} slots (add --oversubscribe to "
                                        "launch.mpirun_args to run more ranks than slots)",
                                        launch.ranks(), slots));
}

}  // namespace

std::vector<HostSlots> read_hostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError(fmt::format("launch.hostfile {}: cannot be read", path));
  std::vector<HostSlots> hosts;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    std::stringstream words(line);
    HostSlots host;
    if (!(words >> host.host)) continue;
    for (std::string word; words >> word;) {
      // "key=N" with nothing after N.
      auto count = [&word](const char* format, int& value) {
        int used = 0;
        return std::sscanf(word.c_str(), format, &value, &used) == 1 && used == static_cast<int>(word.size()) &&
               value > 0;
      };
      int value = 0;
      if (count("slots=%d%n", value)) host.slots = value;
      else if (count("max_slots=%d%n", value)) continue;
      else
        throw IOError(fmt::format("launch.hostfile {}:{}: cannot read '{}' (expected slots=N or max_slots=N)", path,
                                  line_number, word));
    }
    hosts.push_back(host);
  }
  return hosts;
}

std::vector<HostSlots> parse_hosts(const std::vector<std::string>& hosts) {
  std::vector<HostSlots> out;
  for (const std::string& entry : hosts) {  // the schema's pattern checked the form
    const size_t colon = entry.find(':');
    out.push_back({entry.substr(0, colon), colon == std::string::npos ? 1 : std::stoi(entry.substr(colon + 1))});
  }
  return out;
}

PreflightReport preflight(const config::ExperimentConfig& config, const LaunchContext& context, bool dry_run) {
  PreflightReport report;
  const auto& launch = config.launch();
  if (::access(context.torus.c_str(), X_OK) != 0)
    report.errors.push_back(fmt::format("the torus executable {} is not executable", context.torus));
  auto need_program = [&](const std::string& name, const std::string& why) {
    if (find_program(name)) return;
    (dry_run ? report.warnings : report.errors).push_back(fmt::format("{} is not on PATH ({})", name, why));
  };
  check_inputs(config, context, report);
  switch (launch.scheduler()) {
    case Scheduler::local: {
      need_program("mpirun", "launch.scheduler local runs the ranks with mpirun");
      const int cores = launch.ranks() * std::max(1, launch.threads_per_rank());
      if (launch.threads_per_rank() > 0 && cores > context.host_cores)
        report.errors.push_back(fmt::format("{} ranks x launch.threads_per_rank {} need {} cores; this host has {}",
                                            launch.ranks(), launch.threads_per_rank(), cores, context.host_cores));
      else if (launch.ranks() > context.host_cores)
        report.warnings.push_back(fmt::format("{} ranks on {} cores: the ranks share cores (mpirun --oversubscribe)",
                                              launch.ranks(), context.host_cores));
      break;
    }
    case Scheduler::mpirun:
      need_program("mpirun", "launch.scheduler mpirun");
      check_hosts(launch, report);
      report.warnings.push_back(fmt::format(
          "every host must have {} and the job's data at the same paths (checked on this host only)", context.torus));
      break;
    case Scheduler::slurm: {
      need_program("sbatch", "launch.scheduler slurm submits with sbatch");
      const std::string& signal = launch.slurm().signal();
      const std::string name = slurm_signal_name(signal);
      if (!signal.empty() && name != "USR1" && name != "TERM")
        report.warnings.push_back(fmt::format("launch.slurm.signal {}: the trainer checkpoints on USR1 or TERM only; "
                                              "{} ends the job without a checkpoint", signal, name));
      break;
    }
    default:
      break;
  }
  const bool restarts = launch.max_restarts() > 0 || (launch.scheduler() == Scheduler::slurm && launch.slurm().requeue());
  if (restarts && config.checkpoint().every_steps() == 0)
    report.warnings.push_back("restarts resume from the last checkpoint, and checkpoint.every_steps is 0 (only at the "
                              "end): a restarted run starts again from step 0");
  return report;
}

}  // namespace torus::cli
