// Learning-rate schedules: lr(step) for the 0-based index of the optimizer step about to
// be taken. Pure functions of the step, so resuming from a checkpoint needs only the step.
//   constant       lr(t) = base
//   warmup_cosine  lr(t) = base (t + 1) / W                         for t < W
//                  lr(t) = min + (base - min) (1 + cos(pi (t - W) / (T - W))) / 2  for W <= t < T
//                  lr(t) = min                                      for t >= T
//                  with min = min_ratio * base. The warm-up is torch's LinearLR(start_factor
//                  = 1/W, total_iters = W - 1) and the decay its CosineAnnealingLR(T_max =
//                  T - W, eta_min = min) started at step W; min_ratio 1 gives warm-up then constant.
//   step           lr(t) = base * gamma^floor(t / step_size), as torch's StepLR.
#pragma once

#include <cstdint>
#include <memory>

namespace torus::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr(int64_t step) const = 0;
};

class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double base_lr);
  double lr(int64_t step) const override;

 private:
  double base_;
};

class WarmupCosineLr : public LrSchedule {
 public:
  WarmupCosineLr(double base_lr, int64_t warmup_steps, int64_t total_steps, double min_ratio = 0.0);
  double lr(int64_t step) const override;

 private:
  double base_;
  int64_t warmup_;
  int64_t total_;
  double min_;
};

class StepLr : public LrSchedule {
 public:
  StepLr(double base_lr, int64_t step_size, double gamma = 0.1);
  double lr(int64_t step) const override;

 private:
  double base_;
  int64_t step_size_;
  double gamma_;
};

enum class ScheduleKind { constant, warmup_cosine, step };

// The fields each kind reads: warmup_cosine warmup_steps, total_steps, min_ratio; step
// step_size, gamma.
struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::constant;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  double min_ratio = 0.0;
  int64_t step_size = 1;
  double gamma = 0.1;
};

std::unique_ptr<LrSchedule> make_schedule(const ScheduleOptions& options, double base_lr);

}  // namespace torus::optim
