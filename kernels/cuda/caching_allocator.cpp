// The caching allocator's bookkeeping (see caching_allocator.h); no CUDA calls here, they
// all go through the DeviceMemoryBackend.
#include "kernels/cuda/caching_allocator.h"

#include <algorithm>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_error.h"

namespace torus::cuda {

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) return 0;
  const size_t granularity = bytes <= kSmallLimit ? kSmallGranularity : kLargeGranularity;
  return (bytes + granularity - 1) / granularity * granularity;
}

CachingAllocator::CachingAllocator(std::unique_ptr<DeviceMemoryBackend> backend)
    : backend_(std::move(backend)) {
  TORUS_ASSERT(backend_ != nullptr, "CachingAllocator needs a backend");
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  // A destructor must not throw; a device error now has nowhere to go.
  try {
    drain_pending_locked();
  } catch (...) {
  }
  for (auto& [ptr, block] : blocks_) {
    try {
      backend_->release(ptr);
    } catch (...) {
    }
  }
}

void* CachingAllocator::allocate(size_t bytes, Stream stream) {
  if (bytes == 0) return nullptr;
  const size_t size = round_size(bytes);
  TORUS_CHECK(size >= bytes, "CUDA caching allocator: {} bytes is too large a request", bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.allocations;
  process_events_locked();

  Block* block = nullptr;
  auto pool = free_.find({stream, size});
  if (pool != free_.end() && !pool->second.empty()) {
    // Most recently freed first: its memory is the likeliest still in L2.
    block = pool->second.back();
    pool->second.pop_back();
    --stats_.cached_blocks;
    ++stats_.cache_hits;
  } else {
    ++stats_.cache_misses;
    void* ptr = backend_->allocate(size);
    if (ptr == nullptr) {
      // Out of memory: whatever is cached (and, after waiting, pending) goes back first.
      ++stats_.oom_retries;
      drain_pending_locked();
      release_cached_locked();
      ptr = backend_->allocate(size);
    }
    if (ptr == nullptr)
      throw CudaOutOfMemoryError(
          fmt::format("CUDA out of memory: could not allocate {} bytes (size class {}); {}", bytes,
                      size, describe_locked()),
          static_cast<int>(cudaErrorMemoryAllocation));
    ++stats_.device_allocations;
    auto owned = std::make_unique<Block>();
    owned->ptr = ptr;
    owned->size = size;
    owned->stream = stream;
    block = owned.get();
    TORUS_ASSERT(blocks_.emplace(ptr, std::move(owned)).second,
                 "device returned pointer {} twice", ptr);
    stats_.reserved_bytes += size;
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  }
  block->requested = bytes;
  ++stats_.active_blocks;
  stats_.allocated_bytes += size;
  stats_.requested_bytes += bytes;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return block->ptr;
}

void CachingAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = blocks_.find(ptr);
  TORUS_CHECK(found != blocks_.end(), "CUDA caching allocator: {} was not allocated here", ptr);
  Block* block = found->second.get();
  TORUS_CHECK(block->requested != 0, "CUDA caching allocator: {} is freed twice", ptr);
  --stats_.active_blocks;
  stats_.allocated_bytes -= block->size;
  stats_.requested_bytes -= block->requested;
  block->requested = 0;
  if (block->used_on.empty()) {
    cache_block_locked(block);
    return;
  }
  for (Stream other : block->used_on) block->events.push_back(backend_->record_event(other));
  block->used_on.clear();
  pending_.push_back(block);
  ++stats_.pending_blocks;
}

void CachingAllocator::record_stream(void* ptr, Stream stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = blocks_.find(ptr);
  TORUS_CHECK(found != blocks_.end() && found->second->requested != 0,
              "CUDA caching allocator: record_stream on {}, which is not allocated", ptr);
  Block* block = found->second.get();
  if (stream == block->stream) return;  // its own stream orders every use already
  if (std::find(block->used_on.begin(), block->used_on.end(), stream) == block->used_on.end())
    block->used_on.push_back(stream);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  drain_pending_locked();
  release_cached_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

std::string CachingAllocator::describe() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return describe_locked();
}

std::string CachingAllocator::describe_locked() const {
  return fmt::format(
      "allocator: {} bytes allocated in {} blocks (peak {}), {} reserved (peak {}), {} blocks "
      "cached, {} awaiting other streams; {} hits, {} misses",
      stats_.allocated_bytes, stats_.active_blocks, stats_.peak_allocated_bytes,
      stats_.reserved_bytes, stats_.peak_reserved_bytes, stats_.cached_blocks,
      stats_.pending_blocks, stats_.cache_hits, stats_.cache_misses);
}

void CachingAllocator::cache_block_locked(Block* block) {
  free_[{block->stream, block->size}].push_back(block);
  ++stats_.cached_blocks;
}

// Pending blocks whose events have all completed become reusable on their own stream.
void CachingAllocator::process_events_locked() {
  auto still_pending = pending_.begin();
  for (Block* block : pending_) {
    auto& events = block->events;
    for (auto event = events.begin(); event != events.end();) {
      if (backend_->event_completed(*event)) {
        backend_->destroy_event(*event);
        event = events.erase(event);
      } else {
        ++event;
      }
    }
    if (events.empty()) {
      --stats_.pending_blocks;
      cache_block_locked(block);
    } else {
      *still_pending++ = block;
    }
  }
  pending_.erase(still_pending, pending_.end());
}

void CachingAllocator::drain_pending_locked() {
  for (Block* block : pending_) {
    for (DeviceMemoryBackend::Event event : block->events) {
      backend_->synchronize_event(event);
      backend_->destroy_event(event);
    }
    block->events.clear();
    --stats_.pending_blocks;
    cache_block_locked(block);
  }
  pending_.clear();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [key, pool] : free_) {
    for (Block* block : pool) {
      backend_->release(block->ptr);
      ++stats_.device_frees;
      stats_.reserved_bytes -= block->size;
      --stats_.cached_blocks;
      blocks_.erase(block->ptr);
    }
  }
  free_.clear();
}

}  // namespace torus::cuda
