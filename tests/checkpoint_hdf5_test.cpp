// HDF5 checkpoints (checkpoint.format: hdf5) through `mpirun -np N torus train`: a run
// that crashes and resumes with resume=auto logs the metrics (apart from timing) and
// writes the weights of a run that never stopped, bit for bit, with ZeRO stages 0 and 2;
// a checkpoint saved on 4 ranks resumes on 2 (the kill test of both formats is in
// checkpoint_test.cpp); h5py reads every dataset of
// checkpoint.h5 (the model's equal to final.safetensors) and h5dump its header; a
// corrupted file is refused by the manifest's checksum and an external link by name;
// convert_checkpoint (and `torus ckpt convert`) turns either format into the other,
// loading to the same tensors and resuming bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_convert.h"
#include "support/checkpoint_run.h"
#include "support/error_message.h"
#include "support/run_compare.h"
#include "support/tool_run.h"

namespace torus {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::untimed_metrics;

// Runs a Python script (Debian's h5py and numpy) with arguments; expects it to succeed.
std::string python(const fs::path& dir, const std::string& script, const std::string& arguments) {
  std::ofstream(dir / "script.py") << script;
  const test::ToolRun r = test::run_command(fmt::format("{} {} {}", TORUS_TEST_PYTHON, (dir / "script.py").string(), arguments));
  EXPECT_EQ(r.status, 0) << r.output;
  return r.output;
}

// The same names, dtypes, shapes and bytes, in the same order.
void expect_same_tensors(const NamedTensors& got, const NamedTensors& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    const Tensor &a = got[i].second, &b = want[i].second;
    EXPECT_EQ(got[i].first, want[i].first) << what;
    EXPECT_TRUE(a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
                std::memcmp(a.raw_data(), b.raw_data(), b.nbytes()) == 0)
        << what << ": " << want[i].first;
  }
}

class Hdf5CheckpointRun : public test::CheckpointRunBase {
 protected:
  void SetUp() override { write_resume_config("ckpth5", "  format: hdf5\n"); }
};

TEST_P(Hdf5CheckpointRun, ACrashedRunResumesExactlyAsIfItNeverStopped) {
  for (int stage : {0, 2}) {
    const std::string zero = fmt::format("distributed.zero_stage={}", stage);
    const fs::path full = train(2, fmt::format("full_s{}", stage), zero);
    const fs::path resumed = crash_and_resume(2, fmt::format("cut_s{}", stage), zero);
    EXPECT_EQ(untimed_metrics(resumed), untimed_metrics(full)) << "stage " << stage;
    EXPECT_TRUE(read_file(resumed / "final.safetensors") == read_file(full / "final.safetensors")) << "stage " << stage;
    EXPECT_TRUE(test::contains(read_file(resumed / "train.log"), "resumed from")) << "stage " << stage;
    // One tensor file, no shards and no index.
    const fs::path step8 = checkpoint(fmt::format("cut_s{}", stage), 8);
    EXPECT_FALSE(fs::exists(step8 / "index.json"));
    EXPECT_FALSE(fs::exists(step8 / "shard-00000-of-00002.safetensors"));
    EXPECT_TRUE(test::contains(read_file(step8 / "manifest.json"), "checkpoint.h5"));
  }
}

TEST_P(Hdf5CheckpointRun, ACheckpointOfFourRanksResumesOnTwo) {
  const fs::path full = train(4, "full4");
  const fs::path resumed = crash_and_resume(4, "from4", "distributed.zero_stage=2", 2, "distributed.zero_stage=0");
  test::expect_metrics_near(full, resumed, 1e-5, "4 ranks resumed on 2");
  test::expect_weights_near(full, resumed, 1e-5, "4 ranks resumed on 2");
}

INSTANTIATE_TEST_SUITE_P(Workloads, Hdf5CheckpointRun, ::testing::Values(test::kCheckpointMlp, test::kCheckpointGpt),
                         [](const auto& info) { return info.param.name; });

// The checks on the file itself need one workload only.
class Hdf5CheckpointFile : public Hdf5CheckpointRun {};

TEST_P(Hdf5CheckpointFile, H5pyReadsEveryDatasetAndH5dumpTheHeader) {
  // Three ranks and ZeRO stage 3: pieces that start and end mid-row.
  const fs::path run_dir = train(3, "py", "distributed.zero_stage=3");
  const std::string script = R"(
import json, struct, sys
import h5py
import numpy as np
ckpt, final = sys.argv[1], sys.argv[2]
with open(final, "rb") as f:  # safetensors: 8-byte header length, JSON header, data
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
weights = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).reshape(v["shape"])
           for k, v in header.items() if k != "__metadata__"}
with h5py.File(ckpt, "r") as f:
    assert f.attrs["format"] == "torus-checkpoint", f.attrs["format"]
    assert f.attrs["step"] == 12 and f.attrs["world_size"] == 3 and f.attrs["zero_stage"] == 3, dict(f.attrs)
    assert f.attrs["format_version"] == 1 and "format: hdf5" in f.attrs["config"]
    names = sorted(f.keys())
    assert sorted("model." + k for k in weights) == [k for k in names if k.startswith("model.")], names
    for name in names:
        values = f[name][()]
        if name.startswith("model."):
            assert values.dtype == np.float32 and np.array_equal(values, weights[name[6:]]), name
        else:
            parameter = name[len("optimizer."):name.rindex(".")]
            assert parameter in weights, name
            assert values.shape == weights[parameter].shape or values.size == 1, (name, values.shape)
            assert np.all(np.isfinite(values)), name
