// `torus ckpt export` and `torus ckpt inspect` of checkpoint and run directories, through
// the binary: the export of a 2-rank ZeRO stage 3 run is its final.safetensors tensor for
// tensor, bit for bit; a sharded export's index covers every tensor and Python's
// safetensors package reads it; the exported MLP and GPT (tied head) load into the
// torch.nn modules of examples/torch_reference/models.py with strict=True and give the
// logits Torus gives; inspect tells committed, corrupt and uncommitted checkpoints apart;
// a corrupt checkpoint's export fails in one line naming the file; an HDF5-format
// checkpoint is listed as the safetensors one is and exports the same bytes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "framework/autograd/grad_mode.h"
#include "framework/io/safetensors.h"
#include "framework/io/safetensors_stream.h"
#include "framework/tensor/random.h"
#include "launcher/config_load.h"
#include "launcher/train_setup.h"
#include "support/multi_rank_run.h"
#include "support/tool_run.h"
#include "support/workloads.h"

namespace torus {
namespace {

namespace fs = std::filesystem;
using test::run_command;
using test::run_tool;
using test::ToolRun;
using test::Workload;

const Workload kMlp{"mlp", test::kMlpModel + test::fashion_mnist_data("0.005") + test::kAdamW};
const Workload kGpt{"gpt", test::kGptModel + test::kSyntheticTokens + test::kAdamW};

const std::string kExportScript = std::string(TORUS_SOURCE_DIR) + "/examples/export_to_torch/export_to_torch.py";

uint32_t crc_of(const Tensor& t) {
  return static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(t.raw_data()),
                                     static_cast<uInt>(t.nbytes())));
}

std::map<std::string, Tensor> by_name(const NamedTensors& tensors) { return {tensors.begin(), tensors.end()}; }

// Both hold the same names, dtypes, shapes and bytes.
void expect_bitwise_equal(const NamedTensors& got, const NamedTensors& want, const std::string& what) {
  const auto mine = by_name(got), theirs = by_name(want);
  ASSERT_EQ(mine.size(), theirs.size()) << what;
  for (const auto& [name, w] : theirs) {
    ASSERT_TRUE(mine.count(name)) << what << ": no " << name;
    const Tensor& g = mine.at(name);
    ASSERT_EQ(g.dtype(), w.dtype()) << name;
    ASSERT_EQ(g.shape(), w.shape()) << name;
    EXPECT_EQ(std::memcmp(g.contiguous().raw_data(), w.contiguous().raw_data(), w.nbytes()), 0) << what << ": " << name;
  }
}

void flip_byte(const fs::path& file, int64_t from_end) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-from_end, std::ios::end);
  const char c = static_cast<char>(f.get() ^ 0x5a);
  f.seekp(-from_end, std::ios::end);
  f.put(c);
}

bool one_line(const std::string& output) {
  return output.rfind("torus: ", 0) == 0 && std::count(output.begin(), output.end(), '\n') == 1;
}

