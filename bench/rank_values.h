// Every rank's value of a figure, on every rank: the benchmarks under mpirun report the
// slowest rank's time, and reach the same verdict on every rank from the same values.
#pragma once

#include <vector>

#include "distributed/comm/process_group.h"
#include "framework/tensor/tensor.h"

namespace torus::bench {

inline std::vector<double> gather_values(comm::ProcessGroup& group, double value) {
  Tensor mine = Tensor::scalar(value, DType::f64).reshape({1});
  Tensor all = Tensor::empty({group.size()}, DType::f64);
  group.all_gather(mine, all)->wait();
  const double* v = all.data<double>();
  return {v, v + group.size()};
}

}  // namespace torus::bench
