// The config loader: the three formats into one message, overrides typed by the schema,
// defaults, the resolved YAML, and one exact message for every kind of error a user makes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <google/protobuf/util/message_differencer.h>

#include "launcher/config.h"
#include "launcher/config_reference.h"
#include "launcher/config_options.pb.h"

namespace torus::config {
namespace {

using google::protobuf::util::MessageDifferencer;

// The smallest valid config: the two required fields.
constexpr const char* kMinimal = "model:\n  kind: mlp\ndata:\n  dataset: fashion_mnist\n";

// The message of the ConfigError that loading `text` (named `origin`, whose extension
// picks the format) raises, or "loaded" when there is none.
std::string error_of(const std::string& origin, const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    load_text(text, format_of(origin), origin, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "loaded";
}

ExperimentConfig loaded(const std::string& text, const std::vector<std::string>& overrides = {},
                        const std::string& origin = "cfg.yaml") {
  return load_text(text, format_of(origin), origin, overrides);
}

// ---- formats ----

TEST(ConfigFormats, YamlJsonAndTextFormatLoadIntoTheSameMessage) {
  const ExperimentConfig yaml = loaded(R"(
name: demo
model:
  kind: cnn
  cnn:
    conv:
      - {channels: 8, pool: 2}
      - channels: 16
    hidden: [32]
data: {dataset: fashion_mnist, batch_size: 32}
optimizer: {name: adamw, lr: 0.001}
launch: {hosts: [a, "b:2"]}
)");
  const ExperimentConfig json = loaded(R"({
  "name": "demo",
  "model": {"kind": "cnn", "cnn": {"conv": [{"channels": 8, "pool": 2}, {"channels": 16}], "hidden": [32]}},
  "data": {"dataset": "fashion_mnist", "batch_size": 32},
  "optimizer": {"name": "adamw", "lr": 1e-3},
  "launch": {"hosts": ["a", "b:2"]}
})", {}, "cfg.json");
  const ExperimentConfig text = loaded(R"(
name: "demo"
model { kind: cnn cnn { conv { channels: 8 pool: 2 } conv { channels: 16 } hidden: [32] } }
data { dataset: fashion_mnist batch_size: 32 }
optimizer { name: adamw lr: 0.001 }
launch { hosts: ["a", "b:2"] }
)", {}, "cfg.txtpb");
  EXPECT_TRUE(MessageDifferencer::Equals(yaml, json)) << to_yaml(yaml) << "\nvs\n" << to_yaml(json);
  EXPECT_TRUE(MessageDifferencer::Equals(yaml, text)) << to_yaml(yaml) << "\nvs\n" << to_yaml(text);
  EXPECT_EQ(yaml.model().cnn().conv(1).kernel(), 3);  // a default inside a list element
  EXPECT_EQ(yaml.optimizer().name(), Optimizer::adamw);
}

TEST(ConfigFormats, ChosenByExtension) {
  EXPECT_EQ(format_of("a.yaml"), Format::yaml);
  EXPECT_EQ(format_of("dir.v2/a.yml"), Format::yaml);
  EXPECT_EQ(format_of("a.json"), Format::json);
  EXPECT_EQ(format_of("a.txtpb"), Format::text_format);
  EXPECT_EQ(format_of("a.textproto"), Format::text_format);
  EXPECT_EQ(format_of("a.pbtxt"), Format::text_format);
  EXPECT_EQ(error_of("a.toml", ""),
            "a.toml: unknown config format '.toml'; expected .yaml, .yml, .json, .txtpb, .textproto or .pbtxt");
}

TEST(ConfigFormats, ReadsFilesAndNamesTheRunAfterTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("torus_config_{}", ::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "my lr test.yaml") << kMinimal;
  EXPECT_EQ(load((dir / "my lr test.yaml").string()).name(), "my_lr_test");
  try {
    load((dir / "missing.yaml").string());
    ADD_FAILURE() << "loaded a missing file";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "missing.yaml").string() + ": cannot read the config file: No such file or directory");
  }
  std::filesystem::create_directories(dir / "d.yaml");
  try {
    load((dir / "d.yaml").string());
    ADD_FAILURE() << "loaded a directory";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "d.yaml").string() + ": is a directory, not a config file");
  }
  std::filesystem::remove_all(dir);
}

