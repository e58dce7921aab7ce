// Packed-GEMV benchmark: GB/s of packed bytes streamed for one Mixtral expert matrix, per ISA, bit
// width and thread count, next to this machine's plain read bandwidth (the speed of light for a
// memory-bound batch-1 decode). Usage:
//   quant_bench [--rows 14336] [--cols 4096] [--reps 15] [--threads-max 2]
// Timing: one warm-up call, then `reps` calls; min and median reported. Calls rotate over copies of
// the packed matrix totalling >= 512 MB, so each call streams its bytes from DRAM (a 20-30 MB
// matrix alone could stay in a large L3 and overstate the speed).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gemv.h"
#include "hqq.h"

using namespace lm::quant;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  double min_s, median_s;
};

template <class Fn>
Stats time_it(int reps, Fn fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

void parallel(int threads, int64_t rows, const std::function<void(int64_t, int64_t)>& fn) {
  if (threads == 1) return fn(0, rows);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] { fn(rows * i / threads, rows * (i + 1) / threads); });
  for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 14336, cols = 4096;
  int reps = 15, tmax = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rows") rows = std::atoll(argv[i + 1]);
    else if (a == "--cols") cols = std::atoll(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--threads-max") tmax = std::atoi(argv[i + 1]);
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  std::vector<int> thread_counts;  // 1, 2, 4, ... and tmax itself
  for (int t = 1; t < tmax; t *= 2) thread_counts.push_back(t);
  thread_counts.push_back(tmax);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> w(rows * cols), x(cols), y(rows);
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng) * 50;

  // Speed of light: plain reads of a buffer the size of the 4-bit matrix, same thread counts
  // (integer sum: vectorizes with the baseline ISA and has no FP dependency chain).
  std::printf("matrix %lld x %lld (rows = outputs), reps %d, best ISA %s\n", static_cast<long long>(rows),
              static_cast<long long>(cols), reps, isa_name(best_isa()));
  {
    std::vector<uint64_t> buf((512ull << 20) / 8, 1);  // 512 MB: far beyond any L3
    std::vector<uint64_t> part(static_cast<size_t>(tmax));
    for (int t : thread_counts) {
      const Stats s = time_it(reps, [&] {
        parallel(t, static_cast<int64_t>(buf.size()), [&](int64_t a, int64_t b) {
          uint64_t acc = 0;
          for (int64_t i = a; i < b; ++i) acc += buf[i];
          part[a * t / static_cast<int64_t>(buf.size())] = acc;
        });
      });
      std::printf("%-8s %-10s threads=%d  %8.2f GB/s (min %.3f ms, median %.3f ms)\n", "read",
                  "(memory)", t, static_cast<double>(buf.size()) * 8.0 / s.min_s / 1e9, s.min_s * 1e3, s.median_s * 1e3);
    }
  }
  for (int bits : {2, 3, 4}) {
    const int group = bits == 2 ? 16 : 64;
    const auto q0 = Clock::now();
    const PackedTensor p = quantize(w.data(), rows, cols, QuantSpec{bits, group, 128}, Method::Hqq, {}, tmax);
    std::printf("quantize (HQQ, %d threads) %d-bit g%d: %.2f s\n", tmax, bits, group,
                std::chrono::duration<double>(Clock::now() - q0).count());
    // Rotate over copies totalling >= 512 MB so every call streams from DRAM, not from L3.
    const int n_copies = static_cast<int>(std::max<int64_t>(2, (512ll << 20) / p.bytes() + 1));
    std::vector<PackedTensor> copies(n_copies, p);
    int next = 0;
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      const RowKernels* k = row_kernels(isa);
      if (!k) continue;
      for (int t : thread_counts) {
        if (isa == Isa::Scalar && t > 1) continue;  // the fallback's speed matters at one thread only
        const Stats s = time_it(isa == Isa::Scalar ? 3 : reps, [&] {
          const PackedView v = copies[next++ % n_copies].view();
          parallel(t, rows, [&](int64_t a, int64_t b) { gemv(v, x.data(), y.data(), a, b, k); });
        });
        std::printf("%-8s %d-bit g%-3d threads=%d  %8.2f GB/s  %7.2f Gweights/s (min %.3f ms, median %.3f ms, %.1f MB)\n",
                    k->name, bits, group, t, static_cast<double>(p.bytes()) / s.min_s / 1e9,
                    static_cast<double>(rows * cols) / s.min_s / 1e9, s.min_s * 1e3, s.median_s * 1e3,
                    static_cast<double>(p.bytes()) / 1e6);
      }
    }
  }
  return 0;
}
