// The collective checkpoint load under mpirun (2 and 3 ranks on one node): the files'
// checksums are split over the ranks, and a corrupt file is still rejected on every rank
// with the same one-line error, naming the file, that one process verifying alone gives,
// whichever rank checked it; with two corrupt files, the first in the manifest's order.
// resume=auto's search takes rank 0's listing and skips a corrupt newer checkpoint alike.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_files.h"
#include "distributed/comm/world.h"
#include "framework/io/durable_file.h"
#include "support/error_message.h"
#include "support/mpi_test_main.h"
#include "support/sgd_checkpoint.h"

namespace torus {
namespace {
namespace fs = std::filesystem;

comm::ProcessGroup* g_group = nullptr;

// A module that is only its parameters: several, so every rank's shard holds some.
class Parameters : public Module {
 public:
  Parameters() {
    for (int i = 0; i < 5; ++i)
      register_parameter(fmt::format("p{}", i), Tensor::full({1000 + 7 * i}, 0.125 * i));
  }
};

// Every rank's `text`, in rank order.
std::vector<std::string> gather_strings(const std::string& text) {
  constexpr int64_t kMax = 4096;
  const Tensor mine = Tensor::zeros({kMax}, DType::u8);
  text.copy(static_cast<char*>(mine.raw_data()), kMax - 1);
  const Tensor all = Tensor::zeros({kMax * g_group->size()}, DType::u8);
  g_group->all_gather(mine, all)->wait();
  std::vector<std::string> out;
  for (int r = 0; r < g_group->size(); ++r) out.emplace_back(static_cast<const char*>(all.raw_data()) + r * kMax);
  return out;
}

class CollectiveLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    // One directory for the job: rank 0's process id, broadcast.
    const Tensor id = Tensor::from_data<int64_t>({static_cast<int64_t>(::getpid())}, {1});
    g_group->broadcast(id, 0)->wait();
    root_ = fs::temp_directory_path() / fmt::format("checkpoint_verify_mpi_test.{}", id.data<int64_t>()[0]);
    if (g_group->rank() == 0) {
      fs::remove_all(root_);
      fs::create_directories(root_);
    }
    g_group->barrier()->wait();
  }
  void TearDown() override {
    g_group->barrier()->wait();
    if (g_group->rank() == 0) fs::remove_all(root_);
  }

  fs::path save(int64_t step) { return test::save_sgd_checkpoint(root_, step, model_, *g_group); }

  // The manifest's files, in its order.
  static std::vector<std::string> listed_files(const fs::path& dir) {
    const auto manifest = nlohmann::ordered_json::parse(io::read_file(dir / checkpoint::kManifestFile));
    std::vector<std::string> out;
    for (const auto& [name, entry] : manifest.at("files").items()) out.push_back(name);
    return out;
  }

  // Rank 0 flips a byte of `file` (or restores it: flipping twice), then every rank waits.
  static void flip_byte(const fs::path& file) {
    if (g_group->rank() == 0) {
      std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
      const auto at = static_cast<std::streamoff>(fs::file_size(file) / 2);
      f.seekg(at);
      char c = 0;
      f.get(c);
      f.seekp(at);
      f.put(static_cast<char>(c ^ 0x01));
      f.flush();
      EXPECT_TRUE(f.good()) << file;
    }
    g_group->barrier()->wait();
  }

  fs::path root_;
  Parameters model_;
};

TEST_F(CollectiveLoad, AnIntactCheckpointLoadsOnEveryRankAsInOneProcess) {
  const fs::path dir = save(3);
  const checkpoint::LoadedCheckpoint together = checkpoint::load_checkpoint(dir, *g_group);
  const checkpoint::LoadedCheckpoint alone = checkpoint::load_checkpoint(dir);
  EXPECT_EQ(together.state.step, 3);
  ASSERT_EQ(together.model.size(), alone.model.size());
  ASSERT_EQ(together.optimizer.size(), alone.optimizer.size());
  for (size_t i = 0; i < alone.model.size(); ++i) {
    EXPECT_EQ(together.model[i].first, alone.model[i].first);
    EXPECT_EQ(together.model[i].second.to_vector<float>(), alone.model[i].second.to_vector<float>());
  }
}

