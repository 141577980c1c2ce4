// Learning-rate schedules (see schedule.h).
#include "framework/optim/schedule.h"

#include <cmath>
#include <numbers>

#include "kernels/common/error.h"

namespace torus::optim {
namespace {

void check_base(double base_lr, const char* schedule) {
  TORUS_CHECK(base_lr >= 0, "{}: learning rate must be >= 0, got {}", schedule, base_lr);
}

void check_step(int64_t step, const char* schedule) {
  TORUS_CHECK(step >= 0, "{}: step must be >= 0, got {}", schedule, step);
}

}  // namespace

ConstantLr::ConstantLr(double base_lr) : base_(base_lr) { check_base(base_lr, "constant schedule"); }

double ConstantLr::lr(int64_t step) const {
  check_step(step, "constant schedule");
  return base_;
}

WarmupCosineLr::WarmupCosineLr(double base_lr, int64_t warmup_steps, int64_t total_steps, double min_ratio)
    : base_(base_lr), warmup_(warmup_steps), total_(total_steps), min_(min_ratio * base_lr) {
  check_base(base_lr, "warmup_cosine schedule");
  TORUS_CHECK(warmup_steps >= 0 && total_steps > warmup_steps,
              "warmup_cosine schedule: needs 0 <= warmup_steps < total_steps, got warmup_steps {} and "
              "total_steps {}",
              warmup_steps, total_steps);
  TORUS_CHECK(min_ratio >= 0 && min_ratio <= 1, "warmup_cosine schedule: min_ratio must be in [0, 1], got {}",
              min_ratio);
}

double WarmupCosineLr::lr(int64_t step) const {
  check_step(step, "warmup_cosine schedule");
  if (step < warmup_) return base_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
  if (step >= total_) return min_;
  const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
  return min_ + (base_ - min_) * (1.0 + std::cos(std::numbers::pi * progress)) / 2.0;
}

StepLr::StepLr(double base_lr, int64_t step_size, double gamma)
    : base_(base_lr), step_size_(step_size), gamma_(gamma) {
  check_base(base_lr, "step schedule");
  TORUS_CHECK(step_size > 0, "step schedule: step_size must be positive, got {}", step_size);
  TORUS_CHECK(gamma > 0, "step schedule: gamma must be > 0, got {}", gamma);
}

double StepLr::lr(int64_t step) const {
  check_step(step, "step schedule");
  return base_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

std::unique_ptr<LrSchedule> make_schedule(const ScheduleOptions& o, double base_lr) {
  switch (o.kind) {
    case ScheduleKind::constant: return std::make_unique<ConstantLr>(base_lr);
    case ScheduleKind::warmup_cosine:
      return std::make_unique<WarmupCosineLr>(base_lr, o.warmup_steps, o.total_steps, o.min_ratio);
    case ScheduleKind::step: return std::make_unique<StepLr>(base_lr, o.step_size, o.gamma);
  }
  throw ValueError(fmt::format("make_schedule: unknown schedule kind {}", static_cast<int>(o.kind)));
}

}  // namespace torus::optim
