// Files that survive a crash at any moment: written under a temporary name, flushed to
// the disk (fsync), renamed over the final name, and the directory flushed so the rename
// itself is on disk. A reader sees the old file or the new one, never half of one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace torus::io {

// Called after each step of a durable write or rename with what was just done
// ("written", "synced", "renamed", "directory synced"): where crash tests kill.
using DurabilityStep = std::function<void(const char* done)>;

// Replaces `path` with `bytes` as described above (temporary: `path` + ".tmp").
void write_file_durably(const std::filesystem::path& path, const std::string& bytes,
                        const DurabilityStep& after = nullptr);
// fsync of a file or a directory; an IOError names the path.
void sync_path(const std::filesystem::path& path);
// rename(2) then fsync of the destination's directory.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to,
                    const DurabilityStep& after = nullptr);
// The whole file, or an IOError naming it.
std::string read_file(const std::filesystem::path& path);

// CRC-32 (zlib's polynomial and values) of a file's bytes, read in large sequential chunks;
// with streams > 1, a file of 64 MiB or more is read as up to that many contiguous parts
// at once, each by its own thread (a disk or a virtual one may serve several streams
// faster, or more steadily, than one), their CRCs combined.
uint32_t crc32_of_file(const std::filesystem::path& path, int streams = 1);
uint32_t crc32_of(const uint8_t* bytes, uint64_t size);
// The CRC-32 of what `crc` covered followed by `bytes` (crc32_of is crc32_update(0, ...)).
uint32_t crc32_update(uint32_t crc, const void* bytes, uint64_t size);
// The CRC-32 of bytes A followed by bytes B from crc32_of(A), crc32_of(B) and B's size.
uint32_t crc32_combine(uint32_t first, uint32_t second, uint64_t second_size);
// Which code computes them: "ISA-L" (TORUS_WITH_ISAL, SIMD, ~3x zlib here) or "zlib".
const char* crc32_implementation();

}  // namespace torus::io
