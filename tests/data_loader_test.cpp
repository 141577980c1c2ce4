// The sampler and the loader: seeded shuffling, rank slices that add up to the
// single-process batch, exact resume, the prefetch thread against the synchronous path,
// buffer reuse, shutdown and error propagation from the worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <numeric>
#include <set>
#include <thread>

#include "data_support.h"
#include "framework/data/fashion_mnist.h"
#include "framework/data/loader.h"
#include "framework/data/sampler.h"
#include "framework/data/synthetic.h"
#include "framework/ops/ops.h"

namespace torus::data {
namespace {

using test::expect_one_line_naming;
using test::thrown_message;

// Sample i has input (i, 2i, 3i) as f32 and target i: a batch shows which samples it holds.
class IndexDataset : public Dataset {
 public:
  explicit IndexDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  const SampleSpec& input_spec() const override { return input_; }
  const SampleSpec& target_spec() const override { return target_; }
  std::string describe() const override { return "index dataset"; }

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override {
    for (size_t row = 0; row < indices.size(); ++row) {
      for (int j = 0; j < 3; ++j) inputs.data<float>()[row * 3 + j] = static_cast<float>(indices[row] * (j + 1));
      targets.data<int64_t>()[row] = indices[row];
    }
  }

 private:
  int64_t n_;
  SampleSpec input_{{3}, DType::f32}, target_{{}, DType::i64};
};

// Fails with an IOError when asked for `bad_sample`, as a file found corrupt mid-read would;
// optionally slow, to catch the worker mid-gather.
class FailingDataset final : public IndexDataset {
 public:
  FailingDataset(int64_t n, int64_t bad_sample, std::chrono::milliseconds delay = {})
      : IndexDataset(n), bad_sample_(bad_sample), delay_(delay) {}
  mutable std::atomic<int> gathers{0};

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override {
    ++gathers;
    std::this_thread::sleep_for(delay_);
    for (int64_t index : indices)
      if (index == bad_sample_) throw IOError(fmt::format("corrupt.bin: bad record for sample {}", index));
    IndexDataset::gather_rows(indices, inputs, targets);
  }

 private:
  int64_t bad_sample_;
  std::chrono::milliseconds delay_;
};

std::vector<int64_t> targets_of(const Batch& batch) { return batch.targets.to_vector<int64_t>(); }

// Runs `f` on another thread and fails (then aborts, since the thread cannot be freed)
// if it has not finished in time: a hang becomes a failure with a reason.
template <class F>
void finishes_within(std::chrono::seconds limit, F&& f, const char* what) {
  auto done = std::async(std::launch::async, std::forward<F>(f));
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "%s did not finish within %lld s\n", what, static_cast<long long>(limit.count()));
    std::abort();
  }
  done.get();
}

// ---- Sampler ----

TEST(Sampler, SameSeedSameOrderOtherSeedOrEpochOtherOrderAlwaysAPermutation) {
  const SamplerOptions options{.dataset_size = 1000, .global_batch = 10, .seed = 7};
  const BatchSampler a(options), b(options);
  BatchSampler other_seed({.dataset_size = 1000, .global_batch = 10, .seed = 8});
  const auto order = a.epoch_order(0).to_vector<int64_t>();
  EXPECT_EQ(order, b.epoch_order(0).to_vector<int64_t>());
  EXPECT_NE(order, a.epoch_order(1).to_vector<int64_t>());
  EXPECT_NE(order, other_seed.epoch_order(0).to_vector<int64_t>());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(order, identity);
  for (int64_t epoch : {0, 1, 2, 1000000}) {
    auto sorted = a.epoch_order(epoch).to_vector<int64_t>();
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, identity) << "epoch " << epoch;
  }
  const BatchSampler in_order({.dataset_size = 1000, .global_batch = 10, .shuffle = false});
  EXPECT_EQ(in_order.epoch_order(3).to_vector<int64_t>(), identity);
}

TEST(Sampler, BatchesPerEpochAndTheLastSmallerBatch) {
  EXPECT_EQ(BatchSampler({.dataset_size = 103, .global_batch = 12}).batches_per_epoch(), 8);
  BatchSampler keep({.dataset_size = 103, .global_batch = 12, .drop_last = false});
  EXPECT_EQ(keep.batches_per_epoch(), 9);
  EXPECT_EQ(keep.global_batch_size(8), 7);
  EXPECT_EQ(BatchSampler({.dataset_size = 96, .global_batch = 12, .drop_last = false}).batches_per_epoch(), 8);
  // An epoch covers every sample exactly once without drop_last.
  std::vector<int64_t> seen, part;
  for (int64_t b = 0; b < keep.batches_per_epoch(); ++b) {
    keep.rank_indices(4, b, part);
    seen.insert(seen.end(), part.begin(), part.end());
  }
  EXPECT_EQ(seen, keep.epoch_order(4).to_vector<int64_t>());
}