// The writer under the export: a file written in pieces reads back as one written whole;
// a wrong byte count is an error, and an abandoned file leaves nothing behind.
TEST(SafetensorsStreamWriter, WritesPiecesAsOneFileAndLeavesNothingWhenAbandoned) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("torus_stream_{}", ::getpid());
  fs::create_directories(dir);
  const Tensor a = Tensor::arange(10, DType::f32).reshape({2, 5}), b = Tensor::arange(3, DType::i64);
  {
    io::SafetensorsStreamWriter writer(dir / "w.safetensors", {{"a", DType::f32, {2, 5}}, {"b", DType::i64, {3}}},
                                       {{"step", "3"}});
    const char* bytes = static_cast<const char*>(a.raw_data());
    writer.append(bytes, 12);  // a piece boundary inside a tensor
    writer.append(bytes + 12, 28);
    writer.append(b.raw_data(), 24);
    EXPECT_THROW(writer.append(bytes, 1), Error);
    writer.commit();
  }
  const io::SafetensorsContents read = io::load_safetensors((dir / "w.safetensors").string());
  expect_bitwise_equal(read.tensors, {{"a", a}, {"b", b}}, "streamed");
  EXPECT_EQ(read.metadata.at("step"), "3");
  {
    io::SafetensorsStreamWriter short_of_bytes(dir / "short.safetensors", {{"a", DType::f32, {2, 5}}}, {});
    short_of_bytes.append(a.raw_data(), 8);
    EXPECT_THROW(short_of_bytes.commit(), Error);
  }
  EXPECT_FALSE(fs::exists(dir / "short.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "short.safetensors.tmp"));
  fs::remove_all(dir);
}

class ExportRun : public test::MultiRankRun {
 protected:
  void SetUp() override {
    write_config("export", "seed: 5\n{body}trainer:\n  steps: 8\n  log_every: 4\n  threads: 1\n"
                           "  run_dir: {run_dir}\ncheckpoint:\n  every_steps: 4\n");
  }
  fs::path checkpoint(const fs::path& run, int64_t step) {
    return run / "checkpoints" / fmt::format("step_{:08d}", step);
  }
  ToolRun export_to(const fs::path& source, const fs::path& out, const std::string& options = "") {
    return run_tool(fmt::format("ckpt export {} {} {}", source.string(), out.string(), options));
  }
  nlohmann::json inspect_json(const fs::path& path) {
    const ToolRun r = run_tool("ckpt inspect --json " + path.string());
    EXPECT_EQ(r.status, 0) << r.output;
    return nlohmann::json::parse(r.output);
  }
};

TEST_P(ExportRun, TheExportOfAZeroStage3RunIsItsFinalWeightsBitForBit) {
  const fs::path run = train(2, "zero3", "distributed.zero_stage=3");
  const fs::path out = dir_ / "model.safetensors";
  const ToolRun r = export_to(run, out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("step_00000008"), std::string::npos) << r.output;  // the newest
  const io::SafetensorsContents exported = io::load_safetensors(out.string());
  expect_bitwise_equal(exported.tensors, io::load_safetensors((run / "final.safetensors").string()).tensors, "export");
  EXPECT_EQ(exported.metadata.at("format"), "pt");
  EXPECT_EQ(exported.metadata.at("step"), "8");
  EXPECT_NE(exported.metadata.at("torus_config").find("kind: " + GetParam().name), std::string::npos);
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));

  // A checkpoint directory named directly: that step.
  const ToolRun earlier = export_to(checkpoint(run, 4), dir_ / "step4.safetensors");
  ASSERT_EQ(earlier.status, 0) << earlier.output;
  EXPECT_EQ(io::load_safetensors((dir_ / "step4.safetensors").string()).metadata.at("step"), "4");
}

// The same inputs through Torus (the run's config, the exported weights) and through the
// torch.nn module the example script builds from the export alone.
TEST_P(ExportRun, TheExportLoadsIntoTorchStrictlyAndGivesTorusLogits) {
  const fs::path run = train(2, "torch", "distributed.zero_stage=2");
  const fs::path out = dir_ / "export.safetensors";
  ASSERT_EQ(export_to(run, out).status, 0);

  Generator gen(11);
  Tensor inputs = Tensor::randn({16, 784}, gen);
  if (GetParam().name == "gpt") {  // (3, 32) tokens of 256
    std::vector<int64_t> tokens;
    for (double u : Tensor::rand({3, 32}, gen).to_vector<double>()) tokens.push_back(static_cast<int64_t>(u * 256) % 256);
    inputs = Tensor::from_data<int64_t>(tokens, {3, 32});
  }
  io::save_safetensors((dir_ / "inputs.safetensors").string(), {{"inputs", inputs}});
  const ToolRun torch = run_command(fmt::format("{} {} logits {} {} {}", TORUS_TEST_PYTHON, kExportScript,
                                                out.string(), (dir_ / "inputs.safetensors").string(),
                                                (dir_ / "torch_logits.safetensors").string()));
  ASSERT_EQ(torch.status, 0) << torch.output;

  const config::ExperimentConfig config = config::load((run / "config.resolved.yaml").string());
  cli::RunSetup setup = cli::make_run_setup(config, /*for_training=*/false);
  setup.model->load_state_dict(io::load_safetensors(out.string()).tensors, /*strict=*/true);
  setup.model->eval();
  NoGradGuard no_grad;
  const Tensor mine = (*setup.model)(inputs).contiguous();
  const Tensor theirs = io::load_safetensors((dir_ / "torch_logits.safetensors").string()).tensors.at(0).second;
  ASSERT_EQ(mine.shape(), theirs.shape());
  const std::vector<double> a = mine.to_vector<double>(), b = theirs.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  EXPECT_LE(worst, 1e-5) << GetParam().name << " logits, " << a.size() << " values";
}

