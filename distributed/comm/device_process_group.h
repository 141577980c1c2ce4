// The process group for the device tensors of a multi-rank run (gradient buckets on
// cuda:N), made over the host process group: an NcclProcessGroup on builds with
// TORUS_WITH_NCCL (device_process_group.cpp), an error naming the build option otherwise
// (device_process_group_off.cpp), so callers need no #ifdef. The host group stays the one
// for host tensors: metrics, evaluation sums, checkpoints, barriers, the stop agreement.
#pragma once

#include <memory>
#include <string>

#include "distributed/comm/process_group.h"
#include "framework/tensor/device.h"

namespace torus::comm {

// Whether this build can make one (TORUS_WITH_NCCL).
bool built_with_device_process_group();

// Collective over `host` (every rank calls it): a group whose collectives take tensors on
// `device`, this rank's. Borrows `host`, which must outlive it. Its waits block the host
// for at most options' timeout (NcclOptions::blocking_wait), so a stalled peer ends the job.
std::unique_ptr<ProcessGroup> make_device_process_group(ProcessGroup& host, Device device,
                                                        const ProcessGroupOptions& options);

// Stops `group`'s device communication at once (NCCL: ncclCommAbort), so that a rank leaving
// on an error does not wait, in the group's destructor, for collectives the other ranks will
// never join; the group is unusable afterwards. Does nothing for other groups; never throws.
void abort_device_communication(ProcessGroup& group, const std::string& reason) noexcept;

}  // namespace torus::comm