// ---- errors: one message each, with file, line:column, path and what was expected ----

TEST(ConfigErrors, UnknownDeviceIsNamedWithWhatIsExpected) {
  const std::string error = error_of("cfg.yaml", kMinimal, {"trainer.device=cdua"});
  EXPECT_NE(error.find("trainer.device"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown device 'cdua' (expected cpu, cuda or cuda:N)"), std::string::npos) << error;
  EXPECT_EQ(error_of("cfg.yaml", kMinimal, {"trainer.device=cuda:1"}), "loaded");
  EXPECT_EQ(loaded(kMinimal).trainer().device(), "cpu");
}

TEST(ConfigErrors, UnknownKeySuggestsTheNearestSibling) {
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "optimizer:\n  lr: 0.1\n  momentun: 0.9\n"),
            "cfg.yaml:7:3: optimizer.momentun: unknown field; did you mean 'momentum'?");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "optimizer:\n  lrr: 0.1\n"),
            "cfg.yaml:6:3: optimizer.lrr: unknown field; did you mean 'lr'?");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "trainer:\n  log-every: 5\n"),
            "cfg.yaml:6:3: trainer.log-every: unknown field; did you mean 'log_every'?");
}

TEST(ConfigErrors, UnknownKeyElsewhereInTheSchemaNamesItsPath) {
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "lr: 0.1\n"),
            "cfg.yaml:5:1: lr: unknown field here; did you mean 'optimizer.lr'?");
}

TEST(ConfigErrors, MergeKeysAreRefusedRatherThanMisread) {
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "base: &base {lr: 0.1}\n"),
            "cfg.yaml:5:1: base: unknown field; expected one of 'name', 'seed', 'init_from', 'resume', 'model', 'data', "
            "'optimizer', 'schedule', 'trainer', 'checkpoint', 'distributed', 'launch', 'sweep'");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "optimizer:\n  <<: {lr: 0.1}\n"),
            "cfg.yaml:6:3: optimizer.<<: YAML merge keys are not supported; write the fields out, or alias a whole section");
  // An alias of a whole section is fine.
  EXPECT_EQ(error_of("cfg.yaml", "model: &m {kind: mlp}\ndata:\n  dataset: fashion_mnist\n"), "loaded");
}

TEST(ConfigErrors, UnknownKeyFarFromEveryNameListsTheFields) {
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "checkpoint:\n  frequency: 5\n"),
            "cfg.yaml:6:3: checkpoint.frequency: unknown field; expected one of 'every_steps', 'keep_last', 'format', 'dir'");
}

TEST(ConfigErrors, WrongTypes) {
  const std::string base = std::string(kMinimal) + "optimizer:\n";
  EXPECT_EQ(error_of("cfg.yaml", base + "  lr: fast\n"), "cfg.yaml:6:7: optimizer.lr: expected a number, got 'fast'");
  EXPECT_EQ(error_of("cfg.yaml", base + "  lr: \"0.1\"\n"),
            "cfg.yaml:6:7: optimizer.lr: expected a number, got the string \"0.1\"");
  EXPECT_EQ(error_of("cfg.yaml", base + "  lr: {value: 1}\n"), "cfg.yaml:6:7: optimizer.lr: expected a number, got a map");
  EXPECT_EQ(error_of("cfg.yaml", base + "  lr: [1]\n"), "cfg.yaml:6:7: optimizer.lr: expected a number, got a list");
  EXPECT_EQ(error_of("cfg.yaml", base + "  lr:\n"), "cfg.yaml:6:3: optimizer.lr: no value; expected a number");
  EXPECT_EQ(error_of("cfg.yaml", base + "  nesterov: yes\n"),
            "cfg.yaml:6:13: optimizer.nesterov: expected true or false, got 'yes'");
  EXPECT_EQ(error_of("cfg.yaml", base + "  name: [sgd]\n"),
            "cfg.yaml:6:9: optimizer.name: expected one of sgd, adam, adamw, got a list");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "optimizer: 0.1\n"),
            "cfg.yaml:5:12: optimizer: expected a map of fields, got '0.1'");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "name: {a: 1}\n"), "cfg.yaml:5:7: name: expected a string, got a map");
  EXPECT_EQ(error_of("cfg.yaml", "- model\n"),
            "cfg.yaml:1:1: expected a map of sections and fields (model:, data:, ...), got a list");
}

