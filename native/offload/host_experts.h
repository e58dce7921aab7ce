// Experts computed on the CPU where they lie (hybrid execution, issue #9): the SwiGLU experts of one
// layer for T tokens, read straight from host memory in the packed HQQ layout (the pinned expert
// store or the mmap: the same bytes a copy would move to the GPU), on the persistent thread pool.
//
// One call is one parallel region: the rows of w1/w3 of *all* the call's experts are split across
// all threads (each thread fuses silu(x·w1ᵀ) ⊙ (x·w3ᵀ) on its rows), a barrier, then the rows of
// w2 (output features) are split the same way and each thread also combines its rows of the
// result. Splitting the whole layer's rows, not each expert's, keeps every core streaming DRAM
// even when one expert is needed. Kernels: quant::packed_matmul (AVX-512 / AVX2 / scalar at run
// time), the very ones the CPU backend runs, so a result is bit-identical to the CPU backend's
// matmul/swiglu/matmul/scatter-add sequence for the same experts in the same order.
//
// No allocation per call: scratch for the most token rows a call may carry is allocated once.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "cpu/thread_pool.h"
#include "quant/gemv_abi.h"
#include "quant/packed_experts.h"

namespace lm::offload {

// One expert's share of a call: its packed weights, the token rows of the input it gets and the
// router weight of each.
struct HostExpertJob {
  quant::PackedExpert w;            // views into host memory
  const int32_t* rows = nullptr;    // [count] rows of h (null: rows 0..count-1)
  const float* weights = nullptr;   // [count] router weights (used when combining into `out`)
  int count = 1;
  float* y = nullptr;               // optional [count, D]: the expert's own (unweighted) output
};

class HostExperts {
 public:
  // hidden D, intermediate F; max_rows: the most (token, expert) pairs one call may carry.
  // kernels == nullptr: the best ISA this CPU runs (quant::best_isa()).
  HostExperts(cpu::ThreadPool& pool, int64_t hidden, int64_t intermediate, int max_rows,
              const quant::RowKernels* kernels = nullptr);

  // For each job j and i < count: y_ji = expert_j(h[rows[i], :]) (into job.y when given), and when
  // `out` is non-null  out[rows[i], :] += weights[i] · y_ji,  jobs added in the order given (give
  // them in expert order to match the CPU backend's sum). h, out: [*, D] host memory.
  void run(const HostExpertJob* jobs, int n_jobs, const float* h, float* out);

  // Bytes of packed weights one expert reads (w1 + w2 + w3 codes, scales, zeros, meta).
  static uint64_t expert_bytes(const quant::PackedExpert& e);

 private:
  cpu::ThreadPool& pool_;
  int64_t D_, F_;
  int max_rows_;
  const quant::RowKernels* kernels_;
  std::vector<float> x_, gate_, up_, y_;  // [max_rows, D], [max_rows, F] x2, [max_rows, D]
  std::vector<int> offset_;              // first scratch row of each job
  std::atomic<int> arrived_{0};          // the barrier between the w1/w3 and the w2 phase
};

}  // namespace lm::offload
