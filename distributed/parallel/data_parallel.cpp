// Bucketed gradient averaging (see data_parallel.h).
#include "distributed/parallel/data_parallel.h"

#include <cstring>

#include <fmt/format.h>

#include "framework/autograd/grad_mode.h"

namespace torus::parallel {

CommStats CommStats::operator-(const CommStats& e) const {
  return {steps - e.steps,
          buckets_launched - e.buckets_launched,
          buckets_launched_late - e.buckets_launched_late,
          bytes_reduced - e.bytes_reduced,
          backward_after_launch_s - e.backward_after_launch_s,
          exposed_wait_s - e.exposed_wait_s,
          finish_s - e.finish_s};
}

double CommStats::hidden_fraction(double allreduce_busy_s) const {
  return allreduce_busy_s > 0 ? 1 - exposed_wait_s / allreduce_busy_s : 0;
}

std::string CommStats::describe() const {
  const double n = steps > 0 ? static_cast<double>(steps) : 1;
  return fmt::format(
      "data parallel: {} steps, {:.1f} buckets ({:.2f} MB) all-reduced per step{}; per step, finish_gradients "
      "waited {:.2f} ms for them (exposed) and took {:.2f} ms in all, after {:.2f} ms of backward from the "
      "first launch",
      steps, buckets_launched / n, bytes_reduced / n * 1e-6,
      buckets_launched_late > 0 ? fmt::format(" ({} started late, by finish_gradients)", buckets_launched_late) : "",
      exposed_wait_s / n * 1e3, finish_s / n * 1e3, backward_after_launch_s / n * 1e3);
}

namespace {

// What a bucket of `dtype` gradients sums in: on a device, f32 for every floating dtype but
// f64 (half-precision partial sums would round at every hop of NCCL's ring); on the host,
// the dtype itself (the MPI group sums bf16 in f32 already).
DType reduction_dtype(DType dtype, Device device) {
  if (device.is_cpu() || dtype == DType::f64) return dtype;
  return dtype == DType::bf16 || dtype == DType::f16 ? DType::f32 : dtype;
}

// Every parameter contiguous and on `device`, and a group that takes that device's tensors.
void check_placement(const std::vector<Tensor>& parameters, Device device, const comm::ProcessGroup& group) {
  for (const Tensor& p : parameters) {
    TORUS_CHECK(p.is_contiguous(), "data parallel: parameters must be contiguous, got one of shape {}", p.shape_str());
    TORUS_CHECK(p.device() == device, "data parallel: the parameters are on {} and {}; they must all be on one device",
                device.str(), p.device().str());
  }
  const bool device_group = group.backend_name() == "nccl";
  TORUS_CHECK(device.is_cpu() != device_group,
              "data parallel: the parameters are on {}, but the process group ({}) takes {} tensors; {}", device.str(),
              group.backend_name(), device_group ? "device" : "host",
              device_group ? "use the MPI group for host parameters" : "use a device (NCCL) group for device parameters");
}

}  // namespace

DataParallel::DataParallel(Module& model, comm::ProcessGroup& group, const DataParallelOptions& options)
    : group_(group) {
  TORUS_CHECK(options.bucket_mb > 0, "data parallel: bucket_mb must be positive, got {}", options.bucket_mb);
  const auto bucket_bytes = static_cast<int64_t>(options.bucket_mb * (1 << 20));
  std::vector<Tensor> parameters = model.parameters();
  device_ = parameters.empty() ? Device::cpu() : parameters.front().device();
  check_placement(parameters, device_, group);
  // Reverse registration order: the last layers' gradients are final first.
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const Tensor& p = *it;
    const DType dtype = reduction_dtype(p.dtype(), device_);
    const bool fits = !buckets_.empty() && buckets_.back().dtype == dtype &&
                      (buckets_.back().offsets.back() + buckets_.back().parameters.back().numel() + p.numel()) *
                              static_cast<int64_t>(dtype_size(dtype)) <=
                          bucket_bytes;
    if (!fits) buckets_.emplace_back().dtype = dtype;
    Bucket& b = buckets_.back();
    b.offsets.push_back(b.parameters.empty() ? 0 : b.offsets.back() + b.parameters.back().numel());
    b.parameters.push_back(p);
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    b.flat = Tensor::zeros({b.offsets.back() + b.parameters.back().numel()}, b.dtype, device_);
    for (size_t j = 0; j < b.parameters.size(); ++j) {
      std::weak_ptr<bool> alive = alive_;
      b.parameters[j].register_grad_ready_hook([this, alive, i, j](Tensor&) {
        if (alive.lock()) on_gradient_ready(i, j);
      });
    }
  }
}