TEST(Sampler, RankSlicesConcatenateToTheSingleProcessBatch) {
  for (bool drop_last : {true, false}) {
    const SamplerOptions base{.dataset_size = 103, .global_batch = 12, .seed = 3, .drop_last = drop_last};
    BatchSampler single(base);
    for (int world = 1; world <= 4; ++world) {
      std::vector<BatchSampler> ranks;
      for (int rank = 0; rank < world; ++rank) {
        SamplerOptions options = base;
        options.rank = rank;
        options.world = world;
        ranks.emplace_back(options);
        EXPECT_EQ(ranks.back().batches_per_epoch(), single.batches_per_epoch());
        EXPECT_EQ(ranks.back().local_batch(), 12 / world);
      }
      for (int64_t epoch = 0; epoch < 2; ++epoch)
        for (int64_t b = 0; b < single.batches_per_epoch(); ++b) {
          std::vector<int64_t> expected, joined, part;
          single.rank_indices(epoch, b, expected);
          for (int rank = 0; rank < world; ++rank) {
            ranks[static_cast<size_t>(rank)].rank_indices(epoch, b, part);
            if (single.global_batch_size(b) == 12) {
              EXPECT_EQ(part.size(), static_cast<size_t>(12 / world));
            }
            joined.insert(joined.end(), part.begin(), part.end());
          }
          EXPECT_EQ(joined, expected) << "world " << world << " epoch " << epoch << " batch " << b;
        }
    }
  }
}

TEST(Sampler, BadOptionsNameTheNumbers) {
  expect_one_line_naming(
      thrown_message<ValueError>([] { BatchSampler({.dataset_size = 100, .global_batch = 10, .rank = 0, .world = 3}); }),
      {"global batch size 10", "number of ranks 3"});
  expect_one_line_naming(
      thrown_message<ValueError>([] { BatchSampler({.dataset_size = 100, .global_batch = 10, .rank = 2, .world = 2}); }),
      {"rank 2", "world of 2"});
  expect_one_line_naming(thrown_message<ValueError>([] { BatchSampler({.dataset_size = 5, .global_batch = 8}); }),
                         {"5 samples", "global batch of 8"});
  EXPECT_THROW(BatchSampler({.dataset_size = 5, .global_batch = 0}), ValueError);
  BatchSampler sampler({.dataset_size = 5, .global_batch = 2});
  std::vector<int64_t> out;
  EXPECT_THROW(sampler.rank_indices(0, 2, out), ValueError);
  EXPECT_THROW(sampler.rank_indices(-1, 0, out), ValueError);
}

// ---- Loader ----

std::vector<Batch> take(Loader& loader, int n) {
  std::vector<Batch> out;
  // Clones: the loader reuses buffers of batches the caller no longer holds.
  for (int i = 0; i < n; ++i) {
    Batch batch = loader.next();
    batch.inputs = batch.inputs.clone();
    batch.targets = batch.targets.clone();
    out.push_back(batch);
  }
  return out;
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].position, b[i].position) << i;
    EXPECT_EQ(a[i].inputs.to_vector<float>(), b[i].inputs.to_vector<float>()) << i;
    EXPECT_EQ(targets_of(a[i]), targets_of(b[i])) << i;
  }
}

TEST(Loader, BatchesFollowTheSamplerAcrossEpochs) {
  auto dataset = std::make_shared<IndexDataset>(50);
  Loader loader(dataset, {.batch_size = 8, .seed = 5, .drop_last = false});
  EXPECT_EQ(loader.batches_per_epoch(), 7);
  BatchSampler sampler({.dataset_size = 50, .global_batch = 8, .seed = 5, .drop_last = false});
  std::vector<int64_t> expected;
  for (int step = 0; step < 20; ++step) {
    const LoaderPosition at = loader.position();
    EXPECT_EQ(at, (LoaderPosition{step / 7, step % 7}));
    const Batch batch = loader.next();
    EXPECT_EQ(batch.position, at);
    sampler.rank_indices(at.epoch, at.batch, expected);
    EXPECT_EQ(targets_of(batch), expected);
    EXPECT_EQ(batch.global_samples, at.batch == 6 ? 2 : 8);
    EXPECT_EQ(batch.last_in_epoch, at.batch == 6);
    EXPECT_EQ(batch.inputs.size(0), at.batch == 6 ? 2 : 8);
    EXPECT_EQ(batch.inputs.to_vector<float>()[2], static_cast<float>(expected[0] * 3));
  }
  EXPECT_EQ(loader.sample_indices({2, 3}), (sampler.rank_indices(2, 3, expected), expected));
}

