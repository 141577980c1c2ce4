// The device process group of builds without NCCL (see device_process_group.h): there is
// none, and asking for one says which build option brings it.
#include <fmt/format.h>

#include "distributed/comm/device_process_group.h"

namespace torus::comm {

bool built_with_device_process_group() { return false; }

std::unique_ptr<ProcessGroup> make_device_process_group(ProcessGroup& host, Device device,
                                                        const ProcessGroupOptions&) {
  throw Error(fmt::format(
      "rank {} of {}: data parallelism and ZeRO on {} need the NCCL process group, and this build has none "
      "(TORUS_WITH_NCCL is OFF: configure with CUDA, NCCL and -DTORUS_WITH_NCCL=ON); train on cpu, or on one rank "
      "without ZeRO",
      host.rank(), host.size(), device.str()));
}

void abort_device_communication(ProcessGroup&, const std::string&) noexcept {}

}  // namespace torus::comm
