// CachingAllocator: device memory for tensors without a cudaMalloc/cudaFree per tensor.
//
// Freed blocks stay cached and are handed out again for a request of the same size class
// on the same stream. Size classes (as PyTorch's allocator, without its block splitting):
// requests up to kSmallLimit (1 MiB) round up to a multiple of kSmallGranularity (512 B),
// wasting under 512 B; larger ones round up to a multiple of kLargeGranularity (2 MiB), the
// GPU's large-page size, wasting under 2 MiB (at most half, just above 1 MiB). Training steps
// allocate the same sizes every step, so exact-class reuse reaches a steady state with no
// device allocation at all.
//
// Stream-aware reuse: a block belongs to the stream it was allocated on and returns to that
// stream's free list, so work queued later on that stream is ordered after every earlier
// use. A block also used on another stream must be announced with record_stream(); when it
// is freed, an event is recorded on each such stream and the block becomes reusable only
// once every event has completed (polled on each allocation; waited for in empty_cache()).
//
// The device calls go through DeviceMemoryBackend, so tests drive the bookkeeping with a
// fake backend and no GPU (tests/cuda_caching_allocator_test.cpp); CudaMemoryBackend
// (cuda_memory_backend.h) is the real one. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

// cudaStream_t without <cuda_runtime.h>: the same type, so callers pass streams directly.
struct CUstream_st;

namespace torus::cuda {

using Stream = CUstream_st*;  // nullptr: the legacy default stream

// What the allocator needs from a device. Events are opaque handles.
class DeviceMemoryBackend {
 public:
  using Event = void*;
  virtual ~DeviceMemoryBackend() = default;
  // nullptr when the device is out of memory; other failures throw.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr) = 0;
  // An event recorded now on `stream`: completes when the stream's work so far is done.
  virtual Event record_event(Stream stream) = 0;
  virtual bool event_completed(Event event) = 0;  // without blocking
  virtual void synchronize_event(Event event) = 0;  // blocks until it completes
  virtual void destroy_event(Event event) = 0;
};

struct AllocatorStats {
  size_t allocated_bytes = 0;       // in blocks handed out (rounded sizes)
  size_t requested_bytes = 0;       // the same blocks, as asked for
  size_t reserved_bytes = 0;        // from the device: handed out + cached + awaiting events
  size_t peak_allocated_bytes = 0;  // since construction or reset_peak()
  size_t peak_reserved_bytes = 0;
  size_t active_blocks = 0;
  size_t cached_blocks = 0;         // free and reusable
  size_t pending_blocks = 0;        // freed, waiting for other streams' events
  uint64_t allocations = 0;         // calls to allocate() with bytes > 0
  uint64_t cache_hits = 0;          // served from a free list
  uint64_t cache_misses = 0;        // served by the device
  uint64_t device_allocations = 0;
  uint64_t device_frees = 0;
  uint64_t oom_retries = 0;         // device out of memory: cache emptied, then retried
};

class CachingAllocator {
 public:
  static constexpr size_t kSmallLimit = size_t{1} << 20;
  static constexpr size_t kSmallGranularity = 512;
  static constexpr size_t kLargeGranularity = size_t{2} << 20;

  // The size class of a request: what a block for it really occupies.
  static size_t round_size(size_t bytes);

  explicit CachingAllocator(std::unique_ptr<DeviceMemoryBackend> backend);
  // Releases every cached block (waiting for pending events); blocks still handed out are
  // a leak of the caller's and are released too, since the device memory dies with us.
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` for use on `stream` (nullptr for 0 bytes). When the device
  // is out of memory, frees the cache and tries once more; then throws CudaOutOfMemoryError
  // naming the request and the statistics.
  void* allocate(size_t bytes, Stream stream);
  // Returns a block from allocate() (nullptr is ignored); unknown pointers throw.
  void deallocate(void* ptr);
  // `ptr` is also used by work on `stream` (other than the one it was allocated on): its
  // reuse waits for that work once it is freed.
  void record_stream(void* ptr, Stream stream);
  // Releases every cached block to the device (waiting for pending ones first).
  void empty_cache();

  AllocatorStats stats() const;
  void reset_peak();
  // One line of the statistics, for error messages and logs.
  std::string describe() const;

 private:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;       // the size class
    size_t requested = 0;  // while handed out
    Stream stream = nullptr;
    std::vector<Stream> used_on;  // other streams, from record_stream()
    std::vector<DeviceMemoryBackend::Event> events;  // while pending
  };
  using PoolKey = std::pair<Stream, size_t>;

  void process_events_locked();
  void release_cached_locked();  // the free lists, back to the device
  void drain_pending_locked();   // wait for every pending block, then cache it
  void cache_block_locked(Block* block);
  std::string describe_locked() const;

  std::unique_ptr<DeviceMemoryBackend> backend_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, std::unique_ptr<Block>> blocks_;  // every block from the device
  std::map<PoolKey, std::vector<Block*>> free_;               // per (stream, size class)
  std::vector<Block*> pending_;                               // in free order
  AllocatorStats stats_;
};

}  // namespace torus::cuda
