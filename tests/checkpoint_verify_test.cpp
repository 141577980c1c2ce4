// Checkpoint verification in one process: the CRC-32 (ISA-L or zlib, whichever the build
// uses) bit-identical to zlib's crc32 on random bytes of odd sizes and alignments, in one
// call, chained, combined, and over a file read in one or several streams; a corrupt file rejected with its name; and a per-parameter
// scalar of the optimizer (Adam's step count) that differs between parameters refused by
// restore_optimizer under ZeRO, naming both parameters and values.
// The multi-rank load is in checkpoint_verify_mpi_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/comm/local_process_group.h"
#include "distributed/parallel/zero_sharding.h"
#include "framework/io/durable_file.h"
#include "framework/nn/models.h"
#include "framework/optim/adam.h"
#include "launcher/train_checkpoint.h"
#include "support/error_message.h"
#include "support/sgd_checkpoint.h"

namespace torus {
namespace {
namespace fs = std::filesystem;

uint32_t zlib_crc32(uint32_t crc, const uint8_t* bytes, size_t size) {
  return static_cast<uint32_t>(::crc32(crc, reinterpret_cast<const Bytef*>(bytes), static_cast<uInt>(size)));
}

std::vector<uint8_t> random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<uint8_t> out(size);
  for (auto& b : out) b = static_cast<uint8_t>(gen());
  return out;
}

TEST(CheckpointCrc32, MatchesZlibOnRandomBytesOfOddSizesAndAlignments) {
  const std::vector<uint8_t> bytes = random_bytes((size_t{8} << 20) + 64, 1);
  for (const size_t size : {size_t{0}, size_t{1}, size_t{3}, size_t{7}, size_t{15}, size_t{31}, size_t{63},
                            size_t{64}, size_t{65}, size_t{127}, size_t{255}, size_t{257}, size_t{1023},
                            size_t{4097}, size_t{65537}, (size_t{1} << 20) + 13, (size_t{8} << 20) + 5})
    for (const size_t offset : {0, 1, 3, 7, 13}) {
      const uint8_t* p = bytes.data() + offset;
      EXPECT_EQ(io::crc32_of(p, size), zlib_crc32(0, p, size))
          << io::crc32_implementation() << ", " << size << " bytes at offset " << offset;
    }
}

TEST(CheckpointCrc32, ChainedUpdatesMatchZlibOverTheWhole) {
  const std::vector<uint8_t> bytes = random_bytes(3'000'001, 2);
  std::mt19937_64 gen(3);
  uint32_t crc = 0;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t n = std::min<size_t>(bytes.size() - at, gen() % 100'003);
    crc = io::crc32_update(crc, bytes.data() + at, n);
    at += n;
  }
  EXPECT_EQ(crc, zlib_crc32(0, bytes.data(), bytes.size()));
  // A known value: zlib's crc32 of "123456789" (the CRC-32 check value).
  const std::string check = "123456789";
  EXPECT_EQ(io::crc32_of(reinterpret_cast<const uint8_t*>(check.data()), check.size()), 0xcbf43926U);
}

TEST(CheckpointCrc32, OfAFileAcrossReadChunksMatchesZlib) {
  const fs::path file = fs::temp_directory_path() / fmt::format("crc32_file_test.{}", ::getpid());
  for (const size_t size : {size_t{0}, size_t{5}, (size_t{8} << 20) - 1, (size_t{16} << 20) + 3}) {
    const std::vector<uint8_t> bytes = random_bytes(size, size);
    {
      std::ofstream out(file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      ASSERT_TRUE(out.good());
    }
    EXPECT_EQ(io::crc32_of_file(file), zlib_crc32(0, bytes.data(), bytes.size())) << size << " bytes";
  }
  fs::remove(file);
}

TEST(CheckpointCrc32, OfAFileReadInSeveralStreamsMatchesZlib) {
  const fs::path file = fs::temp_directory_path() / fmt::format("crc32_streams_test.{}", ::getpid());
  for (const size_t size : {(size_t{64} << 20) + 3, (size_t{97} << 20) + 1}) {
    const std::vector<uint8_t> bytes = random_bytes(size, size);
    {
      std::ofstream out(file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      ASSERT_TRUE(out.good());
    }
    const uint32_t want = zlib_crc32(0, bytes.data(), bytes.size());
    for (const int streams : {1, 2, 3, 8}) EXPECT_EQ(io::crc32_of_file(file, streams), want) << size << ", " << streams;
    // The combination of any two parts.
    const size_t cut = size / 3 + 17;
    EXPECT_EQ(io::crc32_combine(io::crc32_of(bytes.data(), cut), io::crc32_of(bytes.data() + cut, size - cut),
                                size - cut),
              want);
  }
  fs::remove(file);
}

// A layer that is only its parameters.
class Parameters : public Layer {
 public:
  Parameters() {
    register_parameter("w", Tensor::full({6}, 0.5));
    register_parameter("b", Tensor::full({3}, -1.0));
  }
  Tensor forward(const Tensor& x) const override { return x; }
};

class CheckpointVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / fmt::format("checkpoint_verify_test.{}", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path save(int64_t step) { return test::save_sgd_checkpoint(root_, step, model_, group_); }

  fs::path root_;
  Parameters model_;
  comm::LocalProcessGroup group_;
};

void flip_byte(const fs::path& file, std::streamoff at) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(at);
  char c = 0;
  f.get(c);
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x20));
  ASSERT_TRUE(f.good()) << file;
}