TEST(ConfigErrors, IntegersMustBeWholeAndFit) {
  const std::string base = "model:\n  kind: mlp\ndata:\n  dataset: fashion_mnist\n";
  EXPECT_EQ(error_of("cfg.yaml", base + "  batch_size: 1.5\n"),
            "cfg.yaml:5:15: data.batch_size: expected an integer, got '1.5'");
  EXPECT_EQ(error_of("cfg.yaml", base + "  batch_size: 3000000000\n"),
            "cfg.yaml:5:15: data.batch_size: 3000000000 is out of range; expected an integer of 32 bits");
  EXPECT_EQ(error_of("cfg.yaml", base + "  batch_size: 99999999999999999999\n"),
            "cfg.yaml:5:15: data.batch_size: 99999999999999999999 is out of range; expected an integer of 32 bits");
  EXPECT_EQ(error_of("cfg.yaml", "seed: 0x10\n" + base), "cfg.yaml:1:7: seed: expected an integer, got '0x10'");
  EXPECT_EQ(error_of("cfg.yaml", base + "  eval_fraction: .nan\n"),
            "cfg.yaml:5:18: data.eval_fraction: expected a number, got '.nan'");
}

TEST(ConfigErrors, ValuesOutOfTheSchemaRange) {
  const std::string base = std::string(kMinimal) + "optimizer:\n";
  EXPECT_EQ(error_of("cfg.yaml", base + "  lr: 0\n"), "cfg.yaml:6:7: optimizer.lr: 0 is out of range; expected a number > 0");
  EXPECT_EQ(error_of("cfg.yaml", base + "  momentum: 1\n"),
            "cfg.yaml:6:13: optimizer.momentum: 1 is out of range; expected a number in [0, 1)");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "distributed:\n  zero_stage: 4\n"),
            "cfg.yaml:6:15: distributed.zero_stage: 4 is out of range; expected an integer in [0, 3]");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: mlp\n  mlp:\n    hidden: [64, 0]\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:4:18: model.mlp.hidden[1]: 0 is out of range; expected an integer >= 1");
}

TEST(ConfigErrors, UnknownEnumValueSuggestsTheNearest) {
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: mpl\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:2:9: model.kind: unknown value 'mpl'; expected one of mlp, cnn, gpt; did you mean 'mlp'?");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: transformer\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:2:9: model.kind: unknown value 'transformer'; expected one of mlp, cnn, gpt");
}

TEST(ConfigErrors, MissingRequiredFields) {
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  mlp: {hidden: [8]}\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:1:1: model.kind: missing required field; expected one of mlp, cnn, gpt");
  EXPECT_EQ(error_of("cfg.yaml", "data:\n  dataset: fashion_mnist\n"),
            "cfg.yaml: model.kind: missing required field; expected one of mlp, cnn, gpt");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: mlp\ndata:\n  batch_size: 8\n"),
            "cfg.yaml:3:1: data.dataset: missing required field; expected one of fashion_mnist, text, hdf5, safetensors, synthetic");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: cnn\n  cnn:\n    conv:\n      - {kernel: 5}\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:5:9: model.cnn.conv[0].channels: missing required field; expected an integer");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "sweep:\n  axes:\n    - path: seed\n"),
            "cfg.yaml:7:7: sweep.axes[0].values: missing required field; expected a list of strings with at least one element");
}

TEST(ConfigErrors, DuplicatedKeysNameBothLines) {
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "optimizer:\n  lr: 0.1\n  momentum: 0.9\n  lr: 0.2\n"),
            "cfg.yaml:8:3: optimizer.lr: duplicated key (first given at line 6)");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "model:\n  kind: cnn\n"),
            "cfg.yaml:5:1: model: duplicated key (first given at line 1)");
}

TEST(ConfigErrors, OneofMembersTogether) {
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "trainer:\n  steps: 10\n  epochs: 2\n"),
            "cfg.yaml:7:3: trainer.epochs: give only one of steps or epochs; steps is already given");
}

TEST(ConfigErrors, SectionGivenWhereItDoesNotApply) {
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: mlp\n  gpt: {layers: 2}\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:3:3: model.gpt: given, but it applies only when model.kind is gpt (model.kind is mlp); remove it");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "launch:\n  slurm: {partition: gpu}\n"),
            "cfg.yaml:6:3: launch.slurm: given, but it applies only when launch.scheduler is slurm (launch.scheduler is local); remove it");
}

