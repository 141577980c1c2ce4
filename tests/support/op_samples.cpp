// Input generation for registry-driven op tests.
#include "support/op_samples.h"

#include <numeric>

#include "framework/tensor/random.h"

namespace torus::test {

std::vector<Tensor> make_inputs(const OpSample& sample, DType dtype, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> inputs;
  for (const SampleInput& in : sample.inputs) {
    Shape shape = in.shape;
    // Non-contiguous inputs: draw the transposed layout, then view it transposed back.
    const bool strided = in.noncontiguous && shape.size() >= 2;
    if (strided) std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
    Tensor t;
    switch (in.kind) {
      case SampleInput::Kind::real: t = Tensor::randn(shape, gen, DType::f64); break;
      case SampleInput::Kind::positive: t = Tensor::rand(shape, gen, DType::f64, 0.5, 2.0); break;
      case SampleInput::Kind::index:
        t = Tensor::rand(shape, gen, DType::f64, 0.0, static_cast<double>(in.index_high));
        t = t.to(DType::i64);
        break;
      case SampleInput::Kind::mask: t = Tensor::rand(shape, gen, DType::f64).to(DType::f64); break;
    }
    if (in.kind == SampleInput::Kind::mask) {
      std::vector<double> v = t.to_vector<double>();
      for (double& x : v) x = x < 0.5 ? 0.0 : 1.0;
      t = Tensor::from_vector(v, shape, DType::u8);
    } else if (in.kind != SampleInput::Kind::index) {
      t = t.to(dtype);
    }
    if (strided) t = t.transpose(-1, -2);
    if (in.requires_grad && is_floating(t.dtype())) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  return inputs;
}

std::string test_name(const std::string& sample_name) {
  std::string name = sample_name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

}  // namespace torus::test