INSTANTIATE_TEST_SUITE_P(Workloads, ExportRun, ::testing::Values(kMlp, kGpt),
                         [](const auto& info) { return info.param.name; });

// Sharding, damage and inspection need one workload.
class ExportFiles : public ExportRun {};

TEST_P(ExportFiles, AShardedExportHasAnIndexCoveringEveryTensorThatSafetensorsReads) {
  const fs::path run = train(2, "sharded", "distributed.zero_stage=3");
  const fs::path out = dir_ / "model.safetensors";
  const ToolRun r = export_to(run, out, "--max-shard-mb 0.1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(out));
  const auto index = nlohmann::json::parse(std::ifstream(out.string() + ".index.json"));
  const NamedTensors final_weights = io::load_safetensors((run / "final.safetensors").string()).tensors;
  std::set<std::string> files;
  uint64_t total = 0;
  for (const auto& [name, t] : final_weights) {
    ASSERT_TRUE(index["weight_map"].contains(name)) << name;
    files.insert(index["weight_map"][name].get<std::string>());
    total += t.nbytes();
  }
  EXPECT_EQ(index["weight_map"].size(), final_weights.size());
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  EXPECT_GE(files.size(), 3u);
  NamedTensors all;
  for (const std::string& file : files) {
    EXPECT_EQ(file.rfind("model-0000", 0), 0u) << file;
    for (auto& named : io::load_safetensors((dir_ / file).string()).tensors) all.push_back(named);
  }
  expect_bitwise_equal(all, final_weights, "shards");

  // PyPI's safetensors: every tensor through the index, its shape and CRC-32 of its bytes.
  std::ofstream(dir_ / "read_index.py")
      << "import json, os, sys, zlib\nfrom safetensors import safe_open\n"
         "index = json.load(open(sys.argv[1]))\nout = {}\n"
         "for name, file in index['weight_map'].items():\n"
         "    with safe_open(os.path.join(os.path.dirname(sys.argv[1]), file), 'np') as f:\n"
         "        t = f.get_tensor(name)\n"
         "        out[name] = [list(t.shape), zlib.crc32(t.tobytes())]\n"
         "print(json.dumps(out))\n";
  const ToolRun python = run_command(fmt::format("{} {} {}", TORUS_TEST_PYTHON, (dir_ / "read_index.py").string(),
                                                 out.string() + ".index.json"));
  ASSERT_EQ(python.status, 0) << python.output;
  const auto read = nlohmann::json::parse(python.output);
  ASSERT_EQ(read.size(), final_weights.size());
  for (const auto& [name, t] : final_weights) {
    EXPECT_EQ(read[name][0].get<Shape>(), t.shape()) << name;
    EXPECT_EQ(read[name][1].get<uint32_t>(), crc_of(t)) << name;
  }

  // Exported again as one file: the shards and the index of the earlier export go.
  ASSERT_EQ(export_to(run, out).status, 0);
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".index.json"));
  for (const std::string& file : files) EXPECT_FALSE(fs::exists(dir_ / file)) << file;
}

TEST_P(ExportFiles, ACorruptCheckpointIsNotExportedAndTheFileIsNamedInOneLine) {
  const fs::path run = train(1, "corrupt");
  flip_byte(checkpoint(run, 8) / "shard-00000-of-00001.safetensors", 3);
  const ToolRun r = export_to(checkpoint(run, 8), dir_ / "bad.safetensors");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r.output)) << r.output;
  EXPECT_NE(r.output.find("shard-00000-of-00001.safetensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("checksum"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "bad.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "bad.safetensors.tmp"));

  // A run directory: the newest intact checkpoint, saying which one was skipped and why.
  const ToolRun from_run = export_to(run, dir_ / "older.safetensors");
  ASSERT_EQ(from_run.status, 0) << from_run.output;
  EXPECT_NE(from_run.output.find("skipped"), std::string::npos) << from_run.output;
  EXPECT_EQ(io::load_safetensors((dir_ / "older.safetensors").string()).metadata.at("step"), "4");

  const ToolRun not_a_run = export_to(dir_ / "nothing_here", dir_ / "x.safetensors");
  EXPECT_NE(not_a_run.status, 0);
  EXPECT_TRUE(one_line(not_a_run.output)) << not_a_run.output;
}