print("checked", len(names))
)";
  const std::string h5 = (checkpoint("py", 12) / "checkpoint.h5").string();
  EXPECT_TRUE(test::contains(python(dir_, script, h5 + " " + (run_dir / "final.safetensors").string()), "checked"));
  ASSERT_FALSE(std::string(TORUS_H5DUMP).empty()) << "h5dump not found (Debian package hdf5-tools)";
  const test::ToolRun dump = test::run_command(fmt::format("{} -H {}", TORUS_H5DUMP, h5));
  EXPECT_EQ(dump.status, 0) << dump.output;
  EXPECT_TRUE(test::contains(dump.output, "ATTRIBUTE \"zero_stage\"")) << dump.output;
  EXPECT_TRUE(test::contains(dump.output, "DATASET \"model.")) << dump.output;
}

TEST_P(Hdf5CheckpointFile, ACorruptedFileIsRefusedByTheManifestChecksum) {
  train(1, "solo");  // a world of one writes the file without MPI
  const fs::path h5 = checkpoint("solo", 8) / "checkpoint.h5";
  {  // a flipped byte in the data
    std::fstream f(h5, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(h5) / 2));
    f.put('\x5a');
  }
  EXPECT_TRUE(test::contains(refusal(checkpoint("solo", 8)), "checkpoint.h5: checksum mismatch"));
  const test::ToolRun skipped = run(1, "solo", "resume=auto");
  EXPECT_EQ(skipped.status, 0) << skipped.output;
  EXPECT_TRUE(test::contains(skipped.output, "resumed from " + checkpoint("solo", 12).string())) << skipped.output;
}

TEST_P(Hdf5CheckpointFile, AnExternalLinkIsRefusedNamingIt) {
  train(2, "linked");
  const fs::path step8 = checkpoint("linked", 8);
  // A tensor replaced by a link into another file, and the manifest made to match.
  const std::string script = R"(
import json, os, sys, zlib
import h5py
ckpt = sys.argv[1]
with h5py.File(ckpt + "/checkpoint.h5", "a") as f:
    name = sorted(k for k in f.keys() if k.startswith("model."))[0]
    with h5py.File(ckpt + "/elsewhere.h5", "w") as other:
        other["w"] = f[name][()]
    del f[name]
    f[name] = h5py.ExternalLink("elsewhere.h5", "/w")
manifest = json.load(open(ckpt + "/manifest.json"))
data = open(ckpt + "/checkpoint.h5", "rb").read()
manifest["files"]["checkpoint.h5"] = {"bytes": len(data), "crc32": "%08x" % zlib.crc32(data)}
json.dump(manifest, open(ckpt + "/manifest.json", "w"), indent=1)
print(name)
)";
  std::string name = python(dir_, script, step8.string());
  name = name.substr(0, name.find('\n'));
  const std::string output = refusal(step8);
  EXPECT_TRUE(test::contains(output, fmt::format("checkpoint.h5: '{}' is an external link (to elsewhere.h5:/w)", name)))
      << output;
}

TEST_P(Hdf5CheckpointFile, ConvertedCheckpointsLoadTheSameAndResumeBitForBit) {
  const fs::path original = train(2, "st", "checkpoint.format=safetensors distributed.zero_stage=2");
  const fs::path to_h5 = dir_ / "converted" / "h5" / "step_00000008", back = dir_ / "converted" / "st" / "step_00000008";
  checkpoint::convert_checkpoint(checkpoint("st", 8), to_h5);
  const test::ToolRun cli = test::run_tool(fmt::format("ckpt convert {} {}", to_h5.string(), back.string()));
  EXPECT_EQ(cli.status, 0) << cli.output;  // the same function behind `torus ckpt convert`
  EXPECT_TRUE(fs::exists(to_h5 / "checkpoint.h5") && !fs::exists(to_h5 / "index.json"));
  EXPECT_TRUE(fs::exists(back / "index.json") && fs::exists(back / "shard-00000-of-00001.safetensors"));
  EXPECT_FALSE(fs::exists(to_h5.string() + ".tmp"));
  try {
    checkpoint::convert_checkpoint(to_h5, back);
    ADD_FAILURE() << "a conversion over an existing directory";
  } catch (const IOError& e) {
    EXPECT_TRUE(test::contains(e.what(), back.string() + ": exists")) << e.what();
  }

  const checkpoint::LoadedCheckpoint a = checkpoint::load_checkpoint(checkpoint("st", 8));
  for (const fs::path& dir : {to_h5, back}) {
    const checkpoint::LoadedCheckpoint b = checkpoint::load_checkpoint(dir);
    EXPECT_EQ(b.format, dir == to_h5 ? checkpoint::CheckpointFormat::hdf5 : checkpoint::CheckpointFormat::safetensors);
    EXPECT_EQ(b.state.step, 8);
    EXPECT_EQ(b.state.position.batch, a.state.position.batch);
    EXPECT_EQ(b.state.dropout_offset, a.state.dropout_offset);
    EXPECT_EQ(b.state.zero_stage, 2);
    EXPECT_EQ(b.config_yaml, a.config_yaml);
    expect_same_tensors(b.model, a.model, dir.string());
    expect_same_tensors(b.optimizer, a.optimizer, dir.string());
  }
  const fs::path resumed = train(2, "from_h5", "distributed.zero_stage=2 resume=" + to_h5.string());
  EXPECT_TRUE(read_file(resumed / "final.safetensors") == read_file(original / "final.safetensors"));
}

INSTANTIATE_TEST_SUITE_P(Workload, Hdf5CheckpointFile, ::testing::Values(test::kCheckpointGpt),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace torus
