// The world-of-one backend.
#include "distributed/comm/local_process_group.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace torus::comm {

std::string local_host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  TORUS_CHECK_ERRNO(gethostname(name, sizeof name - 1));
  return name;
}

LocalProcessGroup::LocalProcessGroup(const ProcessGroupOptions& options)
    : trace_(options.trace_capacity) {
  world_.host = local_host_name();
}

WorkPtr LocalProcessGroup::completed(std::string label, const Tensor* tensor, size_t bytes) {
  const uint64_t sequence = next_sequence_++;
  trace_.add(sequence, label, tensor ? std::string(dtype_name(tensor->dtype())) : "", bytes);
  trace_.set_state(sequence, OpState::running);
  trace_.set_state(sequence, OpState::done);
  return std::make_shared<CompletedWork>(std::move(label), sequence);
}

WorkPtr LocalProcessGroup::all_reduce(const Tensor& tensor, ReduceOp op) {
  detail::check_tensor("all_reduce", tensor, "tensor");
  detail::check_reducible("all_reduce", tensor.dtype(), op);
  // The sum over one rank is the tensor, and the average divides it by 1.
  return completed(detail::op_label("all_reduce", reduce_op_name(op)), &tensor, tensor.nbytes());
}

WorkPtr LocalProcessGroup::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op) {
  detail::check_tensor("reduce_scatter", input, "input");
  detail::check_tensor("reduce_scatter", output, "output");
  detail::check_same_dtype("reduce_scatter", input, output);
  detail::check_reducible("reduce_scatter", input.dtype(), op);
  detail::check_multiple("reduce_scatter", output, input, 1, "output", "input");
  if (input.nbytes() > 0 && input.raw_data() != output.raw_data())
    std::memcpy(output.raw_data(), input.raw_data(), input.nbytes());
  return completed(detail::op_label("reduce_scatter", reduce_op_name(op)), &input, input.nbytes());
}

WorkPtr LocalProcessGroup::all_gather(const Tensor& input, const Tensor& output) {
  detail::check_tensor("all_gather", input, "input");
  detail::check_tensor("all_gather", output, "output");
  detail::check_same_dtype("all_gather", input, output);
  detail::check_multiple("all_gather", input, output, 1, "input", "output");
  if (input.nbytes() > 0 && input.raw_data() != output.raw_data())
    std::memcpy(output.raw_data(), input.raw_data(), input.nbytes());
  return completed("all_gather", &input, output.nbytes());
}

WorkPtr LocalProcessGroup::broadcast(const Tensor& tensor, int root) {
  detail::check_tensor("broadcast", tensor, "tensor");
  detail::check_root("broadcast", root, 1);
  return completed(detail::op_label("broadcast", fmt::format("root {}", root)), &tensor,
                   tensor.nbytes());
}

WorkPtr LocalProcessGroup::barrier() { return completed("barrier", nullptr, 0); }

std::string LocalProcessGroup::trace() const {
  return trace_.format(fmt::format("collective trace of rank 0 of 1 ({})", world_.host));
}

void LocalProcessGroup::abort_job(const std::string& reason) {
  std::fprintf(stderr, "torus: [rank 0@%s] aborting: %s\n%s", world_.host.c_str(), reason.c_str(),
               trace().c_str());
  std::fflush(stderr);
  std::_Exit(EXIT_FAILURE);
}

}  // namespace torus::comm