TEST(Loader, PrefetchingGivesTheBatchesOfTheSynchronousPath) {
  auto dataset = std::make_shared<SyntheticClassification>(
      SyntheticClassificationOptions{.samples = 300, .input_shape = {4}, .num_classes = 5, .seed = 2});
  Loader synchronous(dataset, {.batch_size = 32, .seed = 9, .drop_last = false, .prefetch = 0});
  const auto expected = take(synchronous, 25);  // crosses two epoch boundaries
  for (int prefetch : {1, 2, 5}) {
    Loader prefetching(dataset, {.batch_size = 32, .seed = 9, .drop_last = false, .prefetch = prefetch});
    expect_same_batches(take(prefetching, 25), expected);
  }
}

TEST(Loader, RankLoadersTogetherYieldTheSingleProcessBatch) {
  auto dataset = std::make_shared<IndexDataset>(100);
  Loader single(dataset, {.batch_size = 12, .seed = 4, .drop_last = false});
  const auto expected = take(single, 20);
  for (int world = 1; world <= 4; ++world) {
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int rank = 0; rank < world; ++rank)
      ranks.push_back(std::make_unique<Loader>(
          dataset, LoaderOptions{.batch_size = 12, .seed = 4, .drop_last = false, .rank = rank, .world = world}));
    for (const Batch& want : expected) {
      std::vector<Tensor> parts;
      for (auto& rank : ranks) {
        const Batch part = rank->next();
        EXPECT_EQ(part.position, want.position);
        EXPECT_EQ(part.global_samples, want.global_samples);
        if (want.global_samples == 12) {
          EXPECT_EQ(part.inputs.size(0), 12 / world);
        }
        parts.push_back(part.inputs.clone());
      }
      EXPECT_EQ(concat(parts, 0).to_vector<float>(), want.inputs.to_vector<float>())
          << "world " << world << " epoch " << want.position.epoch << " batch " << want.position.batch;
    }
  }
  expect_one_line_naming(thrown_message<ValueError>([&] { Loader(dataset, {.batch_size = 10, .world = 4}); }),
                         {"global batch size 10", "number of ranks 4"});
}

TEST(Loader, ResumingAtASavedPositionYieldsTheSameBatches) {
  auto dataset = std::make_shared<IndexDataset>(90);
  const LoaderOptions options{.batch_size = 16, .seed = 13};
  Loader uninterrupted(dataset, options);
  const auto all = take(uninterrupted, 17);  // 5 batches an epoch
  for (int stop : {0, 3, 5, 8, 14}) {
    Loader first(dataset, options);
    take(first, stop);
    const LoaderPosition saved = first.position();  // what a checkpoint stores
    Loader resumed(dataset, options);
    resumed.set_position(saved);
    expect_same_batches(take(resumed, 17 - stop), std::vector<Batch>(all.begin() + stop, all.end()));
  }
  // Seeking back on a running loader discards what it had prepared.
  Loader seeking(dataset, {.batch_size = 16, .seed = 13, .prefetch = 3});
  take(seeking, 6);
  seeking.set_position({0, 2});
  expect_same_batches(take(seeking, 4), std::vector<Batch>(all.begin() + 2, all.begin() + 6));
  EXPECT_THROW(seeking.set_position({0, 5}), ValueError);
  EXPECT_THROW(seeking.set_position({-1, 0}), ValueError);
}

TEST(Loader, NormalizesInputsPerTensorOrPerChannel) {
  auto dataset = std::make_shared<IndexDataset>(10);
  Loader loader(dataset, {.batch_size = 2, .shuffle = false, .normalization = {{1.0}, {4.0}}});
  EXPECT_EQ(loader.next().inputs.to_vector<float>(), (std::vector<float>{-0.25f, -0.25f, -0.25f, 0, 0.25f, 0.5f}));
  Loader per_channel(dataset, {.batch_size = 1, .shuffle = false, .normalization = {{0, 1, 2}, {1, 2, 4}}});
  per_channel.set_position({0, 4});
  EXPECT_EQ(per_channel.next().inputs.to_vector<float>(), (std::vector<float>{4, 3.5f, 2.5f}));
  expect_one_line_naming(
      thrown_message<ValueError>([&] { Loader(dataset, {.batch_size = 2, .normalization = {{0, 1}, {1, 1}}}); }),
      {"2 means", "one per channel (3)"});
  EXPECT_THROW(Loader(dataset, {.batch_size = 2, .normalization = {{0}, {0}}}), ValueError);
  EXPECT_THROW(Loader(dataset, {.batch_size = 2, .normalization = {{0}, {}}}), ValueError);
  auto tokens = std::make_shared<SyntheticTokens>(SyntheticTokensOptions{.samples = 4, .context = 2});
  EXPECT_THROW(Loader(tokens, {.batch_size = 2, .normalization = {{0}, {1}}}), ValueError);
}

