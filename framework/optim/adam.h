// Adam and AdamW with the update rules of torch.optim.Adam / AdamW (PyTorch 1.13): bias
// correction of both moments, eps added after the square root of the bias-corrected
// second moment, optional AMSGrad. Adam's weight decay is L2 (added to the gradient);
// AdamW's is decoupled (p *= 1 - lr * wd before the update).
// State per parameter, as torch names it: "step" (i64 scalar), "exp_avg", "exp_avg_sq",
// and "max_exp_avg_sq" with AMSGrad.
#pragma once

#include "framework/optim/optimizer.h"

namespace torus::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

// The same fields with torch.optim.AdamW's default weight decay.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(const NamedTensors& parameters, const AdamOptions& options);
  Adam(const std::vector<Tensor>& parameters, const AdamOptions& options);
  const AdamOptions& options() const { return options_; }
  bool decoupled_weight_decay() const { return decoupled_; }

 protected:
  Adam(const NamedTensors& parameters, const AdamOptions& options, bool decoupled);

 private:
  void configure();
  void update(const Tensor& gradient_scale) override;
  Tensor initial_state(size_t field, const Tensor& param) const override;

  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(const NamedTensors& parameters, const AdamWOptions& options);
  AdamW(const std::vector<Tensor>& parameters, const AdamWOptions& options);
};

}  // namespace torus::optim
