// Checkpoint I/O on one disk: save_safetensors of a ~1 GiB state (write + fdatasync)
// against dd conv=fdatasync of the same bytes into the same directory; load_safetensors
// (mmap, every tensor byte checksummed) of the uncached file against dd to /dev/null and
// against read() into a buffer; and the same two loaders with the file in the page cache.
// GB/s are file bytes over seconds, 1 GB = 10^9 B.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "framework/io/safetensors.h"
#include "framework/tensor/random.h"
#include "framework/tensor/tensor.h"

extern char** environ;

namespace {

using torus::Tensor;
using torus::bench::Measurement;

constexpr double kGB = 1e9;
constexpr double kSaveTarget = 0.80;             // of dd with fdatasync (BENCHMARKS.md)
constexpr size_t kReadChunk = size_t{1} << 20;  // read() peer: fastest of 256 KiB-64 MiB here, cold and warm

struct IoOptions {
  std::string dir;  // where the temporary directory goes; empty: beside the executable
  int reps = 9;  // the disk varies up to 4x between repetitions
  int mib = 1024;  // size of the state's tensor data
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: io_bench [--dir DIR] [--reps N] [--mib N]\n"
               "  Checkpoint write/read GB/s against dd on the disk holding DIR (default: the\n"
               "  executable's directory); needs about 3 x N MiB free there (N = 1024).\n"
               "  JSON lines on stdout, a table on stderr.\n");
  std::exit(2);
}

IoOptions parse(int argc, char** argv) {
  IoOptions o;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) usage();
    const char* value = argv[i + 1];
    if (arg == "--dir") {
      o.dir = value;
    } else if (arg == "--reps") {
      o.reps = std::max(std::atoi(value), 5);  // the protocol's minimum
    } else if (arg == "--mib") {
      o.mib = std::atoi(value);
      if (o.mib < 16) usage();
    } else {
      usage();
    }
  }
  return o;
}

[[noreturn]] void die(const std::string& what) {
  throw std::runtime_error(what);
}

void check_sys(bool ok, const std::string& what) {
  if (!ok) die(what + ": " + std::strerror(errno));
}

// ---- Temporary files, removed on exit and on SIGINT/SIGTERM ----

char g_paths[3][4096];  // plain arrays: the signal handler may only unlink
char g_dir[4096];

void remove_temporaries() {
  for (auto& p : g_paths)
    if (p[0] != '\0') ::unlink(p);
  if (g_dir[0] != '\0') ::rmdir(g_dir);
}

extern "C" void on_signal(int sig) {
  remove_temporaries();
  ::_exit(128 + sig);
}

// ---- The state: a GPT-like checkpoint, seeded uniform(-1, 1) f32 ----

torus::NamedTensors make_state(int mib) {
  // Large tensors in MiB at the default size (rows of 1024 floats, 256 rows per MiB),
  // scaled to --mib; small biases and norms between them, as a model's state_dict has.
  struct Spec {
    const char* name;
    int64_t mib;  // 0: small, `small` floats
    int64_t small;
  };
  const Spec specs[] = {
      {"model.tok_embed.weight", 256, 0},
      {"model.layers.0.norm1.weight", 0, 1024},
      {"model.layers.0.norm1.bias", 0, 1024},
      {"model.layers.0.attn.qkv.weight", 120, 0},
      {"model.layers.0.attn.qkv.bias", 0, 3072},
      {"model.layers.0.attn.proj.weight", 120, 0},
      {"model.layers.0.attn.proj.bias", 0, 1024},
      {"model.layers.0.norm2.weight", 0, 1024},
      {"model.layers.0.norm2.bias", 0, 1024},
      {"model.layers.0.mlp.fc1.weight", 256, 0},
      {"model.layers.0.mlp.fc1.bias", 0, 4096},
      {"model.layers.0.mlp.fc2.weight", 256, 0},
      {"model.layers.0.mlp.fc2.bias", 0, 1024},
      {"model.norm.weight", 0, 1024},
      {"model.norm.bias", 0, 1024},
      {"optim.scale.0", 4, 0},
      {"optim.scale.1", 4, 0},
      {"optim.scale.2", 4, 0},
      {"optim.scale.3", 4, 0},
  };
  torus::Generator gen(20261122);
  torus::NamedTensors state;
  for (const Spec& s : specs) {
    const torus::Shape shape = s.mib > 0 ? torus::Shape{std::max<int64_t>(1, s.mib * 256 * mib / 1024), 1024}
                                         : torus::Shape{s.small};
    state.emplace_back(s.name, Tensor::rand(shape, gen, torus::DType::f32, -1.0, 1.0));
  }
  state.emplace_back("step", Tensor::from_data(std::vector<int64_t>{123456}, {}));
  return state;
}

