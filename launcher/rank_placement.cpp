// A rank's device and gradient group (see rank_placement.h).
#include "launcher/rank_placement.h"

#include <fmt/format.h>

namespace torus::cli {

Device choose_rank_device(const std::string& configured, const comm::WorldInfo& world, int device_count,
                          const std::string& why_no_device) {
  const Device device = Device::parse(configured);
  if (device.is_cpu() || world.size == 1) return device;
  TORUS_CHECK(configured == "cuda",
              "trainer.device {} with {} ranks: a fixed device would put every rank of a host on {}, and NCCL needs "
              "one device per rank; set trainer.device: cuda (each rank takes cuda:<local rank % devices>), and "
              "CUDA_VISIBLE_DEVICES to choose which devices a host uses",
              configured, world.size, device.str());
  TORUS_CHECK(device_count > 0, "trainer.device cuda: rank {} of {} on {} sees no CUDA device{}{}", world.rank,
              world.size, world.host, why_no_device.empty() ? "" : ": ", why_no_device);
  // No check of ranks per host against device_count: under srun --gpus-per-task or a per-rank
  // CUDA_VISIBLE_DEVICES each rank sees only its own device, so cuda:0 of each is a different
  // GPU. Two ranks that do land on one GPU are refused by NCCL itself when the group is made
  // ("Duplicate GPU detected"), naming the ranks.
  return Device::cuda(world.local_rank % device_count);
}

bool gradients_on_device(config::Backend::Value backend, Device device, int world_size, bool sharded) {
  // A world of one reduces nothing; ZeRO's buckets on a device still need a device group.
  if (world_size == 1 && !(sharded && !device.is_cpu())) return false;
  TORUS_CHECK(!(backend == config::Backend::mpi && !device.is_cpu()),
              "distributed.backend mpi: trainer.device {} keeps gradients on the device, which the MPI group cannot "
              "reduce; use auto or nccl",
              device.str());
  TORUS_CHECK(!(backend == config::Backend::nccl && device.is_cpu()),
              "distributed.backend nccl: NCCL reduces device tensors, but trainer.device is cpu; use auto or mpi, or "
              "train on cuda");
  return !device.is_cpu();
}

}  // namespace torus::cli