TEST(ConfigErrors, StringsThatMustMatchAPattern) {
  EXPECT_EQ(error_of("cfg.yaml", "name: my run\n" + std::string(kMinimal)),
            "cfg.yaml:1:7: name: 'my run' is not valid; expected letters, digits and . _ + = , - (not first)");
  EXPECT_EQ(error_of("cfg.yaml", "init_from: weights.pt\n" + std::string(kMinimal)),
            "cfg.yaml:1:12: init_from: 'weights.pt' is not valid; expected empty or a path ending in .safetensors");
}

TEST(ConfigErrors, YamlSyntaxErrorsHaveLineAndColumn) {
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: mlp\n data: 1\n"), "cfg.yaml:3:2: YAML syntax error: end of map not found");
  EXPECT_EQ(error_of("cfg.yaml", "model: {kind: mlp\n"), "cfg.yaml:2:1: YAML syntax error: end of map flow not found");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "---\nseed: 1\n"),
            "cfg.yaml:6:1: a config file holds one YAML document; a second one starts here");
}

TEST(ConfigErrors, JsonSyntaxErrorsAreReportedAsJson) {
  EXPECT_EQ(error_of("cfg.json", "{\"model\": {\"kind\": \"mlp\"},\n \"data\": {\"dataset\": \"fashion_mnist\",}}"),
            "cfg.json:2:38: JSON syntax error: syntax error while parsing object key - unexpected '}'; expected string literal");
  EXPECT_EQ(error_of("cfg.json", "{\"model\": {\"kind\": mlp}}"),
            "cfg.json:1:20: JSON syntax error: syntax error while parsing value - invalid literal; last read: '\"kind\": m'");
}

TEST(ConfigErrors, JsonValuesGetTheSameChecksAsYaml) {
  const std::string head = "{\"model\": {\"kind\": \"mlp\"},\n \"data\": {\"dataset\": \"fashion_mnist\", ";
  EXPECT_EQ(error_of("cfg.json", head + "\"batch_size\": \"64\"}}"),
            "cfg.json:2:53: data.batch_size: expected an integer, got the string \"64\"");
  EXPECT_EQ(error_of("cfg.json", head + "\"batchsize\": 64}}"),
            "cfg.json:2:39: data.batchsize: unknown field; did you mean 'batch_size'?");
  EXPECT_EQ(error_of("cfg.json", head + "\"batch_size\": 64, \"batch_size\": 32}}"),
            "cfg.json:2:57: data.batch_size: duplicated key (first given at line 2)");
  EXPECT_EQ(error_of("cfg.json", head + "\"shuffle\": null}}"), "cfg.json:2:39: data.shuffle: no value; expected true or false");
}

TEST(ConfigErrors, TextFormatErrorsNameThePath) {
  const std::string head = "model { kind: mlp }\n";
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist batchsize: 8 }"),
            "cfg.txtpb:2:40: data.batchsize: unknown field; did you mean 'batch_size'?");
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist }\nschedule { kind: cosinus }"),
            "cfg.txtpb:3:26: schedule.kind: unknown value 'cosinus'; expected one of constant, cosine, step; did you mean 'cosine'?");
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist batch_size: \"x\" }"),
            "cfg.txtpb:2:43: data.batch_size: text format: Expected integer, got: \"x\"");
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist batch_size: 1 batch_size: 2 }"),
            "cfg.txtpb:2:55: data.batch_size: duplicated key");
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist }\ntrainer { steps: 3 epochs: 3 }"),
            "cfg.txtpb:3:26: trainer.epochs: give only one of steps or epochs; steps is already given");
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist "),
            "cfg.txtpb:2:31: data: text format: Expected identifier, got: the end of the file");
  EXPECT_EQ(error_of("cfg.txtpb", "model: { kind: mlp mlp: { hidden: [1, x] } }\ndata { dataset: fashion_mnist }"),
            "cfg.txtpb:1:39: model.mlp.hidden: text format: Expected integer, got: x");
  // Validation after parsing points at the field's position too.
  EXPECT_EQ(error_of("cfg.txtpb", head + "data { dataset: fashion_mnist batch_size: 0 }"),
            "cfg.txtpb:2:31: data.batch_size: 0 is out of range; expected an integer >= 1");
}

