// A persistent pool of worker threads (created once at load, never per token).
//
// run(fn) calls fn(worker, workers) on every worker, the calling thread being worker 0, and returns
// when all are done. Workers spin briefly on a generation counter before sleeping on a condition
// variable: decode issues ~100 small parallel regions per token, and a futex wake-up per region
// would cost more than the work. No allocation per call (the job is a pointer + trampoline).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lm::cpu {

class ThreadPool {
 public:
  // threads: total threads including the caller; <= 0 = hardware threads. With the environment
  // variable LOCALMOE_PIN_THREADS=1, worker i (1..threads-1) is pinned to the i-th CPU of the
  // process's affinity set (Linux; the caller is left alone): steadier memory-bound kernels on a
  // dedicated machine, off by default because an editor's machine runs other work too.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  bool pinned() const { return pinned_; }

  template <typename F>
  void run(F& fn) {
    run_impl(&fn, [](void* ctx, int worker, int n) { (*static_cast<F*>(ctx))(worker, n); });
  }

  // Splits [0, n) into size() contiguous ranges and calls fn(begin, end) for each non-empty one.
  // Runs inline when n * cost_per_item is too small to be worth waking the workers.
  template <typename F>
  void parallel_for(int64_t n, int64_t cost_per_item, F&& fn) {
    parallel_ranges(n, cost_per_item, [&](int, int64_t begin, int64_t end) { fn(begin, end); });
  }

  // As parallel_for, but fn(worker, begin, end) also gets the worker index in [0, size()) (for
  // per-thread scratch memory).
  template <typename F>
  void parallel_ranges(int64_t n, int64_t cost_per_item, F&& fn) {
    const int workers = size();
    if (workers == 1 || n <= 1 || n * cost_per_item < kMinParallelCost) {
      if (n > 0) fn(0, int64_t(0), n);
      return;
    }
    auto body = [&](int w, int nw) {
      const int64_t begin = n * w / nw;
      const int64_t end = n * (w + 1) / nw;
      if (begin < end) fn(w, begin, end);
    };
    run(body);
  }

  // Below this much work (about multiply-adds, ~20-50 us on one core) a parallel region is not
  // worth it: waking a worker costs ~1-5 us on an idle machine, but on an oversubscribed one
  // (shared CI / dev boxes) it can cost a scheduler tick, and a small model's decode issues ~100
  // regions per token. Measured on a loaded 2-core box: threshold 16K multiply-adds made 2-thread
  // decode of a tiny model 10x slower than 1 thread.
  static constexpr int64_t kMinParallelCost = int64_t(1) << 18;

 private:
  using Trampoline = void (*)(void*, int, int);
  void run_impl(void* ctx, Trampoline call);
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  bool pinned_ = false;
  void* job_ctx_ = nullptr;
  Trampoline job_call_ = nullptr;
};

}  // namespace lm::cpu
