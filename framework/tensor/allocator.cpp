// Caching host allocator (see allocator.h).
#include "framework/tensor/allocator.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <new>

#include "kernels/common/error.h"

namespace torus {
namespace {

#ifdef TORUS_SANITIZE
// Sanitizer builds allocate the exact size and hand every block back at once, so
// AddressSanitizer sees each overflow and each use after free.
constexpr bool kCacheBlocks = false;
#else
constexpr bool kCacheBlocks = true;
#endif

void* system_allocate(size_t alignment, size_t size) {
  void* block = nullptr;
  return ::posix_memalign(&block, alignment, size) == 0 ? block : nullptr;
}

}  // namespace

HostAllocator& HostAllocator::instance() {
  // Never destroyed: tensors in static storage may be freed after main returns.
  static HostAllocator* allocator = new HostAllocator();
  return *allocator;
}

HostAllocator::~HostAllocator() { empty_cache(); }

size_t HostAllocator::round_size(size_t bytes) {
  if (bytes == 0) return kAlignment;
  if (bytes <= 4096) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  const size_t power = std::bit_floor(bytes);
  const size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

void* HostAllocator::allocate(size_t bytes) {
  const size_t size = kCacheBlocks ? round_size(bytes) : std::max<size_t>(bytes, 1);
  std::lock_guard lock(mutex_);
  void* block = nullptr;
  if (auto it = free_blocks_.find(size); it != free_blocks_.end()) {
    block = it->second;
    free_blocks_.erase(it);
    ++stats_.cache_hits;
  } else {
    block = system_allocate(kAlignment, size);
    if (block == nullptr) {
      // Give the cache back and try once more before failing.
      for (auto& [cached_size, cached] : free_blocks_) {
        std::free(cached);
        stats_.reserved_bytes -= cached_size;
      }
      free_blocks_.clear();
      block = system_allocate(kAlignment, size);
      if (block == nullptr)
        throw Error(fmt::format("out of host memory allocating {} bytes ({} in use)", size,
                                stats_.allocated_bytes));
    }
    ++stats_.system_allocations;
    stats_.reserved_bytes += size;
  }
  live_blocks_.emplace(block, size);
  stats_.allocated_bytes += size;
  if (stats_.allocated_bytes > stats_.peak_allocated_bytes)
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  return block;
}

void HostAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  auto it = live_blocks_.find(ptr);
  TORUS_ASSERT(it != live_blocks_.end(), "freeing a block this allocator does not own");
  stats_.allocated_bytes -= it->second;
  if (kCacheBlocks) {
    free_blocks_.emplace(it->second, ptr);
  } else {
    std::free(ptr);
    stats_.reserved_bytes -= it->second;
  }
  live_blocks_.erase(it);
}

AllocatorStats HostAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void HostAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  for (auto& [size, block] : free_blocks_) {
    std::free(block);
    stats_.reserved_bytes -= size;
  }
  free_blocks_.clear();
}

}  // namespace torus