TEST_F(CheckpointVerify, ACorruptShardIsRejectedNamingIt) {
  const fs::path dir = save(1);
  EXPECT_NO_THROW(checkpoint::load_checkpoint(dir));
  const fs::path shard = dir / checkpoint::shard_file_name(0, 1);
  flip_byte(shard, static_cast<std::streamoff>(fs::file_size(shard) - 1));
  const std::string message = test::error_of<IOError>([&] { checkpoint::load_checkpoint(dir); });
  EXPECT_TRUE(test::contains(message, shard.string() + ": checksum mismatch")) << message;
  // The collective overload in a world of one says the same.
  EXPECT_EQ(test::error_of<IOError>([&] { checkpoint::load_checkpoint(dir, group_); }), message);
  std::vector<std::string> skipped;
  EXPECT_FALSE(checkpoint::find_latest_checkpoint(root_, skipped, group_));
  ASSERT_EQ(skipped.size(), 1U);
  EXPECT_EQ(skipped[0], message);
}

TEST_F(CheckpointVerify, LoadLatestSkipsACorruptNewerCheckpoint) {
  const fs::path older = save(1), newer = save(2);
  flip_byte(newer / checkpoint::kStateFile, 3);
  std::vector<std::string> skipped;
  const std::optional<checkpoint::LoadedCheckpoint> loaded = checkpoint::load_latest_checkpoint(root_, skipped, group_);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->path, older);
  EXPECT_EQ(loaded->state.step, 1);
  ASSERT_EQ(skipped.size(), 1U);
  EXPECT_TRUE(test::contains(skipped[0], (newer / checkpoint::kStateFile).string() + ": checksum mismatch"))
      << skipped[0];
}

// Adam's state as a checkpoint holds it: per parameter, with the step count once each.
checkpoint::LoadedCheckpoint adam_state(int64_t w_step, int64_t b_step) {
  checkpoint::LoadedCheckpoint loaded;
  loaded.state.optimizer_steps = w_step;
  loaded.optimizer = {{"w.step", Tensor::from_data<int64_t>({w_step}, {})},
                      {"w.exp_avg", Tensor::full({6}, 0.25)},
                      {"w.exp_avg_sq", Tensor::full({6}, 0.5)},
                      {"b.step", Tensor::from_data<int64_t>({b_step}, {})},
                      {"b.exp_avg", Tensor::full({3}, 0.75)},
                      {"b.exp_avg_sq", Tensor::full({3}, 1.0)}};
  return loaded;
}

TEST(CheckpointRestoreOptimizer, ZeroRefusesAStepCountThatDiffersBetweenParameters) {
  Parameters model;
  comm::LocalProcessGroup group;
  parallel::ZeroSharding zero(model, group, parallel::ZeroOptions{1});
  optim::Adam adam({{"shard", zero.shard()}}, optim::AdamOptions{});
  const std::string message =
      test::error_of([&] { cli::restore_optimizer(adam_state(7, 6), model, adam, &zero); });
  EXPECT_TRUE(test::contains(message, "'step'")) << message;
  EXPECT_TRUE(test::contains(message, "'w' has 7 and 'b' has 6")) << message;
  // Agreeing values restore.
  EXPECT_NO_THROW(cli::restore_optimizer(adam_state(7, 7), model, adam, &zero));
  EXPECT_EQ(adam.step_count(), 7);
}

}  // namespace
}  // namespace torus
