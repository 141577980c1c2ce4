// Where a rank of `torus train` computes and which group carries its gradients, from
// trainer.device, distributed.backend and the rank's place in the world. Pure: the device
// count is given, so the rules are tested without a GPU.
//
// Devices, for trainer.device:
// - cpu: every rank on the host.
// - a world of one: the device named (cuda is cuda:0); whether it is usable is checked
//   where the run starts.
// - several ranks, `cuda`: cuda:(local rank % the devices this process sees), as PyTorch jobs
//   pick theirs from LOCAL_RANK. Where each rank sees only its own GPU (srun --gpus-per-task,
//   a per-rank CUDA_VISIBLE_DEVICES) that is its cuda:0. Ranks that end up on one GPU are
//   refused by NCCL when the group is made (it needs one device per rank).
// - several ranks, `cuda:N`: an error. Every rank of a host would take the same device,
//   which NCCL refuses; accepting it only where a host runs one rank would make one config
//   valid or not by the job's layout. CUDA_VISIBLE_DEVICES chooses a host's devices instead.
#pragma once

#include <string>

#include "distributed/comm/process_group.h"
#include "framework/tensor/device.h"
#include "launcher/config.h"

namespace torus::cli {

// This rank's device for trainer.device `configured` (a name the config validated).
// `device_count`: the CUDA devices this process sees; `why_no_device`: why it sees none,
// for the message when device_count is 0. Throws ValueError naming trainer.device.
Device choose_rank_device(const std::string& configured, const comm::WorldInfo& world, int device_count,
                          const std::string& why_no_device = "");

// Whether a run of `world_size` ranks on `device` moves its gradients in a device (NCCL)
// group rather than the host (MPI) group; distributed.backend mpi with a device, or nccl
// on the cpu, is a ValueError naming the field. A world of one has nothing to reduce, so
// none, unless it is `sharded` (ZeRO) on a device: its buckets still go through collectives,
// over a group of one.
bool gradients_on_device(config::Backend::Value backend, Device device, int world_size, bool sharded = false);

}  // namespace torus::cli