TEST_P(ExportFiles, InspectTellsCommittedCorruptAndUncommittedCheckpointsApart) {
  const fs::path run = train(2, "inspect", "distributed.zero_stage=3");
  const fs::path good = checkpoint(run, 8);
  for (const char* copy : {"corrupt", "uncommitted"}) {
    fs::create_directories(dir_ / copy);
    fs::copy(good, dir_ / copy / good.filename(), fs::copy_options::recursive);
  }
  const fs::path corrupt = dir_ / "corrupt" / good.filename(), uncommitted = dir_ / "uncommitted" / good.filename();
  flip_byte(corrupt / "shard-00001-of-00002.safetensors", 5);
  fs::remove(uncommitted / "manifest.json");

  const auto committed = inspect_json(good);
  EXPECT_EQ(committed["committed"], true);
  EXPECT_EQ(committed["intact"], true);
  EXPECT_EQ(committed["step"], 8);
  EXPECT_EQ(committed["world_size"], 2);
  EXPECT_EQ(committed["zero_stage"], 3);
  EXPECT_GT(committed["bytes"].get<uint64_t>(), committed["model_bytes"].get<uint64_t>());
  // Model tensors by state_dict name, with the CRC-32 of final.safetensors' tensor.
  const auto final_weights = by_name(io::load_safetensors((run / "final.safetensors").string()).tensors);
  size_t model_tensors = 0, optimizer_tensors = 0;
  for (const auto& t : committed["tensors"]) {
    const std::string name = t["name"];
    EXPECT_GE(t["pieces"].get<int>(), 1) << name;
    if (name.rfind("optimizer.", 0) == 0) ++optimizer_tensors;
    if (name.rfind("model.", 0) != 0) continue;
    ++model_tensors;
    const Tensor& w = final_weights.at(name.substr(6));
    EXPECT_EQ(t["shape"].get<Shape>(), w.shape()) << name;
    EXPECT_EQ(t["dtype"], "F32") << name;
    EXPECT_EQ(t["bytes"].get<uint64_t>(), static_cast<uint64_t>(w.nbytes())) << name;
    EXPECT_EQ(t["crc32"], fmt::format("{:08x}", crc_of(w))) << name;
  }
  EXPECT_EQ(model_tensors, final_weights.size());
  EXPECT_GT(optimizer_tensors, 0u);
  const ToolRun text = run_tool("ckpt inspect " + good.string());
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("committed, checksums verified"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("model.0.weight"), std::string::npos) << text.output;

  const auto damaged = inspect_json(corrupt);
  EXPECT_EQ(damaged["committed"], true);
  EXPECT_EQ(damaged["intact"], false);
  EXPECT_NE(damaged["problem"].get<std::string>().find("shard-00001-of-00002.safetensors"), std::string::npos);
  const ToolRun damaged_text = run_tool("ckpt inspect " + corrupt.string());
  EXPECT_NE(damaged_text.output.find("CORRUPT"), std::string::npos) << damaged_text.output;
  EXPECT_NE(damaged_text.output.find("shard-00001-of-00002.safetensors"), std::string::npos) << damaged_text.output;

  const auto unfinished = inspect_json(uncommitted);
  EXPECT_EQ(unfinished["committed"], false);
  EXPECT_EQ(unfinished["intact"], false);
  EXPECT_EQ(unfinished["step"], 8);
  EXPECT_FALSE(unfinished["tensors"].empty());  // the index is there, unverified
  EXPECT_TRUE(unfinished["tensors"][0]["crc32"].is_null());
  EXPECT_NE(run_tool("ckpt inspect " + uncommitted.string()).output.find("NOT COMMITTED"), std::string::npos);

  // A run directory lists its checkpoints and the one resume and export would take.
  const auto listing = inspect_json(run);
  ASSERT_EQ(listing["checkpoints"].size(), 2u);
  EXPECT_EQ(listing["checkpoints"][0]["step"], 4);
  EXPECT_EQ(listing["checkpoints"][1]["intact"], true);
  EXPECT_EQ(fs::path(listing["latest"].get<std::string>()).filename(), good.filename());
  const ToolRun listing_text = run_tool("ckpt inspect " + run.string());
  EXPECT_NE(listing_text.output.find("<- latest intact"), std::string::npos) << listing_text.output;
}