// ---- Checksums: every byte, fast enough (memory speed) not to hide the disk ----

// Sum and xor of the little-endian 64-bit words (a last partial word is added to the
// sum). Both are associative, so a range can be fed in pieces that split it anywhere:
// the read() peer checksums each piece as it arrives.
class Checksum {
 public:
  void update(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    bytes_ += n;
    while (n > 0 && pending_bytes_ > 0) take_byte(*p++), --n;
    const size_t words = n / 8;
    uint64_t sum = 0, mix = 0;
    for (size_t i = 0; i < words; ++i) {  // vectorizes: memory speed, not the disk's
      uint64_t w;
      std::memcpy(&w, p + 8 * i, 8);
      sum += w;
      mix ^= w;
    }
    sum_ += sum;
    mix_ ^= mix;
    for (size_t i = words * 8; i < n; ++i) take_byte(p[i]);
  }
  uint64_t value() const { return (sum_ + pending_) ^ (mix_ * 0x9E3779B97F4A7C15ull) ^ bytes_; }

 private:
  void take_byte(unsigned char byte) {
    pending_ |= uint64_t{byte} << (8 * pending_bytes_);
    if (++pending_bytes_ == 8) sum_ += pending_, mix_ ^= pending_, pending_ = 0, pending_bytes_ = 0;
  }
  uint64_t sum_ = 0, mix_ = 0, pending_ = 0, bytes_ = 0;
  int pending_bytes_ = 0;
};

uint64_t checksum(const void* data, size_t n) {
  Checksum c;
  c.update(data, n);
  return c.value();
}

uint64_t combine(uint64_t total, uint64_t part) { return (total ^ part) * 0x100000001B3ull + 1; }

struct Range {
  size_t offset, bytes;  // of one tensor's data in the file
};

uint64_t checksum_tensors(const torus::NamedTensors& tensors) {
  uint64_t total = 0;
  for (const auto& [name, t] : tensors) total = combine(total, checksum(t.raw_data(), t.nbytes()));
  return total;
}

uint64_t checksum_ranges(const char* file, const std::vector<Range>& ranges) {
  uint64_t total = 0;
  for (const Range& r : ranges) total = combine(total, checksum(file + r.offset, r.bytes));
  return total;
}

// The same value, fed piece by piece: [at, at + n) of the file has just been read.
struct StreamingChecksum {
  const std::vector<Range>& ranges;
  std::vector<Checksum> parts = std::vector<Checksum>(ranges.size());
  size_t next = 0;  // the first range not yet complete

  void update(const char* file, size_t at, size_t n) {
    for (size_t i = next; i < ranges.size() && ranges[i].offset < at + n; ++i) {
      const size_t begin = std::max(at, ranges[i].offset);
      const size_t end = std::min(at + n, ranges[i].offset + ranges[i].bytes);
      if (begin < end) parts[i].update(file + begin, end - begin);
      if (end == ranges[i].offset + ranges[i].bytes && i == next) ++next;
    }
  }
  uint64_t value() const {
    uint64_t total = 0;
    for (const Checksum& c : parts) total = combine(total, c.value());
    return total;
  }
};

// ---- Files and the page cache ----

size_t file_size(const std::string& path) {
  struct stat info {};
  check_sys(::stat(path.c_str(), &info) == 0, "stat " + path);
  return static_cast<size_t>(info.st_size);
}

void fdatasync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  check_sys(fd >= 0, "open " + path);
  check_sys(::fdatasync(fd) == 0, "fdatasync " + path);
  check_sys(::close(fd) == 0, "close " + path);
}

// The fraction of the file's pages in the page cache (mincore faults nothing in).
double resident_fraction(const std::string& path) {
  const size_t size = file_size(path);
  if (size == 0) return 1.0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check_sys(fd >= 0, "open " + path);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  check_sys(map != MAP_FAILED, "mmap " + path);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core((size + page - 1) / page);
  check_sys(::mincore(map, size, in_core.data()) == 0, "mincore " + path);
  ::munmap(map, size);
  size_t resident = 0;
  for (unsigned char c : in_core) resident += c & 1;
  return static_cast<double>(resident) / static_cast<double>(in_core.size());
}

