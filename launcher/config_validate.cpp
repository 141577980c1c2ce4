// Schema-driven checks first (generic, by reflection), then the hand-written rules. A rule
// names every field it involves, so whichever of them is wrong, the message mentions it.
#include "launcher/config_validate.h"

#include <regex>

#include <fmt/format.h>

#include "framework/tensor/device.h"
#include "launcher/config_options.pb.h"
#include "launcher/config_overrides.h"
#include "launcher/config_resolve.h"
#include "launcher/config_schema.h"

namespace torus::config {
namespace {

using google::protobuf::Reflection;

double number_at(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field);
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<double>(repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE: return repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field);
    default: return 0;
  }
}

bool is_number(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 || field->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
         field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE;
}

void check_value(const Message& message, const FieldDescriptor* field, int index, const std::string& path,
                 const SourceMap& locations) {
  if (is_number(field)) {
    const Range range = range_of(field);
    const double value = number_at(message, field, index);
    if (!range.contains(value))
      throw ConfigError(locations.find(path), path,
                        fmt::format("{} is out of range; expected {} {}{}", number_text(value), expected_element(field),
                                    range.min && range.max ? "in " : "", range.str()));
  }
  const std::string& pattern = field->options().GetExtension(config::pattern);
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING && !pattern.empty()) {
    const Reflection* r = message.GetReflection();
    const std::string value = index >= 0 ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
    if (!std::regex_match(value, std::regex(pattern)))
      throw ConfigError(locations.find(path), path,
                        fmt::format("'{}' is not valid; expected {}", value, field->options().GetExtension(config::pattern_doc)));
  }
}

// Required fields, ranges, patterns and selected sections, through the whole message.
void check_schema(const Message& message, const std::string& path, const SourceMap& locations) {
  const Reflection* r = message.GetReflection();
  const Descriptor* type = message.GetDescriptor();
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const std::string field_path = child_path(path, field->name());
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (field->is_repeated()) {
      const int size = r->FieldSize(message, field);
      if (size == 0 && is_required(field))
        throw ConfigError(locations.find(field_path), field_path,
                          fmt::format("missing required field; expected {} with at least one element", expected_value(field)));
      for (int k = 0; k < size; ++k) {
        if (is_message) check_schema(r->GetRepeatedMessage(message, field, k), element_path(field_path, k), locations);
        else check_value(message, field, k, element_path(field_path, k), locations);
      }
      continue;
    }
    if (!r->HasField(message, field)) {
      if (is_required(field))
        throw ConfigError(locations.find(field_path), field_path,
                          fmt::format("missing required field; expected {}", expected_value(field)));
      continue;
    }
    if (!applies(message, field)) {
      const FieldDescriptor* selector = selector_of(field);
      const std::string selector_path = child_path(path, selector->name());
      throw ConfigError(locations.find(field_path), field_path,
                        fmt::format("given, but it applies only when {} is {} ({} is {}); remove it", selector_path,
                                    field->name(), selector_path,
                                    r->HasField(message, selector) ? r->GetEnum(message, selector)->name() : "not given"));
    }
    if (is_message) check_schema(r->GetMessage(message, field), field_path, locations);
    else check_value(message, field, -1, field_path, locations);
  }
}

[[noreturn]] void fail(const SourceMap& locations, const std::string& path, const std::string& problem) {
  throw ConfigError(locations.find(path), path, problem);
}

void check_model_and_data(const ExperimentConfig& c, const SourceMap& locations) {
  const DataConfig& data = c.data();
  const bool needs_file = data.dataset() == Dataset::text || data.dataset() == Dataset::hdf5 ||
                          data.dataset() == Dataset::safetensors;
  if (needs_file && data.path().empty())
    fail(locations, "data.path", fmt::format("missing; data.dataset {} reads this file", Dataset::Value_Name(data.dataset())));
  if (data.dataset() == Dataset::text && c.model().kind() != ModelKind::gpt)
    fail(locations, "data.dataset",
         fmt::format("text gives token sequences, which only model.kind gpt takes (model.kind is {})",
                     ModelKind::Value_Name(c.model().kind())));
  if (data.dataset() == Dataset::fashion_mnist && c.model().kind() == ModelKind::gpt)
    fail(locations, "model.kind", "gpt takes token sequences, not the images of data.dataset fashion_mnist; use text or synthetic");
  if (c.model().kind() == ModelKind::gpt) {
    const GptConfig& gpt = c.model().gpt();
    if (gpt.d_model() % gpt.heads() != 0)
      fail(locations, "model.gpt.heads", fmt::format("{} heads do not divide model.gpt.d_model = {}", gpt.heads(), gpt.d_model()));
    if (data.context() > gpt.context())
      fail(locations, "data.context",
           fmt::format("{} tokens is longer than model.gpt.context = {}", data.context(), gpt.context()));
  }
  // The global batch splits into equal micro-batches on every rank.
  const int64_t parts = int64_t{c.launch().ranks()} * c.trainer().grad_accumulation();
  if (data.batch_size() % parts != 0)
    fail(locations, "data.batch_size",
         fmt::format("{} samples do not split into launch.ranks x trainer.grad_accumulation = {} x {} equal micro-batches",
                     data.batch_size(), c.launch().ranks(), c.trainer().grad_accumulation()));
}