TEST_F(CollectiveLoad, EachCorruptFileFailsEveryRankWithTheSameErrorAsOneProcess) {
  const fs::path dir = save(4);
  const std::vector<std::string> files = listed_files(dir);
  ASSERT_GE(files.size(), static_cast<size_t>(g_group->size()) + 2);  // shards, index, state, config
  for (const std::string& name : files) {
    flip_byte(dir / name);
    const std::string message = test::error_of<IOError>([&] { checkpoint::load_checkpoint(dir, *g_group); });
    EXPECT_TRUE(message.find((dir / name).string() + ": checksum mismatch") != std::string::npos)
        << "rank " << g_group->rank() << ": " << message;
    EXPECT_EQ(message, test::error_of<IOError>([&] { checkpoint::verify_checkpoint(dir); })) << name;
    for (const std::string& theirs : gather_strings(message)) EXPECT_EQ(theirs, message) << name;
    flip_byte(dir / name);
  }
  EXPECT_NO_THROW(checkpoint::verify_checkpoint(dir, *g_group));
}

TEST_F(CollectiveLoad, OfTwoCorruptFilesEveryRankNamesTheFirstInTheManifest) {
  const fs::path dir = save(5);
  const std::vector<std::string> files = listed_files(dir);
  // The first and the last listed: checked by different ranks when the split gives them
  // to different ranks, by one rank otherwise; either way the first is reported.
  flip_byte(dir / files.front());
  flip_byte(dir / files.back());
  const std::string message = test::error_of<IOError>([&] { checkpoint::verify_checkpoint(dir, *g_group); });
  EXPECT_TRUE(message.find((dir / files.front()).string() + ": checksum mismatch") != std::string::npos) << message;
  for (const std::string& theirs : gather_strings(message)) EXPECT_EQ(theirs, message);
}

TEST_F(CollectiveLoad, AMissingFileAndAnUncommittedCheckpointFailEveryRankAlike) {
  const fs::path dir = save(6);
  const std::string shard = checkpoint::shard_file_name(g_group->size() - 1, g_group->size());
  g_group->barrier()->wait();
  if (g_group->rank() == 0) fs::rename(dir / shard, root_ / shard);
  g_group->barrier()->wait();
  std::string message = test::error_of<IOError>([&] { checkpoint::load_checkpoint(dir, *g_group); });
  EXPECT_EQ(message, fmt::format("{}: missing (listed in {})", (dir / shard).string(), checkpoint::kManifestFile));
  for (const std::string& theirs : gather_strings(message)) EXPECT_EQ(theirs, message);
  g_group->barrier()->wait();
  if (g_group->rank() == 0) fs::remove(dir / checkpoint::kManifestFile);
  g_group->barrier()->wait();
  message = test::error_of<IOError>([&] { checkpoint::load_checkpoint(dir, *g_group); });
  EXPECT_TRUE(message.find("not committed") != std::string::npos) << message;
  for (const std::string& theirs : gather_strings(message)) EXPECT_EQ(theirs, message);
}

TEST_F(CollectiveLoad, ResumeAutoSkipsACorruptNewerCheckpointOnEveryRank) {
  const fs::path older = save(7), newer = save(8);
  flip_byte(newer / checkpoint::shard_file_name(0, g_group->size()));
  std::vector<std::string> skipped;
  const std::optional<checkpoint::LoadedCheckpoint> loaded =
      checkpoint::load_latest_checkpoint(root_, skipped, *g_group);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->path, older);
  ASSERT_EQ(skipped.size(), 1U);
  for (const std::string& theirs : gather_strings(skipped[0])) EXPECT_EQ(theirs, skipped[0]);
}

}  // namespace
}  // namespace torus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  torus::comm::ProcessGroupOptions options;
  options.timeout_seconds = 120;
  return torus::test::run_tests_on_every_rank("checkpoint_verify_mpi_test", options, torus::g_group);
}