// Writes back and drops the file's pages, so the next read comes from the disk (or from
// whatever caches below this machine's kernel: a virtual disk's host may hold some).
double drop_from_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check_sys(fd >= 0, "open " + path);
  check_sys(::fdatasync(fd) == 0, "fdatasync " + path);
  const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (rc != 0) die("posix_fadvise DONTNEED " + path + ": " + std::strerror(rc));
  return resident_fraction(path);
}

// read() of the whole file into `buffer` (at least the file's size), in kReadChunk pieces;
// `on_piece(at, n)` sees each piece as it arrives.
size_t read_file(const std::string& path, char* buffer,
                 const std::function<void(size_t, size_t)>& on_piece = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check_sys(fd >= 0, "open " + path);
  size_t total = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buffer + total, kReadChunk);
    if (got < 0 && errno == EINTR) continue;
    check_sys(got >= 0, "read " + path);
    if (got == 0) break;
    if (on_piece) on_piece(total, static_cast<size_t>(got));
    total += static_cast<size_t>(got);
  }
  ::close(fd);
  return total;
}

void make_cached(const std::string& path, char* buffer) {
  if (resident_fraction(path) < 0.999) read_file(path, buffer);
}

// Byte-for-byte comparison of two files through `buffer` (their common size) and a
// second buffer of one chunk.
bool same_bytes(const std::string& a, const std::string& b, char* buffer) {
  const size_t size = file_size(a);
  if (file_size(b) != size || read_file(a, buffer) != size) return false;
  std::vector<char> chunk(kReadChunk);
  const int fd = ::open(b.c_str(), O_RDONLY | O_CLOEXEC);
  check_sys(fd >= 0, "open " + b);
  size_t at = 0;
  bool same = true;
  while (same && at < size) {
    const ssize_t got = ::read(fd, chunk.data(), std::min(kReadChunk, size - at));
    check_sys(got > 0, "read " + b);
    same = std::memcmp(buffer + at, chunk.data(), static_cast<size_t>(got)) == 0;
    at += static_cast<size_t>(got);
  }
  ::close(fd);
  return same;
}

// ---- dd as a subprocess; checks it moved `bytes` ----