TEST(Loader, FashionMnistNormalizedAsPyTorchDoes) {
  auto train = std::make_shared<FashionMnist>();
  Loader loader(train, {.batch_size = 64, .shuffle = false,
                        .normalization = {{kFashionMnistMean}, {kFashionMnistStd}}});
  const Batch batch = loader.next();
  EXPECT_EQ(batch.inputs.shape(), (Shape{64, 1, 28, 28}));
  const auto raw = test::gather_new(*train, {0}).inputs.to_vector<float>();
  const auto normalized = batch.inputs.narrow(0, 0, 1).to_vector<float>();
  const float mean = static_cast<float>(kFashionMnistMean), std = static_cast<float>(kFashionMnistStd);
  for (size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(normalized[i], (raw[i] - mean) / std);
}

TEST(Loader, SteadyStateReusesItsBuffersAndNeverOverwritesAHeldBatch) {
  auto dataset = std::make_shared<IndexDataset>(64);
  for (int prefetch : {0, 1, 3}) {
    Loader loader(dataset, {.batch_size = 4, .seed = 1, .prefetch = prefetch});
    for (int i = 0; i < 50; ++i) {
      const Batch batch = loader.next();  // dropped at the end of each iteration
      ASSERT_EQ(targets_of(batch), loader.sample_indices(batch.position));
    }
    Batch held;
    for (int i = 0; i < 50; ++i) held = loader.next();  // the previous batch is held during next()
    EXPECT_LE(loader.buffers_allocated(), prefetch + 2) << "prefetch " << prefetch;
    // A batch kept across many steps keeps its samples (the loader allocates around it).
    const Batch kept = loader.next();
    const auto kept_targets = targets_of(kept);
    const Tensor view = kept.inputs.narrow(0, 1, 2);
    const auto view_values = view.to_vector<float>();
    take(loader, 20);
    EXPECT_EQ(targets_of(kept), kept_targets);
    EXPECT_EQ(view.to_vector<float>(), view_values);
  }
}

TEST(Loader, DestructionMidEpochDoesNotHang) {
  // Mid-gather: the worker is inside a slow read when the loader goes.
  finishes_within(std::chrono::seconds(30), [] {
    auto slow = std::make_shared<FailingDataset>(100, -1, std::chrono::milliseconds(200));
    Loader loader(slow, {.batch_size = 10, .prefetch = 2});
    loader.next();
  }, "destroying a loader whose worker is mid-gather");
  // Waiting for room: the worker has filled the queue when the loader goes.
  finishes_within(std::chrono::seconds(30), [] {
    auto fast = std::make_shared<IndexDataset>(100);
    Loader loader(fast, {.batch_size = 10, .prefetch = 2});
    loader.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }, "destroying a loader whose worker waits for room");
  // Never started, and destroyed right after an error.
  finishes_within(std::chrono::seconds(30), [] {
    auto dataset = std::make_shared<IndexDataset>(100);
    Loader idle(dataset, {.batch_size = 10});
    auto failing = std::make_shared<FailingDataset>(100, 0);
    Loader broken(failing, {.batch_size = 100, .shuffle = false});
    EXPECT_THROW(broken.next(), IOError);
  }, "destroying idle and failed loaders");
}

TEST(Loader, AnErrorInTheWorkerReachesTheConsumerAfterTheBatchesBeforeIt) {
  for (int prefetch : {0, 1, 3}) {
    // Sample 37 is in batch 3 (unshuffled batches of 10); batches 0-2 arrive intact first.
    auto dataset = std::make_shared<FailingDataset>(100, 37);
    Loader loader(dataset, {.batch_size = 10, .shuffle = false, .prefetch = prefetch});
    for (int b = 0; b < 3; ++b) EXPECT_EQ(targets_of(loader.next())[0], b * 10);
    const std::string message = thrown_message<IOError>([&] { loader.next(); });
    expect_one_line_naming(message, {"corrupt.bin", "sample 37"});
    // The position stays at the failed batch, and asking again retries it.
    EXPECT_EQ(loader.position(), (LoaderPosition{0, 3}));
    EXPECT_THROW(loader.next(), IOError);
    // Past it, the loader carries on.
    loader.set_position({0, 4});
    EXPECT_EQ(targets_of(loader.next())[0], 40);
  }
}

TEST(Loader, BadOptions) {
  auto dataset = std::make_shared<IndexDataset>(10);
  EXPECT_THROW(Loader(nullptr, {.batch_size = 2}), ValueError);
  EXPECT_THROW(Loader(dataset, {.batch_size = 2, .prefetch = -1}), ValueError);
  EXPECT_THROW(Loader(dataset, {.batch_size = 2, .rank = 1, .world = 1}), ValueError);
  expect_one_line_naming(thrown_message<ValueError>([&] { Loader(dataset, {.batch_size = 16}); }),
                         {"10 samples", "global batch of 16"});
}

}  // namespace
}  // namespace torus::data
