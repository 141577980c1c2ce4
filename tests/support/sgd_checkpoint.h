// One SGD step of a model saved as a checkpoint, for the tests that verify and load
// checkpoints in one process and under mpirun (checkpoint_verify_test.cpp,
// checkpoint_verify_mpi_test.cpp).
#pragma once

#include <cstdint>
#include <filesystem>

#include "distributed/checkpoint/checkpoint.h"
#include "framework/optim/sgd.h"

namespace torus::test {

// Collective over `group`: a step of SGD with momentum (every gradient 1) on `model`'s
// parameters, saved under `root` as step `step`, every checkpoint kept.
inline std::filesystem::path save_sgd_checkpoint(const std::filesystem::path& root, int64_t step, Module& model,
                                                 comm::ProcessGroup& group) {
  optim::SgdOptions sgd;
  sgd.lr = 0.1;
  sgd.momentum = 0.9;
  optim::Sgd optimizer(model.named_parameters(), sgd);
  for (const Tensor& p : model.parameters()) p.set_grad(Tensor::full(p.shape(), 1.0));
  optimizer.step();
  checkpoint::TrainingState state;
  state.step = step;
  state.world = group.size();
  const checkpoint::CheckpointSource source{&model, &optimizer, nullptr, &group, "test: true\n"};
  return checkpoint::save_checkpoint(root, state, source, /*keep_last=*/0);
}

}  // namespace torus::test