// No wait for unfinished all-reduces: each queued op holds its own reference to the bucket's
// buffer, and after a timeout a wait would only stall (or throw) on the way to abort_job.
DataParallel::~DataParallel() { *alive_ = false; }

std::vector<int64_t> DataParallel::bucket_bytes() const {
  std::vector<int64_t> bytes;
  for (const Bucket& b : buckets_) bytes.push_back(static_cast<int64_t>(b.flat.nbytes()));
  return bytes;
}

void DataParallel::broadcast_state() {
  std::vector<comm::WorkPtr> pending;
  NoGradGuard no_grad;
  for (Bucket& b : buckets_)
    for (const Tensor& p : b.parameters) pending.push_back(group_.broadcast(p, 0));
  for (auto& w : pending) w->wait();
}

void DataParallel::prepare_backward(bool final) {
  final_pass_ = final;
  for (Bucket& b : buckets_) b.ready = 0;
}

void DataParallel::on_gradient_ready(size_t bucket, size_t) {
  if (!final_pass_) return;
  Bucket& b = buckets_[bucket];
  if (++b.ready == static_cast<int64_t>(b.parameters.size())) launch(b);
}

void DataParallel::fill_bucket(Bucket& b) {
  if (!device_.is_cpu()) {
    NoGradGuard no_grad;
    for (size_t j = 0; j < b.parameters.size(); ++j) {
      const Tensor grad = b.parameters[j].grad();
      const Tensor slot = b.flat.narrow(0, b.offsets[j], b.parameters[j].numel());
      if (grad.defined()) {
        slot.copy_(grad.reshape({-1}));
      } else {
        slot.fill_(0);  // a parameter this pass did not reach
      }
    }
    return;
  }
  const size_t element = dtype_size(b.flat.dtype());
  auto* flat = static_cast<uint8_t*>(b.flat.raw_data());
  for (size_t j = 0; j < b.parameters.size(); ++j) {
    const Tensor grad = b.parameters[j].grad();
    uint8_t* slot = flat + b.offsets[j] * element;
    const size_t bytes = b.parameters[j].numel() * element;
    if (grad.defined()) {
      std::memcpy(slot, grad.contiguous().raw_data(), bytes);
    } else {
      std::memset(slot, 0, bytes);  // a parameter this pass did not reach
    }
  }
}

void DataParallel::empty_bucket(Bucket& b) {
  if (!device_.is_cpu()) {
    NoGradGuard no_grad;
    for (size_t j = 0; j < b.parameters.size(); ++j) {
      Tensor& p = b.parameters[j];
      if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), p.dtype(), device_));
      p.grad().copy_(b.flat.narrow(0, b.offsets[j], p.numel()).view(p.shape()));
    }
    return;
  }
  const size_t element = dtype_size(b.flat.dtype());
  const auto* flat = static_cast<const uint8_t*>(b.flat.raw_data());
  for (size_t j = 0; j < b.parameters.size(); ++j) {
    Tensor& p = b.parameters[j];
    if (!p.grad().defined()) p.set_grad(Tensor::zeros(p.shape(), p.dtype()));
    std::memcpy(p.grad().raw_data(), flat + b.offsets[j] * element, p.numel() * element);
  }
}

void DataParallel::launch(Bucket& b) {
  fill_bucket(b);
  if (first_launch_ == Clock::time_point{}) first_launch_ = Clock::now();
  b.work = group_.all_reduce(b.flat, comm::ReduceOp::average);
  ++stats_.buckets_launched;
  stats_.bytes_reduced += static_cast<int64_t>(b.flat.nbytes());
}

void DataParallel::finish_gradients() {
  const auto entry = Clock::now();
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  if (first_launch_ != Clock::time_point{})
    stats_.backward_after_launch_s += std::chrono::duration<double>(entry - first_launch_).count();
  // Buckets whose hooks did not all fire (unused parameters) start here, in bucket
  // order, which is the same on every rank.
  for (Bucket& b : buckets_)
    if (!b.work) {
      launch(b);
      ++stats_.buckets_launched_late;
    }
  for (Bucket& b : buckets_) {
    const auto wait_start = Clock::now();
    b.work->wait();
    stats_.exposed_wait_s += seconds_since(wait_start);
    b.work.reset();
    empty_bucket(b);
  }
  first_launch_ = {};
  ++stats_.steps;
  stats_.finish_s += seconds_since(entry);
}

}  // namespace torus::parallel
