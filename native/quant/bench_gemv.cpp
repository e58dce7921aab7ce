// Packed-GEMV benchmark at batch 1: GB/s of packed bytes (codes + scale/zero codes + meta) streamed
// per format, Mixtral expert shape, ISA and thread count, next to this machine's plain streaming read
// bandwidth measured in the same run on the same threads (the speed of light of a memory-bound
// decode). Inside native/ it also times one MoE layer's experts on the CPU exactly as hybrid
// execution runs them (offload::HostExperts: w1/w3 of both experts, barrier, w2), the figure issue #9
// asks to be >= 80% of the read bandwidth. Usage:
//   quant_bench [--threads N] [--quick] [--reps R] [--footprint-mb MB] [--formats a,b] [--shapes s]
//     --threads N   the many-thread column (default: all hardware threads); 1 thread is always run
//     --quick       best ISA only (plus its per-row baseline kernel), at most 9 reps
//     --formats     paper-2bit,2bit-g64,paper-3bit,4bit (default all)
//     --tokens      token counts per matrix call (default 1,4; at most 8: the fused small-T path)
// Rows per format: "<isa>" is the kernel the engine runs; "<isa>-rowdot" is the previous path
// (row_dot per row at T = 1, same results bit for bit; dequantize-row + dot at T > 1), kept as the
// before/after baseline.
// Timing: one warm-up call, then `reps` calls; best and median reported. Calls rotate over copies
// of the weights totalling >= --footprint-mb (default 1024), so each call streams from DRAM, not
// from a large L3. Threads: a persistent lm::cpu::ThreadPool (the engine's), rows split in 4-row
// blocks exactly as CpuBackend::matmul splits them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cpu/thread_pool.h"
#include "fp16.h"
#include "gemv.h"
#ifdef LM_BENCH_HOST_EXPERTS
#include "offload/host_experts.h"
#endif

using namespace lm::quant;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  double best_s, median_s;
};

template <class Fn>
Stats time_it(int reps, Fn fn) {
  fn();  // warm-up
  std::vector<double> t(static_cast<size_t>(std::max(1, reps)));
  for (double& v : t) {
    const auto a = Clock::now();
    fn();
    v = std::chrono::duration<double>(Clock::now() - a).count();
  }
  std::sort(t.begin(), t.end());
  return {t[0], t[t.size() / 2]};
}

struct Format {
  const char* name;
  QuantSpec spec;
};
const Format kFormats[] = {{"paper-2bit", {2, 16, 128}}, {"2bit-g64", {2, 64, 128}},
                           {"paper-3bit", {3, 64, 128}}, {"4bit", {4, 64, 256}}};

// Random packed tensor (the kernels' speed does not depend on the values; HQQ-quantizing a Mixtral
// matrix takes seconds): codes uniform, scales ~0.01, zeros mid-range (like moe synth's).
PackedTensor random_packed(std::mt19937_64& rng, int64_t rows, int64_t cols, const QuantSpec& spec) {
  PackedTensor t;
  t.spec = spec;
  t.rows = rows;
  t.cols = cols;
  auto fill = [&](std::vector<uint8_t>& v, size_t n) {
    v.resize(n);
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t r = rng();
      std::memcpy(v.data() + i, &r, std::min<size_t>(8, n - i));
    }
  };
  fill(t.codes, size_t(rows * row_bytes(spec.bits, cols)));
  const int64_t groups = rows * (cols / spec.group);
  const int64_t n_meta = (groups + spec.meta_group - 1) / spec.meta_group;
  fill(t.scale_codes, size_t(groups));
  fill(t.zero_codes, size_t(groups));
  t.scale_shift = 8;
  const float qmax = float((1 << spec.bits) - 1);
  for (int64_t m = 0; m < n_meta; ++m) {
    t.scale_meta.push_back(float_to_half(1.0f));
    t.scale_meta.push_back(float_to_half(1.0f / 255.0f));
    t.zero_meta.push_back(float_to_half(0.25f * qmax));
    t.zero_meta.push_back(float_to_half(0.5f * qmax / 255.0f));
  }
  return t;
}

struct Kernel {
  std::string name;
  RowKernels k;
};

