// Config -> run objects (see train_setup.h).
#include "launcher/train_setup.h"

#include <numeric>

#include <fmt/format.h>

#include "framework/data/byte_text.h"
#include "framework/data/fashion_mnist.h"
#include "framework/data/hdf5_arrays.h"
#include "framework/data/safetensors_arrays.h"
#include "framework/data/subset.h"
#include "framework/data/synthetic.h"
#include "framework/io/safetensors.h"
#include "framework/nn/models.h"
#include "framework/ops/autocast.h"
#include "framework/ops/deterministic.h"
#include "framework/optim/factory.h"
#include "framework/tensor/device_backend.h"
#include "kernels/cpu/parallel.h"
#include "launcher/rank_placement.h"

namespace torus::cli {
namespace {

using config::ExperimentConfig;

bool is_gpt(const ExperimentConfig& c) { return c.model().kind() == config::ModelKind::gpt; }

int64_t text_context(const ExperimentConfig& c) {
  return c.data().context() > 0 ? c.data().context() : c.model().gpt().context();
}

// The held-out tail of `source` (eval_fraction), and the rest for training.
std::pair<std::shared_ptr<const data::Dataset>, std::shared_ptr<const data::Dataset>> split_tail(
    std::shared_ptr<const data::Dataset> source, double eval_fraction) {
  const int64_t eval = static_cast<int64_t>(static_cast<double>(source->size()) * eval_fraction);
  if (eval == 0) return {source, nullptr};
  TORUS_CHECK(eval < source->size(), "data.eval_fraction {} leaves no training samples of {}", eval_fraction,
              source->describe());
  return {std::make_shared<data::Subset>(source, 0, source->size() - eval),
          std::make_shared<data::Subset>(source, source->size() - eval, eval)};
}

int64_t classes_for(const ExperimentConfig& c, int64_t configured) {
  if (configured > 0) return configured;
  switch (c.data().dataset()) {
    case config::Dataset::fashion_mnist: return data::kFashionMnistClasses;
    case config::Dataset::synthetic: return c.data().synthetic().classes();
    default:
      throw ValueError(fmt::format("model.{}.classes: set it for data.dataset {} (the file does not say how many "
                                   "classes there are)",
                                   config::ModelKind::Value_Name(c.model().kind()),
                                   config::Dataset::Value_Name(c.data().dataset())));
  }
}

// model.<kind>.classes as given (0: from the dataset); a GPT predicts its vocabulary.
int64_t configured_classes(const ExperimentConfig& c) {
  switch (c.model().kind()) {
    case config::ModelKind::mlp: return c.model().mlp().classes();
    case config::ModelKind::cnn: return c.model().cnn().classes();
    default: return c.model().gpt().vocab_size();
  }
}

void make_datasets(const ExperimentConfig& c, RunSetup& setup) {
  const auto& d = c.data();
  const bool has_eval_path = d.eval_set_case() == config::DataConfig::kEvalPath;
  auto require_path = [&] {
    TORUS_CHECK(!d.path().empty(), "data.path: required for data.dataset {}", config::Dataset::Value_Name(d.dataset()));
    return d.path();
  };
  switch (d.dataset()) {
    case config::Dataset::fashion_mnist: {
      // Its own test split is the eval set; eval_path names another directory of IDX files.
      data::FashionMnistOptions train_options, test_options;
      if (!d.path().empty()) train_options.directory = test_options.directory = d.path();
      if (has_eval_path) test_options.directory = d.eval_path();
      test_options.split = data::FashionMnistSplit::test;
      setup.train_set = std::make_shared<data::FashionMnist>(train_options);
      setup.eval_set = std::make_shared<data::FashionMnist>(test_options);
      return;
    }
    case config::Dataset::text: {
      TORUS_CHECK(is_gpt(c), "data.dataset text: needs model.kind gpt, got {}",
                  config::ModelKind::Value_Name(c.model().kind()));
      data::ByteTextOptions options{require_path(), text_context(c), 0, has_eval_path ? 0.0 : d.eval_fraction(),
                                    data::TextSplit::train};
      setup.train_set = std::make_shared<data::ByteText>(options);
      if (has_eval_path) {
        options.path = d.eval_path();
        options.eval_fraction = 0;
      } else if (d.eval_fraction() > 0) {
        options.split = data::TextSplit::eval;
      } else {
        return;
      }
      setup.eval_set = std::make_shared<data::ByteText>(options);
      return;
    }
    case config::Dataset::hdf5:
    case config::Dataset::safetensors: {
      const bool hdf5 = d.dataset() == config::Dataset::hdf5;
      // Labels are checked against the model's classes as the file loads.
      data::ArrayFileOptions options;
      options.num_classes = classes_for(c, configured_classes(c));
      auto load = [&](const std::string& path) -> std::shared_ptr<const data::Dataset> {
        return hdf5 ? data::load_hdf5_arrays(path, options) : data::load_safetensors_arrays(path, options);
      };
      std::shared_ptr<const data::Dataset> all = load(require_path());
      if (has_eval_path) {
        setup.train_set = all;
        setup.eval_set = load(d.eval_path());
      } else {
        std::tie(setup.train_set, setup.eval_set) = split_tail(all, d.eval_fraction());
      }
      return;
    }
    case config::Dataset::synthetic: {
      const auto& s = d.synthetic();
      std::shared_ptr<const data::Dataset> all;
      if (is_gpt(c)) {
        all = std::make_shared<data::SyntheticTokens>(data::SyntheticTokensOptions{
            s.samples(), text_context(c), c.model().gpt().vocab_size(), static_cast<uint64_t>(c.seed())});
      } else {
        Shape shape(s.shape().begin(), s.shape().end());
        if (shape.empty()) shape = c.model().kind() == config::ModelKind::cnn ? Shape{1, 28, 28} : Shape{784};
        all = std::make_shared<data::SyntheticClassification>(
            data::SyntheticClassificationOptions{s.samples(), shape, s.classes(), static_cast<uint64_t>(c.seed())});
      }
      std::tie(setup.train_set, setup.eval_set) = split_tail(all, has_eval_path ? 0.0 : d.eval_fraction());
      return;
    }
  }
  throw ValueError("data.dataset: not set");
}

nn::Activation activation_of(config::Activation::Value a) {
  switch (a) {
    case config::Activation::gelu: return nn::Activation::gelu;
    case config::Activation::tanh: return nn::Activation::tanh;
    default: return nn::Activation::relu;
  }
}

std::shared_ptr<Layer> make_model(const ExperimentConfig& c, const data::SampleSpec& input, Generator& gen,
                                  std::string& description, std::shared_ptr<Generator>& dropout_generator) {
  const auto& m = c.model();
  std::shared_ptr<Layer> model;
  switch (m.kind()) {
    case config::ModelKind::mlp: {
      nn::MlpOptions o;
      const int64_t values = std::accumulate(input.shape.begin(), input.shape.end(), int64_t{1}, std::multiplies<>());
      TORUS_CHECK(m.mlp().input_size() == 0 || m.mlp().input_size() == values,
                  "model.mlp.input_size {} does not fit data.dataset {}, whose samples hold {} values ({})",
                  m.mlp().input_size(), config::Dataset::Value_Name(c.data().dataset()), values,
                  shape_str(input.shape));
      o.in = values;
      o.hidden.assign(m.mlp().hidden().begin(), m.mlp().hidden().end());
      o.classes = classes_for(c, m.mlp().classes());
      o.activation = activation_of(m.mlp().activation());
      model = nn::make_mlp(o, gen);
      description = fmt::format("mlp {}-{}-{}", o.in, fmt::join(o.hidden, "-"), o.classes);
      break;
    }
    case config::ModelKind::cnn: {
      TORUS_CHECK(input.shape.size() == 3, "model.kind cnn: needs image inputs (channels, height, width); {} gives {}",
                  config::Dataset::Value_Name(c.data().dataset()), shape_str(input.shape));
      nn::CnnOptions o;
      o.in_channels = m.cnn().in_channels() > 0 ? m.cnn().in_channels() : input.shape[0];
      o.height = input.shape[1];
      o.width = input.shape[2];
      o.stages.clear();
      for (const auto& conv : m.cnn().conv())
        o.stages.push_back({conv.channels(), conv.kernel(), conv.stride(), conv.padding(),
                            conv.pool() > 0 ? nn::PoolKind::max : nn::PoolKind::none, std::max(conv.pool(), 1)});
      o.hidden.assign(m.cnn().hidden().begin(), m.cnn().hidden().end());
      o.classes = classes_for(c, m.cnn().classes());
      o.fc_relu = m.cnn().fc_relu();
      model = nn::make_cnn(o, gen);
      description = fmt::format("cnn {} conv layers, linear {}-{}", o.stages.size(), fmt::join(o.hidden, "-"), o.classes);
      break;
    }
    case config::ModelKind::gpt: {
      const auto& g = m.gpt();
      TORUS_CHECK(g.mlp_ratio() == 4, "model.gpt.mlp_ratio: only 4 is built so far, got {}", g.mlp_ratio());
      nn::GptOptions o;
      o.vocab = g.vocab_size();
      o.context = g.context();
      o.d_model = g.d_model();
      o.layers = g.layers();
      o.heads = g.heads();
      o.tied_head = g.tied_head();
      o.dropout = g.dropout();
      TORUS_CHECK(text_context(c) <= o.context, "data.context {} exceeds model.gpt.context {}", text_context(c),
                  o.context);
      auto dropout_gen = std::make_shared<Generator>(static_cast<uint64_t>(c.seed()) + 1);
      model = nn::make_gpt(o, gen, dropout_gen);
      dropout_generator = dropout_gen;
      description = fmt::format("gpt vocab {} context {} d_model {} layers {} heads {}{}", o.vocab, o.context,
                                o.d_model, o.layers, o.heads, o.tied_head ? " tied head" : "");
      break;
    }
    default: throw ValueError("model.kind: not set");
  }
  description += fmt::format(" ({} parameters)", model->parameter_count());
  return model;
}

data::Normalization normalization_for(const ExperimentConfig& c) {
  if (!c.data().normalize() || c.data().dataset() != config::Dataset::fashion_mnist) return {};
  return {{data::kFashionMnistMean}, {data::kFashionMnistStd}};
}

std::unique_ptr<optim::LrSchedule> make_schedule(const ExperimentConfig& c, int64_t steps) {
  const auto& s = c.schedule();
  optim::ScheduleOptions o;
  o.warmup_steps = s.warmup_steps();
  o.total_steps = steps;
  switch (s.kind()) {
    case config::Schedule::cosine:
      o.kind = optim::ScheduleKind::warmup_cosine;
      o.min_ratio = s.min_lr_ratio();
      break;
    case config::Schedule::step:
      TORUS_CHECK(s.warmup_steps() == 0, "schedule.warmup_steps: not supported with kind step (use cosine or constant)");
      o.kind = optim::ScheduleKind::step;
      o.step_size = s.step_size();
      o.gamma = s.gamma();
      break;
    default:
      // A warm-up into a constant rate is a cosine whose floor is the rate itself.
      o.kind = s.warmup_steps() > 0 ? optim::ScheduleKind::warmup_cosine : optim::ScheduleKind::constant;
      o.min_ratio = 1.0;
  }
  TORUS_CHECK(o.kind != optim::ScheduleKind::warmup_cosine || o.warmup_steps < steps,
              "schedule.warmup_steps {} must be fewer than the {} training steps", o.warmup_steps, steps);
  return optim::make_schedule(o, c.optimizer().lr());
}

}  // namespace

optim::OptimizerOptions optimizer_options(const ExperimentConfig& c) {
  const auto& o = c.optimizer();
  optim::OptimizerOptions out;
  out.kind = o.name() == config::Optimizer::adam    ? optim::OptimizerKind::adam
             : o.name() == config::Optimizer::adamw ? optim::OptimizerKind::adamw
                                                    : optim::OptimizerKind::sgd;
  out.lr = o.lr();
  out.weight_decay = o.weight_decay();
  out.momentum = o.momentum();
  out.dampening = o.dampening();
  out.nesterov = o.nesterov();
  out.beta1 = o.beta1();
  out.beta2 = o.beta2();
  out.eps = o.eps();
  return out;
}

namespace {

// trainer.device for this rank (rank_placement.h), checked usable here.
Device training_device(const ExperimentConfig& c, const comm::WorldInfo& world) {
  if (Device::parse(c.trainer().device()).is_cpu()) return Device::cpu();  // no CUDA query for cpu runs
  const int count = device_backend::cuda_device_count();
  const Device device = choose_rank_device(c.trainer().device(), world, count,
                                           count == 0 ? device_backend::why_unavailable(Device::cuda(0)) : "");
  const std::string why = device_backend::why_unavailable(device);
  TORUS_CHECK(why.empty(), "trainer.device {}: {}", c.trainer().device(), why);
  return device;
}

}  // namespace

RunSetup make_run_setup(const ExperimentConfig& c, bool for_training, int rank, int world) {
  comm::WorldInfo info;
  info.rank = rank;
  info.size = world;
  info.local_rank = rank;
  info.local_size = world;
  return make_run_setup(c, for_training, info);
}

RunSetup make_run_setup(const ExperimentConfig& c, bool for_training, const comm::WorldInfo& world_info) {
  const int rank = world_info.rank, world = world_info.size;
  RunSetup setup;
  if (c.trainer().threads() > 0) cpu::set_num_threads(c.trainer().threads());
  setup.run_dir = std::filesystem::path(c.trainer().run_dir()) / c.name();
  make_datasets(c, setup);

  Generator init(static_cast<uint64_t>(c.seed()));
  setup.model = make_model(c, setup.train_set->input_spec(), init, setup.model_description, setup.dropout_generator);
  if (!c.init_from().empty())
    setup.model->load_state_dict(io::load_safetensors(c.init_from()).tensors, /*strict=*/true);
  setup.device = training_device(c, world_info);
  setup.model->to(setup.device);  // before the optimizer: its state goes there too

  const int64_t accumulation = c.trainer().grad_accumulation();
  TORUS_CHECK(c.data().batch_size() % (accumulation * world) == 0,
              "data.batch_size {} is not a multiple of trainer.grad_accumulation {} x {} ranks", c.data().batch_size(),
              accumulation, world);
  const data::Normalization normalization = normalization_for(c);
  const int prefetch = c.data().num_workers() > 0 ? c.data().prefetch() : 0;
  if (setup.eval_set) {
    data::LoaderOptions eval;
    eval.batch_size = c.data().eval_batch_size() > 0 ? c.data().eval_batch_size() : c.data().batch_size();
    eval.batch_size = std::min<int64_t>(eval.batch_size, setup.eval_set->size());
    eval.batch_size = std::max<int64_t>(world, eval.batch_size / world * world);  // whole slices per rank
    eval.rank = rank;
    eval.world = world;
    eval.shuffle = false;
    eval.drop_last = false;
    eval.normalization = normalization;
    eval.prefetch = prefetch;
    setup.eval_loader = std::make_unique<data::Loader>(setup.eval_set, eval);
  }
  if (!for_training) return setup;

  data::LoaderOptions train;
  train.batch_size = c.data().batch_size() / accumulation;
  train.shuffle = c.data().shuffle();
  train.seed = static_cast<uint64_t>(c.seed());
  train.drop_last = c.data().drop_last();
  train.rank = rank;
  train.world = world;
  train.normalization = normalization;
  train.prefetch = prefetch;
  setup.train_loader = std::make_unique<data::Loader>(setup.train_set, train);

  auto& t = setup.trainer;
  t.steps = c.trainer().length_case() == config::TrainerConfig::kEpochs
                ? c.trainer().epochs() * setup.train_loader->batches_per_epoch() / accumulation
                : c.trainer().steps();
  TORUS_CHECK(t.steps > 0, "trainer.epochs {}: an epoch of {} holds fewer than one step of {} batches",
              c.trainer().epochs(), setup.train_set->describe(), accumulation);
  t.log_every = c.trainer().log_every();
  t.eval_every = c.trainer().eval_every();
  t.eval_batches = c.trainer().eval_batches();
  t.grad_accumulation = accumulation;
  t.grad_clip_norm = c.optimizer().grad_clip_norm();
  t.save_initial = c.trainer().save_initial();
  t.profile = c.trainer().profile();
  t.task = is_gpt(c) ? train::Task::language_model : train::Task::classification;
  t.model_description = setup.model_description;
  t.autocast = c.trainer().precision() == config::Precision::bf16 ? DType::bf16 : DType::f32;
  // TF32 is one switch for the process (framework/ops/autocast.h); set as the config says.
  set_allow_tf32(c.trainer().precision() == config::Precision::tf32);
  // Reproducible mode's exact sums need every shard's backward to give the same bits anywhere.
  set_deterministic_algorithms(c.distributed().reproducible());

  setup.optimizer = optim::make_optimizer(setup.model->named_parameters(), optimizer_options(c));
  setup.schedule = make_schedule(c, t.steps);
  return setup;
}

}  // namespace torus::cli
