// Distributed checkpoint save and load under mpirun: save_checkpoint of a model plus SGD
// momentum state (--mib MiB in all, split over 16 parameters) by every rank in parallel,
// committed (fsync, manifest, rename), against `dd conv=fdatasync` of the same bytes to
// a new file on the same disk, alternating; then the collective load_checkpoint (manifest
// checksums split over the ranks of the node, then every tensor on every rank, as resume
// does) and a read of one byte of every page of every tensor (torch.load's tensors are in
// memory when it returns; ours are views of the mapped files), with the files' pages
// dropped (cold) and cached (warm). One JSON line per repetition on rank 0's stdout;
// GB = 10^9 B.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "distributed/checkpoint/checkpoint.h"
#include "distributed/comm/world.h"
#include "framework/io/durable_file.h"
#include "framework/optim/sgd.h"

namespace {

namespace fs = std::filesystem;
using namespace torus;

// A module that is only its parameters.
class State : public Module {
 public:
  State(int64_t tensors, int64_t elements_each) {
    for (int64_t i = 0; i < tensors; ++i)
      register_parameter(fmt::format("layer{}", i), Tensor::full({elements_each}, 0.001 * static_cast<double>(i)));
  }
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Drops the page cache of every file under `dir` (after flushing), so the next read is cold.
void drop_cache(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IOError(fmt::format("{}: open failed", entry.path().string()));
    const int advice = ::fdatasync(fd) == 0 ? ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) : -1;
    ::close(fd);
    if (advice != 0) throw IOError(fmt::format("{}: fdatasync/posix_fadvise failed", entry.path().string()));
  }
}

// Reads one byte of every 4 KiB page of every tensor: the pages a training step would
// fault in, so the load is timed to where torch.load's ends (its tensors in memory).
uint64_t touch_every_page(const checkpoint::LoadedCheckpoint& loaded) {
  uint64_t sum = 0;
  for (const NamedTensors* tensors : {&loaded.model, &loaded.optimizer})
    for (const auto& [name, t] : *tensors) {
      const auto* bytes = static_cast<const volatile uint8_t*>(t.raw_data());
      const auto n = static_cast<size_t>(t.nbytes());
      for (size_t at = 0; at < n; at += 4096) sum += bytes[at];
      if (n > 0) sum += bytes[n - 1];
    }
  return sum;
}

void run_shell(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status != 0) throw IOError(fmt::format("'{}' failed with status {}", command, status));
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = ".";
  int reps = 5;
  int64_t mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--dir") dir = argv[i + 1];
    else if (arg == "--reps") reps = std::atoi(argv[i + 1]);
    else if (arg == "--mib") mib = std::atoll(argv[i + 1]);
  }
  try {
    const std::unique_ptr<comm::ProcessGroup> group = comm::make_process_group({});
    const int rank = group->rank();
    const int64_t tensors = 16, elements = mib * (1 << 20) / 2 / 4 / tensors;  // half parameters, half momentum
    State model(tensors, elements);
    optim::SgdOptions sgd;
    sgd.lr = 0.1;
    sgd.momentum = 0.9;
    optim::Sgd optimizer(model.named_parameters(), sgd);
    for (const Tensor& p : model.parameters()) p.set_grad(Tensor::full(p.shape(), 1.0));
    optimizer.step();  // creates the momentum buffers
    const double bytes = static_cast<double>(2 * tensors * elements * 4);
    const fs::path root = fs::path(dir) / fmt::format("ckpt_bench.{}", ::getppid());
    const fs::path checkpoints = root / "checkpoints";
    if (rank == 0) fs::create_directories(checkpoints);
    group->barrier()->wait();
    const checkpoint::CheckpointSource source{&model, &optimizer, nullptr, group.get(), "bench: true\n"};
    // dd's input: a page-cached copy of the same number of bytes (the peer of BENCHMARKS.md).
    const std::string dd_input = (root / "dd.in").string(), dd_output = (root / "dd.out").string();
    if (rank == 0)
      run_shell(fmt::format("dd if=/dev/urandom of={} bs=1M count={} status=none && cat {} > /dev/null", dd_input,
                            static_cast<int64_t>(bytes) >> 20, dd_input));
    auto emit = [&](const char* what, int rep, double seconds) {
      if (rank == 0)
        std::printf("{\"name\": \"%s\", \"rep\": %d, \"ranks\": %d, \"bytes\": %.0f, \"seconds\": %.6f, "
                    "\"gb_per_s\": %.4f, \"crc32\": \"%s\"}\n",
                    what, rep, group->size(), bytes, seconds, bytes / seconds / 1e9, io::crc32_implementation());
      std::fflush(stdout);
    };
    for (int rep = 0; rep <= reps; ++rep) {  // rep 0: untimed warm-up
      group->barrier()->wait();
      double start = now();
      checkpoint::TrainingState state;
      state.step = rep + 1;
      state.world = group->size();
      const fs::path saved = checkpoint::save_checkpoint(checkpoints, state, source, /*keep_last=*/1);
      const double save = now() - start;
      group->barrier()->wait();
      start = now();
      // A new file each time, the previous one deleted after, as a checkpoint is written
      // (on this machine's virtual disk, overwriting a file runs 2-4x faster than that).
      if (rank == 0)
        run_shell(fmt::format("dd if={0} of={1}.{2} bs=1M conv=fdatasync status=none && rm -f {1}.{3}", dd_input,
                              dd_output, rep, rep - 1));
      const double dd = now() - start;
      group->barrier()->wait();
      if (rank == 0) drop_cache(saved);
      group->barrier()->wait();
      start = now();
      checkpoint::LoadedCheckpoint cold = checkpoint::load_checkpoint(saved, *group);
      uint64_t touched = touch_every_page(cold);
      group->barrier()->wait();
      const double load_cold = now() - start;
      start = now();
      checkpoint::LoadedCheckpoint warm = checkpoint::load_checkpoint(saved, *group);
      touched += touch_every_page(warm);
      group->barrier()->wait();
      const double load_warm = now() - start;
      if (touched == 0) throw Error("the loaded tensors read as zeros");  // parameter 0 is all zeros, the rest not
      if (cold.model.size() != static_cast<size_t>(tensors) || warm.optimizer.size() != static_cast<size_t>(tensors))
        throw Error("the loaded checkpoint does not hold what was saved");
      if (rep == 0) continue;
      emit("torus_save", rep, save);
      emit("dd_fdatasync", rep, dd);
      emit("torus_load_cold", rep, load_cold);
      emit("torus_load_warm", rep, load_warm);
    }
    group->barrier()->wait();
    if (rank == 0) fs::remove_all(root);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ckpt_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