void run_dd(const std::vector<std::string>& args, size_t bytes) {
  std::vector<char*> argv{const_cast<char*>("dd")};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int err[2];
  check_sys(::pipe2(err, O_CLOEXEC) == 0, "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "dd", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err[1]);
  if (rc != 0) {
    ::close(err[0]);
    die(std::string("cannot run dd: ") + std::strerror(rc));
  }
  std::string text;
  char piece[512];
  for (ssize_t got; (got = ::read(err[0], piece, sizeof piece)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    text.append(piece, static_cast<size_t>(got));
  }
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string command = "dd";
  for (const auto& a : args) command += " " + a;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die(command + " failed: " + text);
  // "N bytes (...) copied, ..." in the C locale (LC_ALL is set to C in main).
  const size_t at = text.rfind(" bytes");
  const size_t line = text.rfind('\n', at == std::string::npos ? 0 : at);
  const size_t start = line == std::string::npos || at == std::string::npos ? 0 : line + 1;
  if (at == std::string::npos || std::strtoull(text.c_str() + start, nullptr, 10) != bytes)
    die(command + " did not copy " + std::to_string(bytes) + " bytes: " + text);
}

// ---- Alternating disk repetitions: an untimed prepare, then the timed call ----

struct Candidate {
  std::string name;
  std::function<void()> prepare;  // untimed: unlink the target, drop or fill the cache
  std::function<void()> run;      // timed
};

// One untimed round, then `reps` rounds, each starting one candidate later. Returns
// seconds, [candidate][repetition].
std::vector<std::vector<double>> time_disk(const std::vector<Candidate>& candidates, int reps) {
  const size_t n = candidates.size();
  for (const auto& c : candidates) c.prepare(), c.run();
  std::vector<std::vector<double>> seconds(n);
  for (int rep = 0; rep < reps; ++rep)
    for (size_t i = 0; i < n; ++i) {
      const Candidate& c = candidates[(static_cast<size_t>(rep) + i) % n];
      c.prepare();
      const double start = torus::bench::seconds_now();
      c.run();
      seconds[(static_cast<size_t>(rep) + i) % n].push_back(torus::bench::seconds_now() - start);
    }
  return seconds;
}

std::string quoted(const std::string& text) { return torus::bench::json_string(text); }
std::string number(double value) { return torus::bench::json_number(value); }

Measurement measure(const std::string& name, const std::string& config, const std::vector<double>& seconds,
                    double bytes, const std::string& peer, const std::vector<double>& peer_seconds) {
  Measurement m;
  m.name = name;
  m.config = config;
  m.threads = 1;
  const auto rates = torus::bench::throughput(seconds, bytes, kGB);
  m.value = torus::bench::summarize(rates);
  m.unit = "GB/s";
  m.peer = peer;
  if (!peer.empty()) {
    const auto peer_rates = torus::bench::throughput(peer_seconds, bytes, kGB);
    m.ratio = torus::bench::paired_ratio(rates, peer_rates);
    m.extra.emplace_back("peer_median", number(torus::bench::median_of(peer_rates)));
  }
  m.extra.emplace_back("suite", quoted("io"));
  m.extra.emplace_back("bytes", number(bytes));
  m.extra.emplace_back("reps", std::to_string(seconds.size()));
  return m;
}

int run(const IoOptions& options) {
  namespace fs = std::filesystem;
  const fs::path base = options.dir.empty() ? fs::read_symlink("/proc/self/exe").parent_path() : fs::path(options.dir);
  std::string dir_template = (base / "io_bench.XXXXXX").string();
  check_sys(::mkdtemp(dir_template.data()) != nullptr, "mkdtemp in " + base.string());
  std::snprintf(g_dir, sizeof g_dir, "%s", dir_template.c_str());
  const std::string dir = fs::canonical(dir_template).string();
  const std::string torus_file = dir + "/torus.safetensors";  // written by save, read by all loaders
  const std::string source_file = dir + "/dd_source";          // the same bytes, dd's input
  const std::string dd_file = dir + "/dd_out";                 // dd's output
  std::snprintf(g_paths[0], sizeof g_paths[0], "%s", torus_file.c_str());
  std::snprintf(g_paths[1], sizeof g_paths[1], "%s", source_file.c_str());
  std::snprintf(g_paths[2], sizeof g_paths[2], "%s", dd_file.c_str());

  struct statvfs vfs {};
  check_sys(::statvfs(dir.c_str(), &vfs) == 0, "statvfs " + dir);
  const double free_bytes = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
  const double need = 3.2 * options.mib * double{1 << 20};
  if (free_bytes < need)
    die("io_bench: " + dir + " has " + std::to_string(free_bytes / kGB) + " GB free; needs " +
        std::to_string(need / kGB) + " GB (--mib to shrink the state)");

  std::fprintf(stderr, "io_bench: %s, state of %d MiB, %d repetitions\n", dir.c_str(), options.mib, options.reps);
  const torus::NamedTensors state = make_state(options.mib);
  const uint64_t expected = checksum_tensors(state);

  // ---- Validate: what save wrote loads back bit for bit; dd copies the same bytes ----
  auto save = [&] {
    torus::io::save_safetensors(torus_file, state);
    fdatasync_file(torus_file);  // save_safetensors does not sync; a durable save must
  };
  save();
  const size_t bytes = file_size(torus_file);
  std::vector<Range> ranges;
  {
    const auto loaded = torus::io::load_safetensors(torus_file);
    if (loaded.tensors.size() != state.size()) die("validation: tensor count differs after load");
    const char* base_ptr = static_cast<const char*>(loaded.tensors.front().second.storage()->data());
    for (size_t i = 0; i < state.size(); ++i) {
      const auto& [name, t] = loaded.tensors[i];
      const Tensor& want = state[i].second;
      if (name != state[i].first || t.shape() != want.shape() || t.dtype() != want.dtype() ||
          std::memcmp(t.raw_data(), want.raw_data(), want.nbytes()) != 0)
        die("validation: tensor '" + state[i].first + "' differs after save and load");
      ranges.push_back({static_cast<size_t>(static_cast<const char*>(t.raw_data()) - base_ptr), t.nbytes()});
    }
    if (checksum_tensors(loaded.tensors) != expected) die("validation: checksum differs after load");
  }
  const std::unique_ptr<char, decltype(&std::free)> owned(static_cast<char*>(std::malloc(bytes)), &std::free);
  char* buffer = owned.get();
  if (buffer == nullptr) die("io_bench: cannot allocate the read() buffer");
  std::memset(buffer, 1, bytes);  // faulted in once; the read() peer reuses it
  {  // dd's input: a copy of the file, kept in the page cache
    if (read_file(torus_file, buffer) != bytes) die("validation: short read");
    const int fd = ::open(source_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    check_sys(fd >= 0, "create " + source_file);
    for (size_t at = 0; at < bytes;) {
      const ssize_t put = ::write(fd, buffer + at, std::min(kReadChunk, bytes - at));
      check_sys(put > 0, "write " + source_file);
      at += static_cast<size_t>(put);
    }
    check_sys(::fdatasync(fd) == 0 && ::close(fd) == 0, "fdatasync " + source_file);
  }
  run_dd({"if=" + source_file, "of=" + dd_file, "bs=1M", "conv=fdatasync"}, bytes);
  if (!same_bytes(torus_file, dd_file, buffer)) die("validation: dd's copy differs from save_safetensors' file");
  if (read_file(torus_file, buffer) != bytes || checksum_ranges(buffer, ranges) != expected)
    die("validation: read() checksum differs");
  {  // the streaming checksum agrees, also when pieces split words and tensors
    StreamingChecksum sum{ranges};
    for (size_t at = 0; at < bytes; at += std::min<size_t>(bytes - at, 1000003))
      sum.update(buffer, at, std::min<size_t>(bytes - at, 1000003));
    if (sum.value() != expected) die("validation: streaming checksum differs");
  }

  auto load_and_check = [&] {
    const auto loaded = torus::io::load_safetensors(torus_file);
    if (checksum_tensors(loaded.tensors) != expected) die("load_safetensors: checksum differs");
  };
  auto read_and_check = [&] {  // each piece checksummed while it is in the cache
    StreamingChecksum sum{ranges};
    const size_t got = read_file(torus_file, buffer, [&](size_t at, size_t n) { sum.update(buffer, at, n); });
    if (got != bytes || sum.value() != expected) die("read(): checksum differs");
  };

  char gib[64];
  std::snprintf(gib, sizeof gib, "%.2f GiB file, %zu tensors", bytes / double{1 << 30}, state.size());
  torus::bench::print_table_header();

  // ---- (a) Write: save + fdatasync vs dd conv=fdatasync of the same bytes ----
  // Each repetition writes a new file (the old one unlinked and the file system synced,
  // untimed), as a checkpoint of a new step does.
  double source_resident = 1.0;
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  check_sys(dir_fd >= 0, "open " + dir);
  auto fresh = [&](const std::string& path) {
    ::unlink(path.c_str());
    check_sys(::syncfs(dir_fd) == 0, "syncfs " + dir);  // the unlink's frees, others' dirty data
  };
  std::vector<double> buffered_seconds;  // of save: the write() calls, before fdatasync
  auto timed_save = [&] {
    const double start = torus::bench::seconds_now();
    torus::io::save_safetensors(torus_file, state);
    buffered_seconds.push_back(torus::bench::seconds_now() - start);
    fdatasync_file(torus_file);
  };
  const std::vector<Candidate> writers = {
      {"save", [&] { fresh(torus_file); }, timed_save},
      {"dd",
       [&] {
         fresh(dd_file);
         make_cached(source_file, buffer);
         source_resident = std::min(source_resident, resident_fraction(source_file));
       },
       [&] { run_dd({"if=" + source_file, "of=" + dd_file, "bs=1M", "conv=fdatasync"}, bytes); }},
      // dd at its cheapest (no input copy), on zeros: for reference, not the ratio
      {"dd_zero", [&] { fresh(dd_file); },
       [&] {
         run_dd({"if=/dev/zero", "of=" + dd_file, "bs=1M", "count=" + std::to_string(bytes), "iflag=count_bytes",
                 "conv=fdatasync"},
                bytes);
       }},
  };
  const auto write_seconds = time_disk(writers, options.reps);
  if (file_size(torus_file) != bytes || file_size(dd_file) != bytes) die("write: a file has the wrong size");
  const std::string dd_write = "dd bs=1M conv=fdatasync";
  Measurement save_m = measure("save_safetensors", std::string(gib) + ", write + fdatasync, new file",
                               write_seconds[0], bytes, dd_write, write_seconds[1]);
  save_m.extra.emplace_back("file", quoted(gib));
  save_m.extra.emplace_back("target", number(kSaveTarget));
  save_m.extra.emplace_back("vs_dd_zero", number(torus::bench::paired_ratio(write_seconds[2], write_seconds[0])));
  buffered_seconds.erase(buffered_seconds.begin());  // the untimed round
  std::vector<double> buffered_share;
  for (size_t i = 0; i < buffered_seconds.size(); ++i)
    buffered_share.push_back(buffered_seconds[i] / write_seconds[0][i]);
  save_m.extra.emplace_back("write_calls_share", number(torus::bench::median_of(buffered_share)));
  save_m.extra.emplace_back("case", quoted("write"));
  torus::bench::report(save_m);
  Measurement dd_m = measure("dd_write", "bs=1M conv=fdatasync, input in page cache, new file", write_seconds[1],
                             bytes, "", {});
  dd_m.extra.emplace_back("case", quoted("write"));
  dd_m.extra.emplace_back("source_resident", number(source_resident));
  torus::bench::report(dd_m);
  Measurement zero_m = measure("dd_write_zero", "if=/dev/zero bs=1M conv=fdatasync, new file", write_seconds[2],
                               bytes, "", {});
  zero_m.extra.emplace_back("case", quoted("write"));
  torus::bench::report(zero_m);
  ::unlink(dd_file.c_str());
  ::unlink(source_file.c_str());
  ::close(dir_fd);

  // ---- (b) Cold read: the file's pages dropped before each repetition ----
  double resident_before = 0;
  auto drop = [&] { resident_before = std::max(resident_before, drop_from_cache(torus_file)); };
  const std::vector<Candidate> cold = {
      {"load", drop, load_and_check},
      {"dd", drop, [&] { run_dd({"if=" + torus_file, "of=/dev/null", "bs=1M"}, bytes); }},
      {"read", drop, read_and_check},
  };
  const auto cold_seconds = time_disk(cold, options.reps);
  const std::string chunk = std::to_string(kReadChunk >> 20) + " MiB";
  Measurement load_cold = measure("load_safetensors",
                                  std::string(gib) + ", uncached, mmap + checksum of every tensor byte",
                                  cold_seconds[0], bytes, "dd of=/dev/null bs=1M", cold_seconds[1]);
  load_cold.extra.emplace_back("vs_read", number(torus::bench::paired_ratio(cold_seconds[2], cold_seconds[0])));
  load_cold.extra.emplace_back("resident_before", number(resident_before));
  load_cold.extra.emplace_back("case", quoted("cold"));
  load_cold.extra.emplace_back("file", quoted(gib));
  torus::bench::report(load_cold);
  Measurement read_cold = measure("read_buffer",
                                  "uncached, read() " + chunk + " pieces into a buffer, each checksummed on arrival",
                                  cold_seconds[2], bytes, "dd of=/dev/null bs=1M", cold_seconds[1]);
  read_cold.extra.emplace_back("case", quoted("cold"));
  torus::bench::report(read_cold);
  Measurement dd_cold = measure("dd_read", "uncached, bs=1M to /dev/null", cold_seconds[1], bytes, "", {});
  dd_cold.extra.emplace_back("case", quoted("cold"));
  torus::bench::report(dd_cold);

  // ---- (c) Warm read: the file in the page cache ----
  make_cached(torus_file, buffer);
  torus::bench::Options warm_options;
  warm_options.threads = 1;
  warm_options.reps = options.reps;
  warm_options.min_rep_seconds = 0.0;  // one load per repetition
  const auto warm_seconds = torus::bench::time_alternating({load_and_check, read_and_check}, warm_options);
  Measurement load_warm = measure("load_safetensors",
                                  std::string(gib) + ", page-cached, mmap + checksum of every tensor byte",
                                  warm_seconds[0], bytes, "read() into a buffer", warm_seconds[1]);
  load_warm.extra.emplace_back("case", quoted("warm"));
  load_warm.extra.emplace_back("file", quoted(gib));
  load_warm.extra.emplace_back("resident_before", number(resident_fraction(torus_file)));
  torus::bench::report(load_warm);
  Measurement read_warm = measure("read_buffer",
                                  "page-cached, read() " + chunk + " pieces into a buffer, each checksummed on arrival",
                                  warm_seconds[1], bytes, "", {});
  read_warm.extra.emplace_back("case", quoted("warm"));
  torus::bench::report(read_warm);

  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const IoOptions options = parse(argc, argv);
  ::setenv("LC_ALL", "C", 1);  // dd's summary line in a parseable form
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  int rc = 1;
  try {
    rc = run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "io_bench: %s\n", e.what());
  }
  remove_temporaries();
  return rc;
}
