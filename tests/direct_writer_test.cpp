// DirectWriter (framework/io/direct_writer.h): files of odd sizes written through
// O_DIRECT come back byte for byte; where O_DIRECT is refused on the first write (EINVAL,
// injected through the write seam, since this machine's tmpfs accepts it) or a short
// write stops inside a block, the file is finished buffered, the same bytes; a short
// write of whole blocks keeps O_DIRECT; the checksum asked for is zlib's CRC-32 of the
// file on every path; errors name the file and the errno.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "framework/io/direct_writer.h"
#include "framework/io/direct_writer_seam.h"
#include "kernels/common/error.h"

namespace torus::io {
namespace {

namespace fs = std::filesystem;

// What the injected write calls saw.
int g_direct_calls = 0;    // calls on a descriptor with O_DIRECT
int g_buffered_calls = 0;  // calls without
int g_faults = 0;          // calls the seam answered otherwise than ::write would

bool has_o_direct(int fd) { return (::fcntl(fd, F_GETFL) & O_DIRECT) != 0; }

ssize_t counted_write(int fd, const void* data, size_t n) {
  ++(has_o_direct(fd) ? g_direct_calls : g_buffered_calls);
  return ::write(fd, data, n);
}
// O_DIRECT refused on every write, as file systems that accept the open but not the I/O.
ssize_t refuse_direct(int fd, const void* data, size_t n) {
  if (has_o_direct(fd)) {
    ++g_direct_calls;
    errno = EINVAL;
    return -1;
  }
  ++g_buffered_calls;
  return ::write(fd, data, n);
}
// Direct writes stop after three blocks: short, but at a block boundary.
ssize_t short_whole_blocks(int fd, const void* data, size_t n) {
  if (has_o_direct(fd) && n > 3 * 4096) {
    ++g_faults;
    n = 3 * 4096;
  }
  return counted_write(fd, data, n);
}
// The first large direct write stops 5000 bytes in, mid-block (as when a file system
// falls back to buffered I/O inside the call); the bytes are really written.
ssize_t short_mid_block(int fd, const void* data, size_t n) {
  if (g_faults == 0 && has_o_direct(fd) && n > 8192) {
    ++g_faults;
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_DIRECT);
    const ssize_t done = ::write(fd, data, 5000);
    ::fcntl(fd, F_SETFL, flags);
    return done;
  }
  return counted_write(fd, data, n);
}
ssize_t io_error(int, const void*, size_t) {
  errno = EIO;
  return -1;
}
// EINVAL after the first direct write: a real error, not a refusal of O_DIRECT.
ssize_t einval_on_second(int fd, const void* data, size_t n) {
  if (++g_direct_calls == 2) {
    errno = EINVAL;
    return -1;
  }
  return ::write(fd, data, n);
}

// Deterministic bytes, and the pieces they are written in: sizes that straddle blocks and
// the 8 MiB buffer, a total that is no multiple of a block.
std::string pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 2654435761u) >> 13);
  return out;
}
const std::vector<size_t> kPieces = {1, 4095, size_t{3} << 20, (size_t{8} << 20) + 3, 12345, size_t{5} << 20};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class DirectWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("torus_direct_writer_{}", ::getpid());
    fs::create_directories(dir_);
    g_direct_calls = g_buffered_calls = g_faults = 0;
  }
  void TearDown() override {
    seam::replace_direct_writer_write(nullptr);
    fs::remove_all(dir_);
  }
  // Writes the pieces into `path` and returns what was written.
  static std::string write_pieces(DirectWriter& out) {
    std::string all;
    for (size_t n : kPieces) all += pattern(n);
    size_t at = 0;
    for (size_t n : kPieces) {
      out.write(all.data() + at, n);
      at += n;
    }
    out.close();
    return all;
  }
  fs::path dir_;
};

TEST_F(DirectWriterTest, OddSizedPiecesComeBackByteForByte) {
  seam::replace_direct_writer_write(counted_write);
  const fs::path file = dir_ / "plain.bin";
  DirectWriter out(file.string());
  const bool direct = out.direct();
  const std::string written = write_pieces(out);
  EXPECT_TRUE(read_all(file) == written);
  if (direct) {
    EXPECT_GT(g_direct_calls, 0);
  }
}

