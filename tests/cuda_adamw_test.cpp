// GPU: the fused AdamW step (kernels/cuda/adamw.h) against the torch.optim.AdamW formula in
// double over several steps, for the float4 and the unaligned paths, with and without a
// gradient scale on the device (gradient clipping's coefficient).
#include <cmath>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/common/error.h"
#include "kernels/cuda/adamw.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

class AdamWTest : public CudaTest {
 protected:
  // scale: the gradient scale, or 0 for none.
  void check(size_t n, size_t misalign, float scale = 0.0f) {
    std::vector<float> p = random_vector(n, 41);
    std::vector<double> p_ref(p.begin(), p.end()), m_ref(n, 0.0), v_ref(n, 0.0);
    DeviceBuffer dp(p, misalign), dm(std::vector<float>(n, 0.0f)), dv(std::vector<float>(n, 0.0f)), dg(n);
    DeviceBuffer dscale(std::vector<float>{scale});
    AdamWStep step;
    step.lr = 1e-2f;
    step.weight_decay = 0.1f;
    std::vector<float> given;  // the last step's gradient
    for (int64_t t = 1; t <= 5; ++t) {
      given = random_vector(n, static_cast<uint32_t>(100 + t));
      dg.upload(given);
      step.step = t;
      adamw_step(dp.get(), dg.get(), dm.get(), dv.get(), static_cast<int64_t>(n), step,
                 scale != 0.0f ? dscale.get() : nullptr, stream_);
      std::vector<float> g = given;  // as the kernel reads it: scaled in float
      if (scale != 0.0f)
        for (float& x : g) x *= scale;
      const double bc1 = 1 - std::pow(double{step.beta1}, t), bc2 = 1 - std::pow(double{step.beta2}, t);
      for (size_t i = 0; i < n; ++i) {
        p_ref[i] *= 1 - double{step.lr} * step.weight_decay;
        m_ref[i] = step.beta1 * m_ref[i] + (1 - double{step.beta1}) * g[i];
        v_ref[i] = step.beta2 * v_ref[i] + (1 - double{step.beta2}) * g[i] * g[i];
        p_ref[i] -= step.lr / bc1 * m_ref[i] / (std::sqrt(v_ref[i]) / std::sqrt(bc2) + step.eps);
      }
    }
    sync();
    const std::string what = "adamw n=" + std::to_string(n) + (misalign ? " misaligned" : "") +
                             (scale != 0.0f ? " scaled" : "");
    EXPECT_TRUE(dg.download() == given) << what << ": the gradient is only read";
    expect_close(dp.download(), p_ref, 1e-5, 1e-5, what + " params");
    expect_close(dm.download(), m_ref, 1e-6, 1e-5, what + " exp_avg");
    expect_close(dv.download(), v_ref, 1e-6, 1e-5, what + " exp_avg_sq");
  }
};

TEST_F(AdamWTest, VectorizedWithTail) { check(10007, 0); }
TEST_F(AdamWTest, Unaligned) { check(1000, 1); }
TEST_F(AdamWTest, ManyBlocks) { check(size_t{3} << 20, 0); }
TEST_F(AdamWTest, GradientScaleMultipliesTheGradientAsItIsRead) {
  check(10007, 0, 0.37f);
  check(1000, 1, 0.37f);
}

TEST_F(AdamWTest, BadArgumentsAreRefused) {
  AdamWStep step;
  step.step = 0;
  EXPECT_THROW(adamw_step(nullptr, nullptr, nullptr, nullptr, 4, step, nullptr, stream_), ValueError);
}

}  // namespace
}  // namespace torus::cuda