struct Options {
  int threads = 0, reps = 15;
  bool quick = false;
  int64_t footprint = int64_t(1024) << 20;
  std::vector<std::string> formats, shapes;
  std::vector<int> tokens = {1, 4};
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

bool wanted(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// Streaming read of a 1 GiB buffer by `threads` pool threads (the same loop as moe bench's
// host_read_gbps); best of reps.
double read_gbps(lm::cpu::ThreadPool* pool, int reps) {
  const size_t n = (size_t(1) << 30) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n, 1);
  std::vector<uint64_t> sums(64 * 8);
  auto body = [&](int w, int nw) {
    const size_t a = n * size_t(w) / size_t(nw), b = n * size_t(w + 1) / size_t(nw);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = a; i + 4 <= b; i += 4) s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
    sums[size_t(w % 64) * 8] = s0 + s1 + s2 + s3;
  };
  const Stats s = time_it(reps, [&] {
    if (pool) pool->run(body);
    else body(0, 1);
  });
  uint64_t total = 0;
  for (uint64_t v : sums) total += v;
  if (total == 0) return 0;  // keeps the loads alive
  return double(n * sizeof(uint64_t)) / s.best_s / 1e9;
}

// Y = ŴX for T tokens over all rows through packed_matmul (the backend entry), rows split like
// CpuBackend::matmul (4-row blocks, contiguous ranges per thread).
void matvec(lm::cpu::ThreadPool* pool, const PackedView& v, const float* x, int T, float* y, const RowKernels* k) {
  PackedMatmulArgs a;
  a.w = &v;
  a.x = x;
  a.ldx = v.cols;
  a.T = T;
  a.y = y;
  a.ldy = v.rows;
  if (!pool) {
    a.n0 = 0;
    a.n1 = v.rows;
    return packed_matmul(a, k);
  }
  const int64_t blocks = (v.rows + 3) / 4;
  auto body = [&](int w, int nw) {
    PackedMatmulArgs part = a;
    part.n0 = blocks * w / nw * 4;
    part.n1 = std::min(v.rows, blocks * (w + 1) / nw * 4);
    if (part.n0 < part.n1) packed_matmul(part, k);
  };
  pool->run(body);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") o.threads = std::atoi(val().c_str());
    else if (a == "--reps") o.reps = std::max(1, std::atoi(val().c_str()));
    else if (a == "--quick") o.quick = true;
    else if (a == "--footprint-mb") o.footprint = std::atoll(val().c_str()) << 20;
    else if (a == "--formats") o.formats = split(val());
    else if (a == "--shapes") o.shapes = split(val());
    else if (a == "--tokens") {
      o.tokens.clear();
      for (const std::string& t : split(val())) o.tokens.push_back(std::max(1, std::atoi(t.c_str())));
    }
    else {
      std::fprintf(stderr,
                   "usage: quant_bench [--threads N] [--quick] [--reps R] [--footprint-mb MB] "
                   "[--formats paper-2bit,2bit-g64,paper-3bit,4bit] [--shapes 14336x4096,4096x14336] [--tokens 1,4]\n");
      return 2;
    }
  }
  if (o.threads <= 0) o.threads = std::max(1, int(std::thread::hardware_concurrency()));
  if (o.quick) {
    o.reps = std::min(o.reps, 9);
    if (o.formats.empty()) o.formats = {"paper-2bit", "2bit-g64", "paper-3bit", "4bit"};
  }
  std::unique_ptr<lm::cpu::ThreadPool> pool;
  if (o.threads > 1) pool = std::make_unique<lm::cpu::ThreadPool>(o.threads);

  // Kernels: the engine's (per ISA) and, for ISAs with the fast path, the per-row baseline.
  std::vector<Kernel> kernels;
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Scalar}) {
    const RowKernels* k = row_kernels(isa);
    if (!k || (o.quick && isa != best_isa())) continue;
    if (isa == Isa::Scalar && !kernels.empty()) continue;  // the fallback: only where nothing else runs
    kernels.push_back({k->name, *k});
    if (k->gemv_rows) {
      RowKernels per_row = *k;
      per_row.gemv_rows = nullptr;
      kernels.push_back({std::string(k->name) + "-rowdot", per_row});
    }
  }

  const double read1 = read_gbps(nullptr, 3);
  const double readN = pool ? read_gbps(pool.get(), 5) : read1;
  std::printf("quant_bench: batch-1 packed GEMV, best ISA %s, %d threads%s, reps %d, footprint %lld MB\n",
              isa_name(best_isa()), o.threads, pool && pool->pinned() ? " (pinned)" : "", o.reps,
              static_cast<long long>(o.footprint >> 20));
  std::printf("streaming read: 1 thread %.2f GB/s, %d threads %.2f GB/s\n\n", read1, o.threads, readN);
  std::printf("%-11s %-11s %-15s %9s %9s %8s %9s %9s %8s\n", "format", "shape", "kernel", "1t GB/s", "1t med",
              "1t %rd", "Nt GB/s", "Nt med", "Nt %rd");

  std::mt19937_64 rng(1);
  std::vector<float> x(8 * 14336), y(8 * 14336);
  {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::mt19937 r32(2);
    for (auto& v : x) v = nd(r32);
  }
  const std::pair<int64_t, int64_t> shapes[] = {{14336, 4096}, {4096, 14336}};
  for (const Format& f : kFormats) {
    if (!wanted(o.formats, f.name)) continue;
    for (auto [rows, cols] : shapes) {
      const std::string shape = std::to_string(rows) + "x" + std::to_string(cols);
      if (!wanted(o.shapes, shape)) continue;
      const PackedTensor p = random_packed(rng, rows, cols, f.spec);
      const int n_copies = int(std::max<int64_t>(2, o.footprint / p.bytes() + 1));
      std::vector<PackedTensor> copies(size_t(n_copies), p);
      int next = 0;
      for (int T : o.tokens)
        for (const Kernel& kern : kernels) {
          double gb[2][2] = {};  // [1t, Nt][best, median]
          for (int pass = 0; pass < 2; ++pass) {
            lm::cpu::ThreadPool* tp = pass == 0 ? nullptr : pool.get();
            if (pass == 1 && !tp) break;
            const Stats s = time_it(o.reps, [&] {
              const PackedView v = copies[size_t(next++ % n_copies)].view();
              matvec(tp, v, x.data(), std::min(T, 8), y.data(), &kern.k);
            });
            gb[pass][0] = double(p.bytes()) / s.best_s / 1e9;
            gb[pass][1] = double(p.bytes()) / s.median_s / 1e9;
          }
          const std::string name = kern.name + (T > 1 ? " T=" + std::to_string(std::min(T, 8)) : "");
          std::printf("%-11s %-11s %-15s %9.2f %9.2f %7.0f%% %9.2f %9.2f %7.0f%%\n", f.name, shape.c_str(),
                      name.c_str(), gb[0][0], gb[0][1], 100 * gb[0][0] / read1, gb[1][0], gb[1][1],
                      100 * gb[1][0] / readN);
        }
    }
#ifdef LM_BENCH_HOST_EXPERTS
    // One MoE layer's experts for one token on the CPU (hybrid execution's unit of work).
    {
      const int64_t D = 4096, F = 14336;
      const PackedTensor w1 = random_packed(rng, F, D, f.spec), w2 = random_packed(rng, D, F, f.spec);
      const uint64_t ebytes = uint64_t(2 * w1.bytes() + w2.bytes());
      const int n_exp = int(std::max<int64_t>(4, o.footprint / int64_t(ebytes) + 2));
      std::vector<PackedTensor> store;
      store.reserve(size_t(3 * n_exp));
      for (int e = 0; e < n_exp; ++e) store.push_back(w1), store.push_back(w2), store.push_back(w1);
      std::vector<float> h(static_cast<size_t>(D)), out(static_cast<size_t>(D));
      for (int64_t i = 0; i < D; ++i) h[size_t(i)] = x[size_t(i)];
      for (const Kernel& kern : kernels) {
        double gb[2][2] = {};
        for (int pass = 0; pass < 2; ++pass) {
          if (pass == 1 && !pool) break;
          lm::cpu::ThreadPool one(1);
          lm::cpu::ThreadPool& tp = pass == 0 ? one : *pool;
          lm::offload::HostExperts hx(tp, D, F, 2, &kern.k);
          int e = 0;
          const float wts[2] = {0.6f, 0.4f};
          const Stats s = time_it(o.reps, [&] {
            lm::offload::HostExpertJob jobs[2];
            for (int j = 0; j < 2; ++j) {
              const int id = (e++) % n_exp;
              jobs[j].w = {store[size_t(3 * id)].view(), store[size_t(3 * id + 1)].view(), store[size_t(3 * id + 2)].view()};
              jobs[j].weights = &wts[j];
            }
            std::fill(out.begin(), out.end(), 0.0f);
            hx.run(jobs, 2, h.data(), out.data());
          });
          gb[pass][0] = 2.0 * double(ebytes) / s.best_s / 1e9;
          gb[pass][1] = 2.0 * double(ebytes) / s.median_s / 1e9;
        }
        std::printf("%-11s %-11s %-15s %9.2f %9.2f %7.0f%% %9.2f %9.2f %7.0f%%\n", f.name, "layer(2exp)",
                    kern.name.c_str(), gb[0][0], gb[0][1], 100 * gb[0][0] / read1, gb[1][0], gb[1][1],
                    100 * gb[1][0] / readN);
      }
    }
#endif
  }
  std::printf("\nGB/s = packed bytes (codes + 8-bit scale/zero codes + fp16 meta) / time; best and median"
              " of %d;\n%%rd = best as a fraction of the streaming read at the same thread count. "
              "layer(2exp) = HostExperts::run of 2 experts (w1, w3, w2), T = 1.\n", o.reps);
  return 0;
}
