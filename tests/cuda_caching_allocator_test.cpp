// The caching device allocator's bookkeeping, driven through a fake backend (no GPU):
// size classes, reuse per (stream, size class), cross-stream frees held back by events,
// statistics, empty_cache, out-of-memory retry, and misuse.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "kernels/cuda/caching_allocator.h"
#include "kernels/cuda/cuda_error.h"

namespace torus::cuda {
namespace {

// Hands out fake addresses; counts calls; events complete when the test says so.
struct FakeDevice {
  uintptr_t next_address = 0x10000000;
  size_t capacity = size_t{1} << 40;
  size_t in_use = 0;
  std::map<void*, size_t> live;
  int mallocs = 0, frees = 0;
  std::map<uintptr_t, bool> events;  // id -> completed
  std::map<uintptr_t, Stream> event_stream;
  uintptr_t next_event = 1;
  int synchronized = 0, destroyed = 0;
};

class FakeBackend final : public DeviceMemoryBackend {
 public:
  explicit FakeBackend(FakeDevice* device) : d_(device) {}
  void* allocate(size_t bytes) override {
    if (d_->in_use + bytes > d_->capacity) return nullptr;
    void* ptr = reinterpret_cast<void*>(d_->next_address);
    d_->next_address += (bytes + 4095) / 4096 * 4096 + 4096;
    d_->live[ptr] = bytes;
    d_->in_use += bytes;
    ++d_->mallocs;
    return ptr;
  }
  void release(void* ptr) override {
    auto found = d_->live.find(ptr);
    ASSERT_NE(found, d_->live.end()) << "release of a pointer the device did not give";
    d_->in_use -= found->second;
    d_->live.erase(found);
    ++d_->frees;
  }
  Event record_event(Stream stream) override {
    const uintptr_t id = d_->next_event++;
    d_->events[id] = false;
    d_->event_stream[id] = stream;
    return reinterpret_cast<Event>(id);
  }
  bool event_completed(Event event) override { return d_->events.at(reinterpret_cast<uintptr_t>(event)); }
  void synchronize_event(Event event) override {
    d_->events.at(reinterpret_cast<uintptr_t>(event)) = true;
    ++d_->synchronized;
  }
  void destroy_event(Event event) override {
    ASSERT_EQ(d_->events.erase(reinterpret_cast<uintptr_t>(event)), 1u);
    ++d_->destroyed;
  }