TEST(ConfigErrors, RulesAcrossFieldsNameEveryFieldInvolved) {
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: gpt\ndata:\n  dataset: text\n"),
            "cfg.yaml:3:1: data.path: missing; data.dataset text reads this file");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: mlp\ndata:\n  dataset: text\n  path: a.txt\n"),
            "cfg.yaml:4:12: data.dataset: text gives token sequences, which only model.kind gpt takes (model.kind is mlp)");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: gpt\ndata:\n  dataset: fashion_mnist\n"),
            "cfg.yaml:2:9: model.kind: gpt takes token sequences, not the images of data.dataset fashion_mnist; use text or synthetic");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: gpt\n  gpt: {d_model: 100, heads: 3}\ndata:\n  dataset: synthetic\n"),
            "cfg.yaml:3:30: model.gpt.heads: 3 heads do not divide model.gpt.d_model = 100");
  EXPECT_EQ(error_of("cfg.yaml", "model:\n  kind: gpt\ndata:\n  dataset: synthetic\n  context: 512\n"),
            "cfg.yaml:5:12: data.context: 512 tokens is longer than model.gpt.context = 128");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "  batch_size: 100\ntrainer:\n  grad_accumulation: 3\n"),
            "cfg.yaml:5:15: data.batch_size: 100 samples do not split into launch.ranks x trainer.grad_accumulation = 1 x 3 "
            "equal micro-batches");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "optimizer:\n  nesterov: true\n"),
            "cfg.yaml:6:13: optimizer.nesterov: needs optimizer.momentum > 0 and optimizer.dampening = 0 (they are 0 and 0)");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "schedule:\n  warmup_steps: 1000\n"),
            "cfg.yaml:6:17: schedule.warmup_steps: 1000 warm-up steps leave none of trainer.steps = 1000 at the full learning rate");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "launch:\n  nodes: 2\n"),
            "cfg.yaml:6:10: launch.nodes: 2 nodes, but launch.scheduler local runs on this host only; use mpirun or slurm");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "launch:\n  scheduler: mpirun\n  ranks: 3\n  nodes: 2\n"),
            "cfg.yaml:7:10: launch.ranks: 3 ranks do not spread evenly over launch.nodes = 2; set launch.procs_per_node");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "launch:\n  scheduler: mpirun\n  ranks: 4\n  procs_per_node: 2\n"),
            "cfg.yaml:7:10: launch.ranks: 4 ranks, but launch.nodes x launch.procs_per_node = 1 x 2");
  EXPECT_EQ(error_of("cfg.yaml", std::string(kMinimal) + "launch:\n  scheduler: mpirun\n  hostfile: h\n  hosts: [a]\n"),
            "cfg.yaml:8:3: launch.hosts: give launch.hostfile or launch.hosts, not both");
}

TEST(ConfigErrors, SweepPathsAndValuesAreCheckedAgainstTheSchema) {
  const std::string base = std::string(kMinimal) + "sweep:\n  axes:\n";
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: optimizer.lrr, values: [1]}\n"),
            "cfg.yaml:7:14: sweep.axes[0].path: optimizer.lrr: unknown field; did you mean 'lr'?");
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: optimizer.lr, values: [0.1, -1]}\n"),
            "cfg.yaml:7:42: sweep.axes[0].values[1]: optimizer.lr=-1: optimizer.lr: -1 is out of range; expected a number > 0");
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: model.mlp.hidden, values: [[8, 4], {a: 1}]}\n"),
            "cfg.yaml:7:49: sweep.axes[0].values[1]: model.mlp.hidden={a: 1}: model.mlp.hidden: expected a list of integers, "
            "got a map");
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: seed, values: [1]}\n    - {path: seed, values: [2]}\n"),
            "cfg.yaml:8:14: sweep.axes[1].path: 'seed' is already swept by sweep.axes[0]");
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: \"\", values: [1]}\n"),
            "cfg.yaml:7:14: sweep.axes[0].path: empty; give the dotted path of a field, as in optimizer.lr");
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: sweep.axes, values: [[]]}\n"),
            "cfg.yaml:7:14: sweep.axes[0].path: a sweep cannot vary the sweep itself");
  EXPECT_EQ(error_of("cfg.yaml", base + "    - {path: data.batch_size, values: [10]}\ntrainer: {grad_accumulation: 4}\n"),
            "cfg.yaml:7:40: sweep.axes[0].values[0]: data.batch_size=10: data.batch_size: 10 samples do not split into "
            "launch.ranks x trainer.grad_accumulation = 1 x 4 equal micro-batches");
}

