// Checkpoint format conversion (see checkpoint_convert.h): the whole tensors of a loaded
// checkpoint become the pieces of a world of one, written like a save.
#include "distributed/checkpoint/checkpoint_convert.h"

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/checkpoint/checkpoint_write.h"
#include "distributed/comm/local_process_group.h"

namespace torus::checkpoint {
namespace fs = std::filesystem;

void convert_checkpoint(const fs::path& in, const fs::path& out) {
  if (fs::exists(out)) throw IOError(fmt::format("{}: exists; a conversion writes a new checkpoint directory", out.string()));
  const LoadedCheckpoint loaded = load_checkpoint(in);
  CheckpointContent content{loaded.state, loaded.config_yaml, {}, {}};
  auto add = [&content](const std::string& name, const Tensor& t) {
    content.tensors[name] = {t.dtype(), t.shape()};
    if (t.numel() > 0) content.pieces.emplace_back(name + "@0", t.contiguous().reshape({-1}));
  };
  for (const auto& [name, t] : loaded.model) add("model." + name, t);
  for (const auto& [name, t] : loaded.optimizer) add("optimizer." + name, t);
  const CheckpointFormat format =
      loaded.format == CheckpointFormat::hdf5 ? CheckpointFormat::safetensors : CheckpointFormat::hdf5;
  comm::LocalProcessGroup group;
  write_checkpoint_directory(out, content, format, group, nullptr);
}

}  // namespace torus::checkpoint
