// The small training workloads of the multi-rank tests, as config sections: a model, its
// data and an optimizer, combined into a Workload (tests/support/multi_rank_run.h).
#pragma once

#include <string>

#include <fmt/format.h>

namespace torus::test {

inline const std::string kMlpModel = "model:\n  kind: mlp\n  mlp: {hidden: [64, 32]}\n";
inline const std::string kGptModel =
    "model:\n  kind: gpt\n  gpt: {vocab_size: 256, context: 32, d_model: 32, layers: 2, heads: 2}\n";

// Fashion-MNIST in global batches of 48; `eval_fraction` empty: the config's default.
inline std::string fashion_mnist_data(const std::string& eval_fraction) {
  return "data:\n  dataset: fashion_mnist\n  batch_size: 48\n" +
         (eval_fraction.empty() ? std::string() : "  eval_fraction: " + eval_fraction + "\n");
}
// 480 synthetic token sequences for the GPT, no eval set.
inline const std::string kSyntheticTokens =
    "data:\n  dataset: synthetic\n  synthetic: {samples: 480, classes: 256}\n  batch_size: 48\n  eval_fraction: 0\n";

inline const std::string kAdamW = "optimizer:\n  name: adamw\n  lr: 0.003\n";
inline const std::string kSgdMomentum = "optimizer:\n  name: sgd\n  lr: 0.05\n  momentum: 0.9\n";
inline std::string clipped(const std::string& optimizer, double max_norm) {
  return optimizer + fmt::format("  grad_clip_norm: {}\n", max_norm);
}

}  // namespace torus::test