// ---- overrides ----

TEST(ConfigOverrides, BadSyntaxAndUnknownPaths) {
  const auto error = [](const std::string& override) { return error_of("cfg.yaml", kMinimal, {override}); };
  EXPECT_EQ(error("optimizer.lr"), "override 'optimizer.lr': expected key=value, as in optimizer.lr=3e-4");
  EXPECT_EQ(error("=3"), "override '=3': empty field path before '='");
  EXPECT_EQ(error("optimizer..lr=3"),
            "override 'optimizer..lr=3': optimizer..lr: empty name in the field path (two dots, or a dot at an end)");
  EXPECT_EQ(error("optimizer.=3"),
            "override 'optimizer.=3': optimizer.: empty name in the field path (two dots, or a dot at an end)");
  EXPECT_EQ(error("optimiser.lr=3"), "override 'optimiser.lr=3': optimiser: unknown field; did you mean 'optimizer'?");
  EXPECT_EQ(error("optimizer.lrr=3"), "override 'optimizer.lrr=3': optimizer.lrr: unknown field; did you mean 'lr'?");
  EXPECT_EQ(error("optimizer.lr.x=3"),
            "override 'optimizer.lr.x=3': optimizer.lr: is a number, not a section, so 'optimizer.lr.x' names nothing");
  EXPECT_EQ(error("model.cnn.conv.channels=3"),
            "override 'model.cnn.conv.channels=3': model.cnn.conv: is a list; give an index, as in "
            "model.cnn.conv[0].channels");
  EXPECT_EQ(error("seed[0]=3"), "override 'seed[0]=3': seed: is an integer, not a list; drop the [0]");
  EXPECT_EQ(error("launch.hosts.x=3"),
            "override 'launch.hosts.x=3': launch.hosts: is a list of strings, not a section, so 'launch.hosts.x' names "
            "nothing");
  EXPECT_EQ(error("model.cnn.conv[99999999999].kernel=3"),
            "override 'model.cnn.conv[99999999999].kernel=3': model.cnn.conv[99999999999].kernel: 'conv[99999999999]' is "
            "not a field name, or a name with an index like conv[0]");
  EXPECT_EQ(error("model.mlp.hidden[2]=3"),
            "override 'model.mlp.hidden[2]=3': model.mlp.hidden[2]: no such element; the list has 0 (indices from 0)");
  EXPECT_EQ(error("opt-imizer[x]=3"),
            "override 'opt-imizer[x]=3': opt-imizer[x]: 'opt-imizer[x]' is not a field name, or a name with an index like conv[0]");
}

TEST(ConfigOverrides, ValuesAreTypedByTheSchema) {
  const auto error = [](const std::string& override) { return error_of("cfg.yaml", kMinimal, {override}); };
  EXPECT_EQ(error("optimizer.lr=fast"), "override 'optimizer.lr=fast': optimizer.lr: expected a number, got 'fast'");
  EXPECT_EQ(error("optimizer.lr="), "override 'optimizer.lr=': optimizer.lr: no value; expected a number");
  EXPECT_EQ(error("optimizer.lr=-1"), "override 'optimizer.lr=-1': optimizer.lr: -1 is out of range; expected a number > 0");
  EXPECT_EQ(error("optimizer.name=adamW"),
            "override 'optimizer.name=adamW': optimizer.name: unknown value 'adamW'; expected one of sgd, adam, adamw; did "
            "you mean 'adamw'?");
  EXPECT_EQ(error("model.mlp.hidden=[1,x]"), "override 'model.mlp.hidden=[1,x]': model.mlp.hidden[1]: expected an integer, got 'x'");
  EXPECT_EQ(error("model.mlp.hidden=[1,2"),
            "override 'model.mlp.hidden=[1,2': model.mlp.hidden: the value is not valid YAML: end of sequence flow not found");
  EXPECT_EQ(error("data.shuffle=maybe"), "override 'data.shuffle=maybe': data.shuffle: expected true or false, got 'maybe'");
}

