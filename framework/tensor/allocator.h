// A caching host allocator: freed blocks are kept by size class and handed out again,
// so a training loop that allocates the same shapes every step stops calling
// mmap/munmap (and page-faulting) after its first step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace torus {

struct AllocatorStats {
  size_t allocated_bytes = 0;  // handed out and not yet freed
  size_t reserved_bytes = 0;   // allocated plus cached
  size_t peak_allocated_bytes = 0;
  uint64_t cache_hits = 0;
  uint64_t system_allocations = 0;
};

class HostAllocator {
 public:
  static constexpr size_t kAlignment = 64;  // a cache line; enough for AVX-512 loads

  static HostAllocator& instance();

  // Returns a block of at least `bytes` (never null; bytes == 0 gives a valid block).
  void* allocate(size_t bytes);
  void deallocate(void* ptr);

  AllocatorStats stats() const;
  // Returns every cached block to the system.
  void empty_cache();

  // The size a request is rounded up to: 64-byte steps below 4 KiB, then eighths of a
  // power of two (at most 12.5% waste), so nearby sizes share cached blocks.
  static size_t round_size(size_t bytes);

  ~HostAllocator();

 private:
  HostAllocator() = default;

  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;  // rounded size -> block
  std::map<void*, size_t> live_blocks_;       // block -> rounded size
  AllocatorStats stats_;
};

}  // namespace torus