TEST_F(DirectWriterTest, EinvalOnTheFirstDirectWriteFinishesTheFileBuffered) {
  seam::replace_direct_writer_write(refuse_direct);
  const fs::path file = dir_ / "refused.bin";
  DirectWriter out(file.string());
  if (!out.direct()) GTEST_SKIP() << dir_ << " refuses O_DIRECT at open already";
  const std::string written = write_pieces(out);
  EXPECT_FALSE(out.direct());
  EXPECT_EQ(g_direct_calls, 1) << "one refusal, then every write on the descriptor without O_DIRECT";
  EXPECT_GT(g_buffered_calls, 0);
  EXPECT_TRUE(read_all(file) == written);
}

// This kernel's tmpfs takes O_DIRECT (kernels before 6.6 refuse it at open); either way
// the file is whole.
TEST_F(DirectWriterTest, ATmpfsFileIsWritten) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const fs::path file = fmt::format("/dev/shm/torus_direct_writer_{}.bin", ::getpid());
  DirectWriter out(file.string());
  const std::string written = write_pieces(out);
  EXPECT_TRUE(read_all(file) == written);
  fs::remove(file);
}

TEST_F(DirectWriterTest, AShortWriteOfWholeBlocksGoesOnDirect) {
  seam::replace_direct_writer_write(short_whole_blocks);
  const fs::path file = dir_ / "short_blocks.bin";
  DirectWriter out(file.string());
  if (!out.direct()) GTEST_SKIP() << dir_ << " refuses O_DIRECT";
  const std::string written = write_pieces(out);
  EXPECT_GT(g_faults, 0);
  EXPECT_TRUE(out.direct()) << "the offset stayed aligned";
  EXPECT_EQ(g_buffered_calls, 0);
  EXPECT_TRUE(read_all(file) == written);
}

TEST_F(DirectWriterTest, AShortWriteEndingMidBlockFinishesBuffered) {
  seam::replace_direct_writer_write(short_mid_block);
  const fs::path file = dir_ / "short_mid.bin";
  DirectWriter out(file.string());
  if (!out.direct()) GTEST_SKIP() << dir_ << " refuses O_DIRECT";
  const std::string written = write_pieces(out);
  EXPECT_EQ(g_faults, 1);
  EXPECT_FALSE(out.direct());
  EXPECT_EQ(g_direct_calls, 0) << "no O_DIRECT write at an unaligned offset";
  EXPECT_GT(g_buffered_calls, 0);
  EXPECT_TRUE(read_all(file) == written);
}

TEST_F(DirectWriterTest, TheChecksumIsZlibsCrc32OfTheFileOnEveryPath) {
  const struct {
    const char* what;
    bool direct;
    seam::WriteCall call;
  } cases[] = {{"direct", true, nullptr},
               {"buffered", false, nullptr},
               {"EINVAL fallback", true, refuse_direct},
               {"short write mid-block", true, short_mid_block}};
  for (const auto& c : cases) {
    seam::replace_direct_writer_write(c.call);
    g_faults = 0;
    const fs::path file = dir_ / "checksummed.bin";
    DirectWriter out(file.string(), {.direct = c.direct, .checksum = true});
    write_pieces(out);
    const std::string bytes = read_all(file);
    const auto want = static_cast<uint32_t>(
        ::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
    EXPECT_EQ(out.crc32(), want) << c.what;
  }
  DirectWriter unasked((dir_ / "unasked.bin").string());
  EXPECT_THROW(unasked.crc32(), ValueError);
}

TEST_F(DirectWriterTest, ErrorsNameTheFileAndTheErrno) {
  const std::string missing = (dir_ / "no" / "such" / "dir.bin").string();
  try {
    DirectWriter out(missing);
    ADD_FAILURE() << "opened " << missing;
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": open failed: No such file or directory (errno 2)"),
              std::string::npos)
        << e.what();
  }
  const struct {
    seam::WriteCall call;
    const char* says;
  } cases[] = {{io_error, "write failed: Input/output error (errno 5)"},
               {einval_on_second, "write failed: Invalid argument (errno 22)"}};
  for (const auto& c : cases) {
    seam::replace_direct_writer_write(c.call);
    g_direct_calls = 0;
    const std::string file = (dir_ / "failing.bin").string();
    DirectWriter out(file);
    try {
      write_pieces(out);
      ADD_FAILURE() << "no error for " << c.says;
    } catch (const IOError& e) {
      EXPECT_NE(std::string(e.what()).find(file + ": " + c.says), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace torus::io