TEST(ConfigOverrides, SetNumbersBooleansEnumsListsAndSections) {
  const ExperimentConfig config = loaded(kMinimal, {"optimizer.lr=3e-4", "seed=7", "data.shuffle=false",
                                                    "optimizer.name=adamw", "model.mlp.hidden=[512, 256]",
                                                    "launch.scheduler=slurm", "launch.slurm.partition=gpu", "name=1e-3",
                                                    "init_from=", "trainer.epochs=3", "resume=\"auto\""});
  EXPECT_DOUBLE_EQ(config.optimizer().lr(), 3e-4);
  EXPECT_EQ(config.seed(), 7);
  EXPECT_FALSE(config.data().shuffle());
  EXPECT_EQ(config.optimizer().name(), Optimizer::adamw);
  ASSERT_EQ(config.model().mlp().hidden_size(), 2);
  EXPECT_EQ(config.model().mlp().hidden(1), 256);
  EXPECT_EQ(config.launch().scheduler(), Scheduler::slurm);
  EXPECT_EQ(config.launch().slurm().partition(), "gpu");
  EXPECT_EQ(config.launch().slurm().time(), "01:00:00");  // the slurm section's defaults are filled in
  EXPECT_EQ(config.name(), "1e-3");                        // a plain scalar is text for a string field
  EXPECT_EQ(config.init_from(), "");
  EXPECT_EQ(config.resume(), "auto");
  EXPECT_TRUE(config.trainer().has_epochs());
  EXPECT_FALSE(config.trainer().has_steps());
}

TEST(ConfigOverrides, ComeAfterTheFileInOrderAndBeforeValidation) {
  const std::string text = "model:\n  kind: cnn\n  cnn:\n    conv: [{channels: 8}, {channels: 16, pool: 2}]\n"
                           "data:\n  dataset: fashion_mnist\noptimizer:\n  lr: -1\ntrainer:\n  steps: 50\n";
  EXPECT_NE(error_of("cfg.yaml", text), "loaded");  // lr -1 is invalid in the file alone
  const ExperimentConfig config = loaded(text, {"optimizer.lr=0.5", "optimizer.lr=0.25", "model.cnn.conv[1].channels=32",
                                                "model.cnn.conv[0]={channels: 4, kernel: 5}", "trainer.epochs=2"});
  EXPECT_DOUBLE_EQ(config.optimizer().lr(), 0.25);
  EXPECT_EQ(config.model().cnn().conv(1).channels(), 32);
  EXPECT_EQ(config.model().cnn().conv(1).pool(), 2);  // the rest of the element stays
  EXPECT_EQ(config.model().cnn().conv(0).channels(), 4);
  EXPECT_EQ(config.model().cnn().conv(0).kernel(), 5);
  EXPECT_EQ(config.trainer().epochs(), 2);  // a oneof member replaces the other
  EXPECT_FALSE(config.trainer().has_steps());
  // An override into a section that does not apply is caught by validation, pointing at it.
  EXPECT_EQ(error_of("cfg.yaml", kMinimal, {"model.gpt.layers=2"}),
            "override 'model.gpt.layers=2': model.gpt: given, but it applies only when model.kind is gpt (model.kind is "
            "mlp); remove it");
}

// ---- defaults and the resolved config ----

