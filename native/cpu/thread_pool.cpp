#include "cpu/thread_pool.h"

#include <cstdlib>
#include <cstring>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LM_CPU_RELAX() _mm_pause()
#else
#define LM_CPU_RELAX() std::this_thread::yield()
#endif

namespace lm::cpu {

namespace {
// A worker spins ~0.1-0.3 ms before sleeping: covers the gap between parallel regions within a
// token and between tokens, without burning a core when the engine is idle.
constexpr int kSpinIterations = 1 << 12;
// The caller spins much less before yielding while it waits for workers: when the machine is
// oversubscribed a worker may be descheduled, and spinning would take the core it needs.
constexpr int kCallerSpinIterations = 1 << 9;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  workers_.reserve(size_t(threads - 1));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
#if defined(__linux__)
  const char* pin = std::getenv("LOCALMOE_PIN_THREADS");
  cpu_set_t allowed;
  if (pin && std::strcmp(pin, "1") == 0 && !workers_.empty() &&
      sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    int cpus[CPU_SETSIZE];
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
    bool ok = n > 0;
    for (size_t i = 0; i < workers_.size() && ok; ++i) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[(i + 1) % size_t(n)], &one);
      ok = pthread_setaffinity_np(workers_[i].native_handle(), sizeof(one), &one) == 0;
    }
    pinned_ = ok;
  }
#endif
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_impl(void* ctx, Trampoline call) {
  const int n = size();
  if (n == 1) {
    call(ctx, 0, 1);
    return;
  }
  job_ctx_ = ctx;
  job_call_ = call;
  pending_.store(n - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  call(ctx, 0, n);
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kCallerSpinIterations) LM_CPU_RELAX();
    else std::this_thread::yield();  // a worker was descheduled (shared machine): let it run
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      LM_CPU_RELAX();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    job_call_(job_ctx_, index, size());
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace lm::cpu
