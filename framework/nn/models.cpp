// Model builders (see models.h).
#include "framework/nn/models.h"

#include "framework/nn/conv.h"
#include "framework/nn/flatten.h"
#include "framework/nn/linear.h"
#include "framework/nn/pooling.h"
#include "framework/nn/sequential.h"

namespace torus::nn {
namespace {

// A Sequential that first flattens everything but the batch dim, so images feed an MLP.
class Mlp : public Sequential {
 public:
  explicit Mlp(int64_t in) : in_(in) {}
  Tensor forward(const Tensor& x) const override {
    TORUS_CHECK(x.dim() >= 2 && x.numel() == x.size(0) * in_,
                "MLP({} inputs): input must be (N, {}) or (N, *) with {} values per sample, got shape {}", in_,
                in_, in_, x.shape_str());
    return Sequential::forward(x.dim() == 2 ? x : x.flatten(1));
  }

 private:
  int64_t in_;
};

void check_sizes(const std::vector<int64_t>& sizes, const char* builder, const char* field) {
  for (size_t i = 0; i < sizes.size(); ++i)
    TORUS_CHECK(sizes[i] > 0, "{}: {}[{}] must be positive, got {}", builder, field, i, sizes[i]);
}

// Appends Linear(in, h0), [act], ..., Linear(., classes) with `activation` between layers
// when `activate`.
void push_linear_stack(Sequential& seq, int64_t in, const std::vector<int64_t>& hidden, int64_t classes,
                       bool activate, Activation activation, DType dtype, Generator& gen) {
  int64_t width = in;
  for (int64_t h : hidden) {
    seq.push_back(std::make_shared<Linear>(width, h, gen, true, dtype));
    if (activate) seq.push_back(make_activation(activation));
    width = h;
  }
  seq.push_back(std::make_shared<Linear>(width, classes, gen, true, dtype));
}

// Output size of a window sweep (conv or pool) along one dim.
int64_t swept(int64_t size, int64_t kernel, int64_t stride, int64_t padding) {
  return size + 2 * padding < kernel ? 0 : (size + 2 * padding - kernel) / stride + 1;
}

}  // namespace

std::shared_ptr<Layer> make_mlp(const MlpOptions& o, Generator& gen) {
  TORUS_CHECK(o.in > 0 && o.classes > 0, "make_mlp: in and classes must be positive, got {} and {}", o.in,
              o.classes);
  check_sizes(o.hidden, "make_mlp", "hidden");
  auto mlp = std::make_shared<Mlp>(o.in);
  push_linear_stack(*mlp, o.in, o.hidden, o.classes, true, o.activation, o.dtype, gen);
  return mlp;
}

std::shared_ptr<Layer> make_cnn(const CnnOptions& o, Generator& gen) {
  TORUS_CHECK(o.in_channels > 0 && o.height > 0 && o.width > 0 && o.classes > 0,
              "make_cnn: in_channels, height, width and classes must be positive, got {}, {}, {}, {}",
              o.in_channels, o.height, o.width, o.classes);
  TORUS_CHECK(!o.stages.empty(), "make_cnn: needs at least one conv stage");
  check_sizes(o.hidden, "make_cnn", "hidden");
  auto seq = std::make_shared<Sequential>();
  int64_t channels = o.in_channels, height = o.height, width = o.width;
  for (size_t i = 0; i < o.stages.size(); ++i) {
    const ConvStage& s = o.stages[i];
    TORUS_CHECK(s.channels > 0 && s.kernel > 0 && s.stride > 0 && s.padding >= 0,
                "make_cnn: stage {} needs positive channels, kernel and stride and padding >= 0, got "
                "channels {}, kernel {}, stride {}, padding {}",
                i, s.channels, s.kernel, s.stride, s.padding);
    Conv2dOptions geometry;
    geometry.stride = {s.stride, s.stride};
    geometry.padding = {s.padding, s.padding};
    seq->push_back(std::make_shared<Conv2d>(channels, s.channels, std::array{s.kernel, s.kernel}, gen, geometry,
                                            true, o.dtype));
    seq->push_back(make_activation(o.activation));
    height = swept(height, s.kernel, s.stride, s.padding);
    width = swept(width, s.kernel, s.stride, s.padding);
    if (s.pool != PoolKind::none) {
      TORUS_CHECK(s.pool_kernel > 0, "make_cnn: stage {} pool_kernel must be positive, got {}", i, s.pool_kernel);
      Pool2dOptions pool;
      pool.kernel = {s.pool_kernel, s.pool_kernel};
      if (s.pool == PoolKind::max) seq->push_back(std::make_shared<MaxPool2d>(pool));
      else seq->push_back(std::make_shared<AvgPool2d>(pool));
      height = swept(height, s.pool_kernel, s.pool_kernel, 0);
      width = swept(width, s.pool_kernel, s.pool_kernel, 0);
    }
    TORUS_CHECK(height > 0 && width > 0,
                "make_cnn: a {}x{} input shrinks to nothing by stage {} ({} channels, kernel {}, pool {})",
                o.height, o.width, i, s.channels, s.kernel, s.pool_kernel);
    channels = s.channels;
  }
  seq->push_back(std::make_shared<Flatten>());
  push_linear_stack(*seq, channels * height * width, o.hidden, o.classes, o.fc_relu, o.activation, o.dtype,
                    gen);
  return seq;
}

std::shared_ptr<Layer> make_gpt(const GptOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen) {
  return std::make_shared<Gpt>(options, gen, std::move(dropout_gen));
}

}  // namespace torus::nn
