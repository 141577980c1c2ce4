// Initialisers (see init.h).
#include "framework/nn/init.h"

#include "framework/autograd/grad_mode.h"

namespace torus::nn::init {

void uniform_(const Tensor& t, Generator& gen, double low, double high) {
  NoGradGuard no_grad;
  t.copy_(Tensor::rand(t.shape(), gen, t.dtype(), low, high));
}

void normal_(const Tensor& t, Generator& gen, double mean, double std) {
  NoGradGuard no_grad;
  t.copy_(Tensor::randn(t.shape(), gen, t.dtype(), mean, std));
}

void constant_(const Tensor& t, double value) {
  NoGradGuard no_grad;
  t.fill_(value);
}

uint64_t derive_seed(Generator& gen) {
  const auto words = Generator::philox(gen.seed(), gen.reserve(1));
  return (uint64_t{words[0]} << 32) | words[1];
}

}  // namespace torus::nn::init
