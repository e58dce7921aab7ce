// The CPU implementation of lm::Backend: a persistent thread pool plus the runtime-dispatched SIMD
// matmul (cpu/kernels.h). Matmuls split output rows across threads; attention splits (token, head)
// pairs. Element-wise ops are cheap next to the matmuls and run on the calling thread.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "cpu/kernels.h"
#include "cpu/thread_pool.h"

namespace lm::quant {
struct RowKernels;
}

namespace lm::cpu {

class CpuBackend final : public Backend {
 public:
  // threads <= 0: hardware threads. max_context bounds attention's per-thread score scratch.
  CpuBackend(int threads, int max_context, const Kernels& kernels = active_kernels());

  const char* name() const override { return name_.c_str(); }
  int threads() const { return pool_.size(); }
  ThreadPool& pool() { return pool_; }

  std::unique_ptr<Buffer> alloc(size_t bytes) override;
  void copy_to_host(const float* src, size_t n, float* host) override;
  void copy_from_host(const float* host, size_t n, float* dst) override;
  void embed(const WeightView& table, const int32_t* tokens, int T, float* x) override;
  void rmsnorm(const float* x, const WeightView& w, float eps, int T, int D, float* y) override;
  void matmul(const WeightView& w, const float* x, int T, float* y, bool accumulate) override;
  void rope(float* x, int T, int heads, int head_dim, int pos0, const RopeTable& table) override;
  void store_kv(const float* k, const float* v, int T, int width, int pos0, float* k_cache,
                float* v_cache) override;
  void attention(const AttentionArgs& args) override;
  void swiglu(float* a, const float* b, size_t n) override;
  void gather_rows(const float* src, const int32_t* rows, int n, int D, float* dst) override;
  void scatter_add_rows(const float* src, const int32_t* rows, const float* weights, int n, int D,
                        float* dst) override;
  void add(float* x, const float* y, size_t n) override;
  void zero(float* x, size_t n) override;

 private:
  ThreadPool pool_;
  const Kernels& kernels_;
  const quant::RowKernels* packed_kernels_ = nullptr;  // HQQ row kernels; nullptr: quant's best ISA
  int max_context_;
  std::vector<float> scores_;  // [threads, max_context] attention scratch
  std::string name_;
};

}  // namespace lm::cpu