void check_optimization(const ExperimentConfig& c, const SourceMap& locations) {
  const OptimizerConfig& opt = c.optimizer();
  if (opt.nesterov() && (opt.momentum() <= 0 || opt.dampening() != 0))
    fail(locations, "optimizer.nesterov",
         fmt::format("needs optimizer.momentum > 0 and optimizer.dampening = 0 (they are {} and {})",
                     number_text(opt.momentum()), number_text(opt.dampening())));
  if (c.trainer().has_steps() && c.schedule().warmup_steps() >= c.trainer().steps())
    fail(locations, "schedule.warmup_steps",
         fmt::format("{} warm-up steps leave none of trainer.steps = {} at the full learning rate",
                     c.schedule().warmup_steps(), c.trainer().steps()));
}

// The device's name only: whether it can be used is known where the run starts.
void check_device(const ExperimentConfig& c, const SourceMap& locations) {
  try {
    (void)Device::parse(c.trainer().device());
  } catch (const ValueError&) {
    fail(locations, "trainer.device",
         fmt::format("unknown device '{}' (expected cpu, cuda or cuda:N)", c.trainer().device()));
  }
}

void check_launch(const ExperimentConfig& c, const SourceMap& locations) {
  const LaunchConfig& launch = c.launch();
  if (launch.scheduler() == Scheduler::local && launch.nodes() > 1)
    fail(locations, "launch.nodes",
         fmt::format("{} nodes, but launch.scheduler local runs on this host only; use mpirun or slurm", launch.nodes()));
  if (launch.procs_per_node() > 0 && launch.ranks() != launch.nodes() * launch.procs_per_node())
    fail(locations, "launch.ranks",
         fmt::format("{} ranks, but launch.nodes x launch.procs_per_node = {} x {}", launch.ranks(), launch.nodes(),
                     launch.procs_per_node()));
  if (launch.procs_per_node() == 0 && launch.ranks() % launch.nodes() != 0)
    fail(locations, "launch.ranks",
         fmt::format("{} ranks do not spread evenly over launch.nodes = {}; set launch.procs_per_node", launch.ranks(),
                     launch.nodes()));
  if (!launch.hostfile().empty() && launch.hosts_size() > 0)
    fail(locations, "launch.hosts", "give launch.hostfile or launch.hosts, not both");
}

// Every sweep value is applied to a copy of the config and validated there, so a sweep
// that would fail in its fifth run fails now, pointing at the value.
void check_sweep(const ExperimentConfig& c, const SourceMap& locations) {
  for (int i = 0; i < c.sweep().axes_size(); ++i) {
    const SweepAxis& axis = c.sweep().axes(i);
    const std::string axis_path = element_path("sweep.axes", i);
    const std::string path_path = axis_path + ".path";
    if (axis.path().empty()) fail(locations, path_path, "empty; give the dotted path of a field, as in optimizer.lr");
    try {
      check_override_path(ExperimentConfig::descriptor(), axis.path(), Location{});
    } catch (const ConfigError& e) {
      fail(locations, path_path, fmt::format("{}: {}", e.path().empty() ? axis.path() : e.path(), e.problem()));
    }
    if (axis.path() == "sweep" || axis.path().starts_with("sweep.") || axis.path().starts_with("sweep["))
      fail(locations, path_path, "a sweep cannot vary the sweep itself");
    for (int j = 0; j < i; ++j)
      if (c.sweep().axes(j).path() == axis.path())
        fail(locations, path_path, fmt::format("'{}' is already swept by sweep.axes[{}]", axis.path(), j));
    for (int k = 0; k < axis.values_size(); ++k) {
      const std::string value_path = element_path(axis_path + ".values", k);
      ExperimentConfig run = c;
      run.clear_sweep();
      SourceMap scratch;
      try {
        apply_override(run, Override{axis.path(), axis.values(k)}, Location{}, scratch);
        fill_defaults(run);
        validate(run, scratch);
      } catch (const ConfigError& e) {
        fail(locations, value_path, fmt::format("{}={}: {}{}", axis.path(), axis.values(k),
                                                e.path().empty() ? "" : e.path() + ": ", e.problem()));
      }
    }
  }
}

// Reproducible mode: virtual shards of the global batch, each its own backward.
void check_reproducible(const ExperimentConfig& c, const SourceMap& locations) {
  const DistributedConfig& d = c.distributed();
  if (!d.reproducible()) return;
  const int64_t shards = d.reproducible_shards();
  if (c.data().batch_size() % shards != 0)
    fail(locations, "distributed.reproducible_shards",
         fmt::format("{} shards do not divide data.batch_size = {}", shards, c.data().batch_size()));
  if (shards % c.launch().ranks() != 0)
    fail(locations, "distributed.reproducible_shards",
         fmt::format("{} shards do not split over launch.ranks = {}", shards, c.launch().ranks()));
  if (c.trainer().grad_accumulation() != 1)
    fail(locations, "trainer.grad_accumulation",
         fmt::format("{}: reproducible mode accumulates over its shards already; leave it at 1",
                     c.trainer().grad_accumulation()));
  if (c.model().kind() == ModelKind::gpt && c.model().gpt().dropout() > 0)
    fail(locations, "model.gpt.dropout",
         fmt::format("{}: dropout draws from each rank's own generator, which reproducible mode cannot "
                     "make independent of the rank count; use 0",
                     number_text(c.model().gpt().dropout())));
}

}  // namespace

void validate(const ExperimentConfig& config, const SourceMap& locations) {
  check_schema(config, "", locations);
  check_launch(config, locations);
  check_model_and_data(config, locations);
  check_optimization(config, locations);
  check_device(config, locations);
  check_reproducible(config, locations);
  check_sweep(config, locations);
}

}  // namespace torus::config