TEST(ConfigResolved, EveryFieldIsFilledInAndLoadsBackIdentical) {
  const ExperimentConfig config = loaded(kMinimal, {}, "configs/small.yaml");
  EXPECT_EQ(config.name(), "small");
  EXPECT_EQ(config.data().path(), "/usr/share/datasets/fashion-mnist");
  EXPECT_TRUE(config.optimizer().has_lr());
  EXPECT_DOUBLE_EQ(config.optimizer().lr(), 0.01);
  EXPECT_EQ(config.trainer().steps(), 1000);  // the first member of the oneof
  EXPECT_TRUE(config.model().has_mlp());
  EXPECT_FALSE(config.model().has_gpt());      // sections that do not apply stay out
  EXPECT_FALSE(config.launch().has_slurm());
  const std::string yaml = to_yaml(config);
  EXPECT_NE(yaml.find("  lr: 0.01\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  eps: 1e-08\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  run_dir: \"runs\"\n"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("gpt:"), std::string::npos) << yaml;
  const ExperimentConfig again = loaded(yaml, {}, "config.resolved.yaml");
  EXPECT_TRUE(MessageDifferencer::Equals(config, again)) << yaml << "\nvs\n" << to_yaml(again);
  EXPECT_EQ(to_yaml(again), yaml);
}

TEST(ConfigResolved, NumbersAndStringsSurviveTheRoundTripExactly) {
  const ExperimentConfig config = loaded(std::string(kMinimal) +
                                         "optimizer: {lr: 0.30000000000000004, eps: 1.0e-12, weight_decay: 123456.789}\n"
                                         "name: \"007\"\nresume: \"true\"\ninit_from: \"w #1: \\\"x\\\".safetensors\"\n");
  const ExperimentConfig again = loaded(to_yaml(config), {}, "again.yaml");
  EXPECT_TRUE(MessageDifferencer::Equals(config, again)) << to_yaml(config);
  EXPECT_EQ(again.optimizer().lr(), 0.30000000000000004);
  EXPECT_EQ(again.name(), "007");
  EXPECT_EQ(again.resume(), "true");
  EXPECT_EQ(again.init_from(), "w #1: \"x\".safetensors");
}

TEST(ConfigResolved, WrittenIntoTheRunDirectory) {
  const ExperimentConfig config = loaded(std::string(kMinimal) + "trainer: {run_dir: /tmp/torus_runs}\n", {}, "exp.yaml");
  const auto run_dir = std::filesystem::temp_directory_path() / fmt::format("torus_resolved_{}", ::getpid());
  EXPECT_EQ(run_directory(config), std::filesystem::path("/tmp/torus_runs/exp"));
  const auto written = write_resolved(config, run_dir / "exp");
  EXPECT_EQ(written, run_dir / "exp" / "config.resolved.yaml");
  EXPECT_FALSE(std::filesystem::exists(run_dir / "exp" / "config.resolved.yaml.tmp"));
  EXPECT_TRUE(MessageDifferencer::Equals(load(written.string()), config));
  std::filesystem::remove_all(run_dir);
}

// ---- the schema itself ----

TEST(ConfigSchema, EveryFieldHasADocAndAppearsInTheReference) {
  const std::string reference = reference_text();
  const std::string markdown = reference_markdown();
  std::function<void(const google::protobuf::Descriptor*, const std::string&)> visit =
      [&](const google::protobuf::Descriptor* type, const std::string& path) {
        for (int i = 0; i < type->field_count(); ++i) {
          const auto* field = type->field(i);
          const std::string field_path = path.empty() ? field->name() : path + "." + field->name();
          EXPECT_FALSE(field->options().GetExtension(config::doc).empty()) << field_path << " has no (doc)";
          EXPECT_NE(reference.find(field_path + "  ("), std::string::npos) << field_path;
          // Sections of the top level are the Markdown's headings; every other field is a row.
          const std::string markdown_entry = path.empty() && field->message_type() ? "\n## " + field_path + "\n"
                                                                                   : "| `" + field_path + "` |";
          EXPECT_NE(markdown.find(markdown_entry), std::string::npos) << field_path;
          if (field->message_type()) visit(field->message_type(), field->is_repeated() ? field_path + "[]" : field_path);
        }
      };
  visit(ExperimentConfig::descriptor(), "");
  EXPECT_NE(reference.find("optimizer.lr  (number, default 0.01; > 0)\n    peak learning rate"), std::string::npos);
  EXPECT_NE(reference.find("model.kind  (enum; required; one of mlp, cnn, gpt)"), std::string::npos);
}

TEST(ConfigSchema, DefaultsSatisfyTheirOwnRanges) {
  // A config of all defaults (with every optional section present) validates.
  EXPECT_EQ(error_of("cfg.yaml", "model: {kind: cnn, cnn: {conv: [{channels: 1}]}}\ndata: {dataset: synthetic, synthetic: {}}\n"
                                 "launch: {scheduler: slurm, slurm: {}}\nsweep: {axes: [{path: seed, values: [1]}]}\n"),
            "loaded");
}

}  // namespace
}  // namespace torus::config
