// A user's own model and training loop written against the Torus C++ API: an MLP
// classifying Fashion-MNIST, with SGD and momentum, reporting loss and test accuracy.
//
//   train_mlp [--data DIR] [--epochs N] [--batch B] [--lr LR] [--max-steps S] [--threads T]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <torus/framework/autograd/grad_mode.h>
#include <torus/framework/data/idx.h>
#include <torus/framework/nn/linear.h>
#include <torus/framework/nn/module.h>
#include <torus/framework/ops/ops.h>
#include <torus/framework/optim/sgd.h>
#include <torus/framework/tensor/random.h>
#include <torus/kernels/cpu/parallel.h>

namespace {

// The user's model: its own Module subclass with named children.
class Mlp : public torus::Module {
 public:
  Mlp(int64_t hidden, torus::Generator& gen)
      : fc1_(register_module("fc1", std::make_shared<torus::nn::Linear>(784, hidden, gen))),
        fc2_(register_module("fc2", std::make_shared<torus::nn::Linear>(hidden, 10, gen))) {}

  torus::Tensor forward(const torus::Tensor& x) const {  // x (B, 784) -> logits (B, 10)
    return fc2_->forward(torus::relu(fc1_->forward(x)));
  }

 private:
  std::shared_ptr<torus::nn::Linear> fc1_, fc2_;
};

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  int epochs = 1;
  int64_t batch = 128;
  double lr = 0.05;
  int64_t max_steps = -1;  // stop early (smoke tests)
  int threads = 0;         // 0: the default (cores / local ranks)
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) throw torus::ValueError("missing value after " + arg);
    const char* value = argv[++i];
    if (arg == "--data") o.data = value;
    else if (arg == "--epochs") o.epochs = std::atoi(value);
    else if (arg == "--batch") o.batch = std::atoll(value);
    else if (arg == "--lr") o.lr = std::atof(value);
    else if (arg == "--max-steps") o.max_steps = std::atoll(value);
    else if (arg == "--threads") o.threads = std::atoi(value);
    else throw torus::ValueError("unknown option " + arg);
  }
  return o;
}

// Images as f32 in [0, 1], normalised by the training set's mean and std, shape (N, 784).
torus::Tensor load_images(const std::string& path) {
  torus::Tensor raw = torus::data::read_idx(path);
  torus::Tensor x = raw.to(torus::DType::f32).reshape({raw.size(0), -1});
  return (x * (1.0 / 255.0) - 0.2860) * (1.0 / 0.3530);
}

double accuracy(const Mlp& model, const torus::Tensor& images, const torus::Tensor& labels) {
  torus::NoGradGuard no_grad;
  torus::Tensor predicted = torus::argmax(model.forward(images), 1);
  torus::Tensor hits = torus::eq(predicted, labels);
  return torus::sum(hits.to(torus::DType::f64)).item() / static_cast<double>(labels.numel());
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  if (opt.threads > 0) torus::cpu::set_num_threads(opt.threads);
  const auto train_x = load_images(opt.data + "/train-images-idx3-ubyte.gz");
  const auto train_y = torus::data::read_idx(opt.data + "/train-labels-idx1-ubyte.gz").to(torus::DType::i64);
  const auto test_x = load_images(opt.data + "/t10k-images-idx3-ubyte.gz");
  const auto test_y = torus::data::read_idx(opt.data + "/t10k-labels-idx1-ubyte.gz").to(torus::DType::i64);
  std::printf("Fashion-MNIST: %lld training and %lld test images, %d threads\n",
              static_cast<long long>(train_x.size(0)), static_cast<long long>(test_x.size(0)),
              torus::cpu::num_threads());

  torus::Generator gen(0);
  Mlp model(256, gen);
  torus::optim::Sgd optimizer(model.parameters(), {.lr = opt.lr, .momentum = 0.9});
  std::printf("model: %lld parameters\n", static_cast<long long>(model.parameter_count()));

  const int64_t steps_per_epoch = train_x.size(0) / opt.batch;
  int64_t step = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    const torus::Tensor order = torus::randperm(train_x.size(0), gen);
    double loss_sum = 0;
    int64_t loss_count = 0;
    for (int64_t b = 0; b < steps_per_epoch; ++b, ++step) {
      if (opt.max_steps >= 0 && step >= opt.max_steps) break;
      const torus::Tensor index = order.narrow(0, b * opt.batch, opt.batch);
      const torus::Tensor x = torus::index_select(train_x, 0, index);
      const torus::Tensor y = torus::index_select(train_y, 0, index);
      torus::Tensor loss = torus::cross_entropy(model.forward(x), y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item();
      ++loss_count;
      if ((step + 1) % 100 == 0) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("epoch %d step %lld/%lld loss %.4f (%.0f samples/s)\n", epoch + 1,
                    static_cast<long long>(b + 1), static_cast<long long>(steps_per_epoch),
                    loss_sum / static_cast<double>(loss_count),
                    static_cast<double>((step + 1) * opt.batch) / seconds);
        std::fflush(stdout);
        loss_sum = 0;
        loss_count = 0;
      }
    }
    std::printf("epoch %d: test accuracy %.2f%%\n", epoch + 1, 100 * accuracy(model, test_x, test_y));
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "train_mlp: %s\n", e.what());
  return 1;
}