// The example end to end: train, export, load strictly, evaluate in PyTorch and in Torus.
TEST_P(ExportFiles, TheExampleAgreesWithTorusEval) {
  const ToolRun r = run_command(fmt::format("{} {} demo --torus {} --workdir {} --steps 20", TORUS_TEST_PYTHON,
                                            kExportScript, TORUS_TOOL, (dir_ / "demo").string()));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("they agree"), std::string::npos) << r.output;
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A safetensors file's header as JSON, and its data section.
std::pair<nlohmann::json, std::string> split_safetensors(const std::string& bytes) {
  uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= static_cast<uint64_t>(static_cast<uint8_t>(bytes.at(i))) << (8 * i);
  return {nlohmann::json::parse(bytes.substr(8, header)), bytes.substr(8 + header)};
}

// The same run saved in both formats: inspect lists the same tensors with the same CRC-32s,
// and the exports differ only in the config (which names the format). The safetensors
// checkpoint converted to HDF5 (the same config too) exports to the very same bytes.
TEST_P(ExportFiles, AnHdf5CheckpointIsListedAndExportsTheBytesOfTheSafetensorsOne) {
  const fs::path st = checkpoint(train(1, "st", "checkpoint.format=safetensors"), 8);
  const fs::path h5 = checkpoint(train(1, "h5", "checkpoint.format=hdf5"), 8);
  ASSERT_TRUE(fs::exists(h5 / "checkpoint.h5"));

  const nlohmann::json listed_st = inspect_json(st), listed_h5 = inspect_json(h5);
  EXPECT_TRUE(listed_h5["intact"].get<bool>());
  ASSERT_EQ(listed_h5["tensors"].size(), listed_st["tensors"].size()) << listed_h5.dump(2);
  EXPECT_GT(listed_h5["model_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(listed_h5["model_bytes"], listed_st["model_bytes"]);
  EXPECT_EQ(listed_h5["optimizer_bytes"], listed_st["optimizer_bytes"]);
  for (size_t i = 0; i < listed_st["tensors"].size(); ++i) {
    const auto& a = listed_st["tensors"][i];
    const auto& b = listed_h5["tensors"][i];
    EXPECT_EQ(b["name"], a["name"]);
    EXPECT_EQ(b["dtype"], a["dtype"]) << a["name"];
    EXPECT_EQ(b["shape"], a["shape"]) << a["name"];
    EXPECT_EQ(b["bytes"], a["bytes"]) << a["name"];
    EXPECT_EQ(b["crc32"], a["crc32"]) << a["name"];
    EXPECT_FALSE(b["crc32"].is_null()) << a["name"];
  }
  const ToolRun text = run_tool("ckpt inspect " + h5.string());
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("model.") , std::string::npos) << text.output;
  EXPECT_NE(text.output.find("optimizer."), std::string::npos) << text.output;

  const fs::path from_st = dir_ / "from_st.safetensors", from_h5 = dir_ / "from_h5.safetensors";
  ASSERT_EQ(export_to(st, from_st).status, 0);
  const ToolRun r = export_to(h5, from_h5);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("step 8"), std::string::npos) << r.output;
  auto [header_st, data_st] = split_safetensors(file_bytes(from_st));
  auto [header_h5, data_h5] = split_safetensors(file_bytes(from_h5));
  EXPECT_TRUE(data_h5 == data_st) << "the tensor bytes differ";
  EXPECT_NE(header_h5["__metadata__"]["torus_config"].get<std::string>().find("format: hdf5"), std::string::npos);
  header_st["__metadata__"].erase("torus_config");
  header_h5["__metadata__"].erase("torus_config");
  EXPECT_EQ(header_h5, header_st);

  const fs::path converted = dir_ / "converted" / "step_00000008";
  fs::create_directories(converted.parent_path());
  const ToolRun convert = run_tool(fmt::format("ckpt convert {} {}", st.string(), converted.string()));
  ASSERT_EQ(convert.status, 0) << convert.output;
  ASSERT_TRUE(fs::exists(converted / "checkpoint.h5"));
  const fs::path from_converted = dir_ / "from_converted.safetensors";
  ASSERT_EQ(export_to(converted, from_converted).status, 0);
  EXPECT_TRUE(file_bytes(from_converted) == file_bytes(from_st)) << "the exports differ";
}

INSTANTIATE_TEST_SUITE_P(Mlp, ExportFiles, ::testing::Values(kMlp), [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace torus
