// The device process group of NCCL builds (see device_process_group.h).
#include "distributed/comm/device_process_group.h"

#include <cstdio>
#include <exception>

#include "distributed/comm/nccl_process_group.h"

namespace torus::comm {

bool built_with_device_process_group() { return true; }

std::unique_ptr<ProcessGroup> make_device_process_group(ProcessGroup& host, Device device,
                                                        const ProcessGroupOptions& options) {
  TORUS_CHECK(!device.is_cpu(), "make_device_process_group: {} is not a device", device.str());
  NcclOptions nccl;
  nccl.device = device.index;  // the model's device: the group must run where the buckets live
  // Waits block the host, with the group's timeout: a peer that stalls or issues its
  // collectives in another order then fails the job naming the op, as the MPI group does,
  // instead of hanging the next device synchronization forever. The buckets' all-reduces
  // still overlap backward: they are waited for only once backward has issued everything.
  nccl.blocking_wait = true;
  return std::make_unique<NcclProcessGroup>(host, options, nccl);
}

void abort_device_communication(ProcessGroup& group, const std::string& reason) noexcept {
  auto* nccl = dynamic_cast<NcclProcessGroup*>(&group);
  if (nccl == nullptr) return;
  try {
    nccl->abort_communicator(reason);
  } catch (const std::exception& e) {  // on the way out with another error, which matters more
    std::fprintf(stderr, "torus: aborting the NCCL communicator failed: %s\n", e.what());
  }
}

}  // namespace torus::comm
