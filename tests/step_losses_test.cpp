// StepLosses (distributed/train/step_losses.h): deferred losses are read together and give
// the values an immediate read gives; a non-finite loss is reported with its own step and
// learning rate, whichever later step reads it; a failed device check names the steps being
// read; on the host nothing waits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "distributed/train/step_losses.h"
#include "framework/ops/device_checks.h"
#include "support/error_message.h"

namespace torus::train {
namespace {

Tensor loss_of(float value) { return Tensor::scalar(value, DType::f32); }

TEST(StepLosses, DeferredStepsAreReadTogetherWithTheValuesOfAnImmediateRead) {
  StepLosses deferred(/*defer=*/true), immediate(/*defer=*/false);
  const std::vector<std::vector<float>> steps = {{2.5F, 1.25F}, {0.1F, 0.3F}, {7.0F, 0.2F}};
  for (size_t s = 0; s < steps.size(); ++s) {
    deferred.add(static_cast<int64_t>(s + 1), 0.1, {loss_of(steps[s][0]), loss_of(steps[s][1])}, 0.5);
    immediate.add(static_cast<int64_t>(s + 1), 0.1, {loss_of(steps[s][0]), loss_of(steps[s][1])}, 0.5);
    EXPECT_EQ(immediate.pending_steps(), 0);
  }
  EXPECT_EQ(deferred.pending_steps(), 3);
  // As the trainer summed before: each f32 loss widened to f64, weighed, added in order.
  const double expected = static_cast<double>(7.0F) * 0.5 + static_cast<double>(0.2F) * 0.5;
  EXPECT_EQ(deferred.last(), expected);
  EXPECT_EQ(deferred.pending_steps(), 0);
  EXPECT_EQ(immediate.last(), expected);
  deferred.add_read(1.5);
  EXPECT_EQ(deferred.last(), 1.5);
}

TEST(StepLosses, DeferredStepsAreReadAtTheLatestAfterTheCap) {
  StepLosses losses(/*defer=*/true);
  for (int64_t step = 1; step < StepLosses::kMaxPendingSteps; ++step) losses.add(step, 0.1, {loss_of(1.0F)}, 1.0);
  EXPECT_EQ(losses.pending_steps(), StepLosses::kMaxPendingSteps - 1);
  losses.add(StepLosses::kMaxPendingSteps, 0.1, {loss_of(2.0F)}, 1.0);
  EXPECT_EQ(losses.pending_steps(), 0);
  EXPECT_EQ(losses.last(), 2.0);
}

TEST(StepLosses, ANonFiniteLossNamesItsOwnStepWhenALaterStepReadsIt) {
  StepLosses losses(/*defer=*/true);
  losses.add(10, 0.5, {loss_of(1.0F)}, 1.0);
  losses.add(11, 0.25, {loss_of(std::numeric_limits<float>::quiet_NaN())}, 1.0);
  losses.add(12, 0.125, {loss_of(std::numeric_limits<float>::infinity())}, 1.0);
  const std::string what = test::error_of<Error>([&] { losses.read(); });
  EXPECT_NE(what.find("step 11: the loss is NaN (lr 0.25); lower optimizer.lr or set optimizer.grad_clip_norm"),
            std::string::npos)
      << what;
}

TEST(StepLosses, AFailedDeviceCheckIsReportedWithTheStepsBeingRead) {
  StepLosses losses(/*defer=*/true);
  DeferredDeviceChecks checks;
  losses.add(3, 0.5, {loss_of(1.0F)}, 1.0);
  check_device_status(Tensor::from_data<int64_t>({4}, {1}), [](const std::vector<int64_t>& status) {
    TORUS_CHECK(status[0] < 0, "embedding: index {} (at position 0) is out of range", status[0]);
  });
  losses.add(4, 0.5, {loss_of(std::numeric_limits<float>::quiet_NaN())}, 1.0);  // what a bad index would give
  const std::string what = test::error_of<Error>([&] { losses.read(); });
  EXPECT_NE(what.find("steps 3-4: embedding: index 4 (at position 0) is out of range"), std::string::npos) << what;
  EXPECT_EQ(checks.pending(), 0);
}

TEST(StepLosses, OnTheHostADivergingLossStopsAtItsStep) {
  StepLosses losses(/*defer=*/false);
  losses.add(1, 0.5, {loss_of(1.0F)}, 1.0);
  const std::string what =
      test::error_of<Error>([&] { losses.add(2, 3.0, {loss_of(std::numeric_limits<float>::infinity())}, 1.0); });
  EXPECT_NE(what.find("step 2: the loss is infinite (lr 3)"), std::string::npos) << what;
}

}  // namespace
}  // namespace torus::train
