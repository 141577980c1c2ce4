// The main of a GoogleTest binary that runs on every rank of an mpirun job: it makes the
// process group, runs the tests, and makes every rank exit non-zero when any rank failed,
// so the job's exit status says so. A rank out of step takes the job down instead of
// hanging it.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "distributed/comm/world.h"

namespace torus::test {

// `group_out` is set to the group for the tests' lifetime.
inline int run_tests_on_every_rank(const char* name, const comm::ProcessGroupOptions& options,
                                   comm::ProcessGroup*& group_out) {
  std::unique_ptr<comm::ProcessGroup> group;
  try {
    group = comm::make_process_group(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
  group_out = group.get();
  int failed = RUN_ALL_TESTS() != 0;
  try {
    Tensor any_failed = Tensor::from_data<int32_t>({failed}, {1});
    group->all_reduce(any_failed)->wait();
    failed = any_failed.to_vector<int32_t>()[0] != 0;
  } catch (const std::exception& e) {
    group->abort_job(e.what());
  }
  group_out = nullptr;
  group.reset();
  return failed;
}

}  // namespace torus::test