 private:
  FakeDevice* d_;
};

Stream stream(uintptr_t id) { return reinterpret_cast<Stream>(id); }
const Stream kCompute = stream(0x100);
const Stream kComm = stream(0x200);

class CachingAllocatorTest : public ::testing::Test {
 protected:
  FakeDevice device;
  std::unique_ptr<CachingAllocator> allocator =
      std::make_unique<CachingAllocator>(std::make_unique<FakeBackend>(&device));
};

TEST(CachingAllocatorSizes, SmallRoundToHalfKilobytesLargeToTwoMegabytes) {
  EXPECT_EQ(CachingAllocator::round_size(0), 0u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(size_t{1} << 20), size_t{1} << 20);
  EXPECT_EQ(CachingAllocator::round_size((size_t{1} << 20) + 1), size_t{2} << 20);
  EXPECT_EQ(CachingAllocator::round_size(size_t{2} << 20), size_t{2} << 20);
  EXPECT_EQ(CachingAllocator::round_size((size_t{2} << 20) + 1), size_t{4} << 20);
  EXPECT_EQ(CachingAllocator::round_size(size_t{100} << 20), size_t{100} << 20);
  for (size_t bytes : {size_t{1}, size_t{777}, size_t{5000}, size_t{3} << 20, size_t{7777777}}) {
    const size_t rounded = CachingAllocator::round_size(bytes);
    EXPECT_GE(rounded, bytes);
    EXPECT_LT(rounded - bytes, bytes <= (size_t{1} << 20) ? 512u : size_t{2} << 20);
  }
}

TEST_F(CachingAllocatorTest, ZeroBytesIsNullAndFreeOfNullIsANoOp) {
  EXPECT_EQ(allocator->allocate(0, kCompute), nullptr);
  allocator->deallocate(nullptr);
  EXPECT_EQ(device.mallocs, 0);
  EXPECT_EQ(allocator->stats().allocations, 0u);
}

TEST_F(CachingAllocatorTest, FreedBlockIsReusedForTheSameClassOnTheSameStream) {
  void* a = allocator->allocate(1000, kCompute);
  allocator->deallocate(a);
  void* b = allocator->allocate(1024, kCompute);  // 1000 and 1024 share the 1024 class
  EXPECT_EQ(a, b);
  EXPECT_EQ(device.mallocs, 1);
  const AllocatorStats s = allocator->stats();
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.cache_misses, 1u);
  EXPECT_EQ(s.allocations, 2u);
  EXPECT_EQ(s.allocated_bytes, 1024u);
  EXPECT_EQ(s.requested_bytes, 1024u);
  EXPECT_EQ(s.reserved_bytes, 1024u);
}

TEST_F(CachingAllocatorTest, OtherClassesAndOtherStreamsDoNotReuse) {
  void* a = allocator->allocate(1000, kCompute);
  allocator->deallocate(a);
  void* b = allocator->allocate(2000, kCompute);  // another class
  void* c = allocator->allocate(1000, kComm);     // another stream
  EXPECT_NE(b, a);
  EXPECT_NE(c, a);
  EXPECT_EQ(device.mallocs, 3);
  EXPECT_EQ(allocator->stats().cached_blocks, 1u);
  void* d = allocator->allocate(600, kCompute);  // back on the first stream and class
  EXPECT_EQ(d, a);
}

TEST_F(CachingAllocatorTest, SteadyStateTrainingStepsAllocateNothingFromTheDevice) {
  const std::vector<size_t> step_sizes = {4096, 3 << 20, 768 * 4, 50 << 20, 4096, 17};
  for (int step = 0; step < 10; ++step) {
    std::vector<void*> live;
    for (size_t bytes : step_sizes) live.push_back(allocator->allocate(bytes, kCompute));
    for (void* p : live) allocator->deallocate(p);
  }
  EXPECT_EQ(device.mallocs, static_cast<int>(step_sizes.size()));
  const AllocatorStats s = allocator->stats();
  EXPECT_EQ(s.cache_misses, step_sizes.size());
  EXPECT_EQ(s.cache_hits, 9 * step_sizes.size());
  EXPECT_EQ(s.allocated_bytes, 0u);
  EXPECT_EQ(s.active_blocks, 0u);
  EXPECT_EQ(s.cached_blocks, step_sizes.size());
}

TEST_F(CachingAllocatorTest, StatisticsTrackAllocatedReservedAndPeaks) {
  void* a = allocator->allocate(100, kCompute);            // 512
  void* b = allocator->allocate(3 << 20, kCompute);        // 4 MiB
  AllocatorStats s = allocator->stats();
  EXPECT_EQ(s.allocated_bytes, 512u + (4u << 20));
  EXPECT_EQ(s.requested_bytes, 100u + (3u << 20));
  EXPECT_EQ(s.active_blocks, 2u);
  allocator->deallocate(b);
  s = allocator->stats();
  EXPECT_EQ(s.allocated_bytes, 512u);
  EXPECT_EQ(s.reserved_bytes, 512u + (4u << 20));
  EXPECT_EQ(s.peak_allocated_bytes, 512u + (4u << 20));
  allocator->reset_peak();
  EXPECT_EQ(allocator->stats().peak_allocated_bytes, 512u);
  EXPECT_EQ(allocator->stats().peak_reserved_bytes, 512u + (4u << 20));
  allocator->deallocate(a);
  const std::string line = allocator->describe();
  EXPECT_NE(line.find("0 bytes allocated"), std::string::npos) << line;
  EXPECT_NE(line.find("2 blocks cached"), std::string::npos) << line;
}

TEST_F(CachingAllocatorTest, EmptyCacheReturnsFreeBlocksButNotLiveOnes) {
  void* live = allocator->allocate(1 << 20, kCompute);
  void* freed = allocator->allocate(5 << 20, kCompute);
  allocator->deallocate(freed);
  allocator->empty_cache();
  EXPECT_EQ(device.frees, 1);
  EXPECT_EQ(device.live.count(live), 1u);
  const AllocatorStats s = allocator->stats();
  EXPECT_EQ(s.reserved_bytes, size_t{1} << 20);
  EXPECT_EQ(s.cached_blocks, 0u);
  EXPECT_EQ(s.device_frees, 1u);
  allocator->deallocate(live);
  EXPECT_EQ(allocator->allocate(1 << 20, kCompute), live);  // still cached: it was live then
}

TEST_F(CachingAllocatorTest, CrossStreamUseHoldsTheBlockUntilTheEventCompletes) {
  void* a = allocator->allocate(4096, kCompute);
  allocator->record_stream(a, kComm);
  allocator->record_stream(a, kComm);     // once per stream
  allocator->record_stream(a, kCompute);  // its own stream: nothing to wait for
  allocator->deallocate(a);
  ASSERT_EQ(device.events.size(), 1u);
  const uintptr_t event = device.events.begin()->first;
  EXPECT_EQ(device.event_stream[event], kComm);  // recorded on the other stream
  EXPECT_EQ(allocator->stats().pending_blocks, 1u);

  void* b = allocator->allocate(4096, kCompute);  // the comm stream may still read a
  EXPECT_NE(b, a);
  device.events[event] = true;
  void* c = allocator->allocate(4096, kCompute);  // now a is back on its own stream
  EXPECT_EQ(c, a);
  EXPECT_EQ(device.destroyed, 1);
  EXPECT_TRUE(device.events.empty());
  EXPECT_EQ(allocator->stats().pending_blocks, 0u);
}

TEST_F(CachingAllocatorTest, ABlockWaitsForEveryStreamItWasUsedOn) {
  const Stream third = stream(0x300);
  void* a = allocator->allocate(4096, kCompute);
  allocator->record_stream(a, kComm);
  allocator->record_stream(a, third);
  allocator->deallocate(a);
  ASSERT_EQ(device.events.size(), 2u);
  device.events.begin()->second = true;
  EXPECT_NE(allocator->allocate(4096, kCompute), a);
  device.events.rbegin()->second = true;
  EXPECT_EQ(allocator->allocate(4096, kCompute), a);
}

TEST_F(CachingAllocatorTest, EmptyCacheWaitsForPendingBlocks) {
  void* a = allocator->allocate(4096, kCompute);
  allocator->record_stream(a, kComm);
  allocator->deallocate(a);
  allocator->empty_cache();
  EXPECT_EQ(device.synchronized, 1);
  EXPECT_EQ(device.frees, 1);
  EXPECT_EQ(allocator->stats().reserved_bytes, 0u);
  EXPECT_EQ(allocator->stats().pending_blocks, 0u);
}

TEST_F(CachingAllocatorTest, OutOfMemoryFreesTheCacheAndRetries) {
  device.capacity = size_t{8} << 20;
  void* a = allocator->allocate(4 << 20, kCompute);
  allocator->deallocate(a);
  void* b = allocator->allocate(6 << 20, kCompute);  // 4 MiB cached + 6 > 8: retry after freeing
  EXPECT_NE(b, nullptr);
  const AllocatorStats s = allocator->stats();
  EXPECT_EQ(s.oom_retries, 1u);
  EXPECT_EQ(s.reserved_bytes, size_t{6} << 20);
  EXPECT_EQ(device.frees, 1);
}

TEST_F(CachingAllocatorTest, OutOfMemoryAfterRetryThrowsWithTheStatistics) {
  device.capacity = size_t{8} << 20;
  void* a = allocator->allocate(6 << 20, kCompute);
  try {
    allocator->allocate(4 << 20, kCompute);
    FAIL() << "no error";
  } catch (const CudaOutOfMemoryError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("could not allocate 4194304 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("6291456 bytes allocated in 1 blocks"), std::string::npos) << what;
  }
  allocator->deallocate(a);
  EXPECT_EQ(allocator->stats().allocated_bytes, 0u);
}

TEST_F(CachingAllocatorTest, MisuseIsReported) {
  void* a = allocator->allocate(64, kCompute);
  int local = 0;
  EXPECT_THROW(allocator->deallocate(&local), ValueError);
  EXPECT_THROW(allocator->record_stream(&local, kComm), ValueError);
  allocator->deallocate(a);
  EXPECT_THROW(allocator->deallocate(a), ValueError);  // double free
  EXPECT_THROW(allocator->record_stream(a, kComm), ValueError);  // after free
}

TEST_F(CachingAllocatorTest, DestructorReturnsEverythingToTheDevice) {
  void* live = allocator->allocate(1 << 20, kCompute);
  void* pending = allocator->allocate(1 << 10, kCompute);
  allocator->record_stream(pending, kComm);
  allocator->deallocate(pending);
  allocator->deallocate(allocator->allocate(3 << 20, kCompute));
  (void)live;
  allocator.reset();
  EXPECT_TRUE(device.live.empty());
  EXPECT_TRUE(device.events.empty());
}

TEST_F(CachingAllocatorTest, ConcurrentThreadsKeepTheBooksBalanced) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      const Stream own = stream(0x1000 + static_cast<uintptr_t>(t));
      for (int i = 0; i < 2000; ++i) {
        void* p = allocator->allocate(static_cast<size_t>(512 * (1 + i % 7)), own);
        allocator->deallocate(p);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const AllocatorStats s = allocator->stats();
  EXPECT_EQ(s.allocated_bytes, 0u);
  EXPECT_EQ(s.allocations, 8000u);
  EXPECT_EQ(s.cache_misses, 28u);  // 7 classes on each of 4 streams
  EXPECT_EQ(s.cache_hits + s.cache_misses, 8000u);
}

}  // namespace
}  // namespace torus::cuda
