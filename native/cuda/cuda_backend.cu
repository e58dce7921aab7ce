// CUDA backend: see cuda_backend.h. Kernels live in kernels.cuh (elementwise, attention, routing)
// and packed_matvec.cu (HQQ-packed matmul); the expert cache in expert_cache.cu.
//  - 16-bit matmul: warp per output row; packed matmul: a block of 32 rows, 8 warps splitting K.
//  - everything runs on one compute stream in order; expert copies on the cache's copy stream.
//  - quantized models: the backend owns the experts (ExpertCache) and routes on the device. With
//    every expert resident a decode step needs no host synchronisation and is recorded once as a
//    CUDA graph, then replayed (one launch per token). With offloading the host reads each layer's
//    routing (it must pick what to copy) and starts speculative copies for the next layers.
#include "cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "common/check.h"
#include "cpu/thread_pool.h"
#include "cuda/cuda_check.h"
#include "cuda/expert_cache.h"
#include "cuda/kernels.cuh"
#include "cuda/packed_matvec.h"
#include "offload/host_experts.h"

namespace lm::cuda {

namespace {

#define LM_CUDA(call, what) check((call), (what))

// ---------- host side ----------

class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(size_t bytes, cudaStream_t stream) : bytes_(bytes) {
    LM_CUDA(cudaMalloc(&data_, std::max<size_t>(bytes, 4)), "allocating activations / KV cache");
    LM_CUDA(cudaMemsetAsync(data_, 0, std::max<size_t>(bytes, 4), stream), "clearing a buffer");
  }
  ~DeviceBuffer() override { cudaFree(data_); }
  float* f32() override { return static_cast<float*>(data_); }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

int blocks_for(size_t n, int threads) {
  return int(std::min<size_t>((n + size_t(threads) - 1) / size_t(threads), 65535));
}

// Pinned host memory (async copies, graph memcpy nodes).
template <typename T>
struct Pinned {
  T* p = nullptr;
  void alloc(size_t n) {
    if (p) cudaFreeHost(p);
    LM_CUDA(cudaHostAlloc(reinterpret_cast<void**>(&p), std::max<size_t>(n, 1) * sizeof(T), cudaHostAllocDefault),
            "allocating pinned host memory");
  }
  ~Pinned() {
    if (p) cudaFreeHost(p);
  }
};

// Device memory owned by the backend.
struct DeviceMem {
  void* p = nullptr;
  ~DeviceMem() {
    if (p) cudaFree(p);
  }
};

// Decode-step parameters read by a replayed graph.
struct StepParams {
  int32_t token = 0;
  int32_t pos = 0;
};

// LOCALMOE_CUDA_TIMING=1: per-op GPU time (events around every op, graphs off), printed to stderr
// when the backend is destroyed. For finding where a decode step's time goes; never on by default.
class OpTimer {
 public:
  explicit OpTimer(cudaStream_t s) : stream_(s), on_(std::getenv("LOCALMOE_CUDA_TIMING") != nullptr) {}
  bool on() const { return on_; }
  void begin(const char* name) {
    if (!on_) return;
    cudaEvent_t a = nullptr;
    cudaEventCreate(&a);
    cudaEventRecord(a, stream_);
    open_.push_back({name, a});
  }
  void end() {
    if (!on_ || open_.empty()) return;
    cudaEvent_t b = nullptr;
    cudaEventCreate(&b);
    cudaEventRecord(b, stream_);
    done_.push_back({open_.back().first, open_.back().second, b});
    open_.pop_back();
    if (done_.size() > 4096) harvest();
  }
  ~OpTimer() {
    if (!on_) return;
    harvest();
    double total = 0;
    for (const auto& [name, ms] : ms_) total += ms;
    for (const auto& [name, ms] : ms_)
      std::fprintf(stderr, "cuda timing: %-16s %9.2f ms %5.1f%%  (%llu calls)\n", name.c_str(), ms, 100 * ms / total,
                   static_cast<unsigned long long>(calls_[name]));
  }

 private:
  struct Done {
    const char* name;
    cudaEvent_t a, b;
  };
  void harvest() {
    cudaStreamSynchronize(stream_);
    for (const Done& d : done_) {
      float ms = 0;
      cudaEventElapsedTime(&ms, d.a, d.b);
      ms_[d.name] += ms;
      ++calls_[d.name];
      cudaEventDestroy(d.a);
      cudaEventDestroy(d.b);
    }
    done_.clear();
  }
  cudaStream_t stream_;
  bool on_;
  std::vector<std::pair<const char*, cudaEvent_t>> open_;
  std::vector<Done> done_;
  std::map<std::string, double> ms_;
  std::map<std::string, uint64_t> calls_;
};

struct Timed {
  OpTimer& t;
  Timed(OpTimer& timer, const char* name) : t(timer) { t.begin(name); }
  ~Timed() { t.end(); }
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) {
    LM_CUDA(cudaSetDevice(device), "selecting the GPU");
    cudaDeviceProp prop{};
    LM_CUDA(cudaGetDeviceProperties(&prop, device), "reading GPU properties");
    name_ = str("cuda:", device, " ", prop.name);
    max_smem_ = int(prop.sharedMemPerBlockOptin) - 1024;  // leave room for static shared memory
    LM_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a CUDA stream");
    timer_ = std::make_unique<OpTimer>(stream_);
    LM_CUDA(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem_),
            "configuring the attention kernel");
    packed_matvec_init();
    step_host_.alloc(1);
    LM_CUDA(cudaMalloc(&step_dev_.p, sizeof(StepParams)), "allocating step parameters");
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    timer_.reset();
    for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
    cache_.reset();
    for (void* p : placed_) cudaFree(p);
    if (scratch_) cudaFree(scratch_);
    cudaStreamDestroy(stream_);
  }

  const char* name() const override { return name_.c_str(); }

  WeightView place(const WeightView& host, MemoryKind kind) override {
    if (host.is_packed()) return place_packed(host, kind);
    WeightView dev = host;
    dev.data = upload(host.data, host.bytes(), kind);
    return dev;
  }

  MemoryUse memory_use() const override { return use_; }

  std::unique_ptr<Buffer> alloc(size_t bytes) override {
    auto b = std::make_unique<DeviceBuffer>(bytes, stream_);
    use_.activations += bytes;
    return b;
  }

  void copy_to_host(const float* src, size_t n, float* host) override {
    if (n == 0) return;
    if (capturing_) {  // recorded into the pinned logits buffer; graph_end copies it out
      LM_ASSERT(n <= logits_cap_, "graph logits buffer too small");
      LM_CUDA(cudaMemcpyAsync(logits_host_.p, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "copying logits");
      captured_logits_ = n;
      return;
    }
    LM_CUDA(cudaMemcpyAsync(host, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "copying to the host");
    LM_CUDA(cudaStreamSynchronize(stream_), "running the forward pass");
  }
  void copy_from_host(const float* host, size_t n, float* dst) override {
    if (n == 0) return;
    LM_CUDA(cudaMemcpyAsync(dst, host, n * sizeof(float), cudaMemcpyHostToDevice, stream_), "copying to the GPU");
    LM_CUDA(cudaStreamSynchronize(stream_), "copying to the GPU");
  }

  void embed(const WeightView& table, const int32_t* tokens, int T, float* x) override {
    const int32_t* dtok = capturing_ ? &step_dev()->token : stage_ints(tokens, T);
    const int D = int(table.cols);
    dispatch(table.dtype, [&](auto tag) {
      using WT = decltype(tag);
      embed_kernel<WT><<<T, 256, 0, stream_>>>(static_cast<const WT*>(table.data), dtok, D, x);
    });
    launched("embed");
  }

  void rmsnorm(const float* x, const WeightView& w, float eps, int T, int D, float* y) override {
    Timed timed(*timer_, "rmsnorm");
    dispatch(w.dtype, [&](auto tag) {
      using WT = decltype(tag);
      rmsnorm_kernel<WT><<<T, 256, 0, stream_>>>(x, static_cast<const WT*>(w.data), eps, D, y);
    });
    launched("rmsnorm");
  }

  void matmul(const WeightView& w, const float* x, int T, float* y, bool accumulate) override {
    Timed timed(*timer_, w.is_packed() ? "matmul packed" : "matmul 16-bit");
    if (w.is_packed()) {
      MatvecLaunch L;
      L.n_jobs = 1;
      L.T = T;
      MatvecJob& j = L.jobs[0];
      j.w = packed_matrix(*w.packed);
      j.x = x;
      j.ldx = w.cols;
      j.y = y;
      j.ldy = w.rows;
      j.mode = accumulate ? MatvecMode::Accumulate : MatvecMode::Store;
      packed_matvec(L, stream_);
      return;
    }
    const int N = int(w.rows), K = int(w.cols);
    matmul_16bit(w, x, T, y, accumulate, N, K);
  }

  void matmul_shared_input(const WeightView* const* ws, float* const* ys, int n, const float* x, int T) override {
    bool one_launch = n <= kMaxJobs;
    for (int i = 0; i < n && one_launch; ++i)
      one_launch = ws[i]->is_packed() && ws[i]->packed->spec.bits == ws[0]->packed->spec.bits &&
                   ws[i]->packed->spec.group == ws[0]->packed->spec.group;
    if (!one_launch) return Backend::matmul_shared_input(ws, ys, n, x, T);
    Timed timed(*timer_, "matmul packed");
    MatvecLaunch L;
    L.n_jobs = n;
    L.T = T;
    for (int i = 0; i < n; ++i) {
      MatvecJob& j = L.jobs[i];
      j.w = packed_matrix(*ws[i]->packed);
      j.x = x, j.ldx = ws[i]->cols;
      j.y = ys[i], j.ldy = ws[i]->rows;
    }
    packed_matvec(L, stream_);
  }

 private:
  void matmul_16bit(const WeightView& w, const float* x, int T, float* y, bool accumulate, int N, int K) {
    dispatch(w.dtype, [&](auto tag) {
      using WT = decltype(tag);
      const bool vec = K % (16 / int(sizeof(WT))) == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
      const dim3 block(kRowsPerBlock * kWarp);
      const WT* W = static_cast<const WT*>(w.data);
      if (T == 1) {
        const dim3 grid((N + kRowsPerBlock - 1) / kRowsPerBlock, 1);
        if (vec) matmul_kernel<WT, 1, true><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
        else matmul_kernel<WT, 1, false><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
      } else {
        constexpr int TB = 8;
        const dim3 grid((N + kRowsPerBlock - 1) / kRowsPerBlock, (T + TB - 1) / TB);
        if (vec) matmul_kernel<WT, TB, true><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
        else matmul_kernel<WT, TB, false><<<grid, block, 0, stream_>>>(W, x, y, N, K, T, accumulate);
      }
    });
    launched("matmul");
  }

 public:
  void rope(float* x, int T, int heads, int head_dim, int pos0, const RopeTable& table) override {
    rope_kernel<<<dim3(T, heads), 64, 0, stream_>>>(x, heads, head_dim, pos0, pos_ptr(), table.cos, table.sin);
    launched("rope");
  }

  void store_kv(const float* k, const float* v, int T, int width, int pos0, float* k_cache,
                float* v_cache) override {
    const size_t n = size_t(T) * size_t(width);
    store_kv_kernel<<<blocks_for(n, 256), 256, 0, stream_>>>(k, v, T, width, pos0, pos_ptr(), k_cache, v_cache);
    launched("store_kv");
  }

  void attention(const AttentionArgs& a) override {
    Timed timed(*timer_, a.T > 1 ? "attention prefill" : "attention");
    // Prefill: the tiled kernel (kernels.cuh) when the shape allows; LOCALMOE_ATTN_TILED=0 turns it off.
    static const bool tiled_on = [] {
      const char* v = std::getenv("LOCALMOE_ATTN_TILED");
      return v == nullptr || std::strcmp(v, "0") != 0;
    }();
    const int G = a.kv_heads > 0 ? a.heads / a.kv_heads : 0;
    if (tiled_on && !capturing_ && a.T > 1 && G > 0 && a.heads % a.kv_heads == 0 && kAttnRows % G == 0 &&
        a.head_dim % 4 == 0 && a.head_dim <= kAttnMaxDim) {
      const size_t smem = attention_prefill_smem(a.head_dim);
      static bool configured = false;
      if (!configured) {
        LM_CUDA(cudaFuncSetAttribute(attention_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     int(attention_prefill_smem(kAttnMaxDim))),
                "configuring the prefill attention kernel");
        configured = true;
      }
      const int qt = kAttnRows / G;
      attention_prefill_kernel<<<dim3((a.T + qt - 1) / qt, a.kv_heads), 256, smem, stream_>>>(
          a.q, a.k_cache, a.v_cache, a.out, a.T, a.pos0, pos_ptr(), a.heads, a.kv_heads, a.head_dim,
          a.sliding_window, a.scale);
      launched("attention");
      return;
    }
    // Scores of every visible position live in shared memory; a recorded graph must fit any
    // position it may replay at, so it reserves the most the GPU allows.
    const int visible = a.pos0 + a.T;
    const size_t smem = capturing_ ? size_t(max_smem_) : size_t(a.head_dim + visible) * sizeof(float);
    if (size_t(a.head_dim + visible) * sizeof(float) > size_t(max_smem_))
      fail("context of ", visible, " tokens exceeds this GPU's attention scratch (", max_smem_ / 4 - a.head_dim,
           " positions); load with a smaller max_context");
    attention_kernel<<<dim3(a.T, a.heads), 256, smem, stream_>>>(a.q, a.k_cache, a.v_cache, a.out, a.pos0,
                                                                  pos_ptr(), a.heads, a.kv_heads, a.head_dim,
                                                                  a.sliding_window, a.scale);
    launched("attention");
  }

  void swiglu(float* a, const float* b, size_t n) override {
    swiglu_kernel<<<blocks_for(n, 256), 256, 0, stream_>>>(a, b, n);
    launched("swiglu");
  }

  void gather_rows(const float* src, const int32_t* rows, int n, int D, float* dst) override {
    const int32_t* drows = stage_ints(rows, n);
    gather_rows_kernel<<<n, 256, 0, stream_>>>(src, drows, D, dst);
    launched("gather_rows");
  }

  void scatter_add_rows(const float* src, const int32_t* rows, const float* weights, int n, int D,
                        float* dst) override {
    // rows and weights come from the host router: stage both in one copy.
    ensure_scratch(size_t(n) * 8);
    std::memcpy(host_stage_.data(), rows, size_t(n) * 4);
    std::memcpy(host_stage_.data() + size_t(n) * 4, weights, size_t(n) * 4);
    LM_CUDA(cudaMemcpyAsync(scratch_, host_stage_.data(), size_t(n) * 8, cudaMemcpyHostToDevice, stream_),
            "staging routing");
    const auto* drows = static_cast<const int32_t*>(scratch_);
    const auto* dweights = reinterpret_cast<const float*>(static_cast<const uint8_t*>(scratch_) + size_t(n) * 4);
    scatter_add_rows_kernel<<<n, 256, 0, stream_>>>(src, drows, dweights, D, dst);
    launched("scatter_add_rows");
  }

  void add(float* x, const float* y, size_t n) override {
    add_kernel<<<blocks_for(n, 256), 256, 0, stream_>>>(x, y, n);
    launched("add");
  }

  void zero(float* x, size_t n) override {
    LM_CUDA(cudaMemsetAsync(x, 0, n * sizeof(float), stream_), "clearing a buffer");
  }

  // ---------- experts ----------

  void bind(const quant::PackedExperts& experts, const ModelConfig& c, const ExpertPlan& plan) {
    L_ = c.num_layers, E_ = c.num_experts, K_ = c.experts_per_token, D_ = c.hidden_size, F_ = c.intermediate_size;
    if (K_ > 8) fail("models routing each token to more than 8 experts are not supported on the CUDA backend");
    lookahead_ = std::clamp(plan.lookahead, 0, 2);
    guesses_ = std::clamp(plan.guesses, 1, E_);
    C_ = std::max(1, plan.max_tokens);
    const ExpertLayout layout = expert_layout(experts, L_, E_);
    experts_ = &experts;
    cpu_layers_ = plan.cpu_layers;
    hybrid_ = plan.hybrid;
    if (cpu_layers_ < 0 || cpu_layers_ > L_) fail("cpu_expert_layers must be in [0, ", L_, "], got ", cpu_layers_);
    const int gpu_layers = L_ - cpu_layers_;  // layers [cpu_layers_, L) get VRAM slots

    // Scratch of the expert path, allocated before sizing the cache so the budget counts it.
    const size_t rows = size_t(std::max(C_, 2 * K_));  // decode: w1 and w3 outputs of K experts
    auto dev = [&](size_t bytes) {
      void* p = nullptr;
      LM_CUDA(cudaMalloc(&p, std::max<size_t>(bytes, 16)), "allocating expert scratch");
      placed_.push_back(p);
      use_.activations += bytes;
      return p;
    };
    d_ids_ = static_cast<int32_t*>(dev(size_t(C_) * size_t(K_) * 4));
    d_w_ = static_cast<float*>(dev(size_t(C_) * size_t(K_) * 4));
    d_forced_ = static_cast<int32_t*>(dev(size_t(C_) * size_t(K_) * 4));
    d_guess_ = static_cast<float*>(dev(2 * size_t(E_) * 4));
    d_a_ = static_cast<float*>(dev(rows * size_t(F_) * 4));
    d_y_ = static_cast<float*>(dev(rows * size_t(D_) * 4));
    d_xs_ = static_cast<float*>(dev(size_t(C_) * size_t(D_) * 4));
    d_moe_ = static_cast<float*>(dev(size_t(C_) * size_t(D_) * 4));
    d_stage_ = static_cast<int32_t*>(dev(size_t(E_) * size_t(C_) * 8));
    d_usage_ = static_cast<unsigned long long*>(dev(size_t(L_) * size_t(E_) * 8));
    LM_CUDA(cudaMemset(d_usage_, 0, size_t(L_) * size_t(E_) * 8), "clearing counters");
    h_ids_.alloc(size_t(C_) * size_t(K_));
    h_w_.alloc(size_t(C_) * size_t(K_));
    h_guess_.alloc(2 * size_t(E_));
    h_stage_.alloc(size_t(E_) * size_t(C_) * 2);
    all_experts_.resize(size_t(E_));
    for (int e = 0; e < E_; ++e) all_experts_[size_t(e)] = e;
    usage_host_.resize(size_t(L_) * size_t(E_));

    // Slots: all experts when there is no budget; otherwise what the budget leaves after everything
    // allocated so far, with a margin for the CUDA context's own allocations.
    std::vector<int> gpu_slots(size_t(gpu_layers), E_);
    if (plan.slots > 0) {
      if (plan.slots < K_) fail("expert_slots must be at least ", K_, " (experts per token), got ", plan.slots);
      gpu_slots.assign(size_t(gpu_layers), std::min(plan.slots, E_));
    } else if (plan.vram_budget >= 0) {
      size_t free_b = 0, total_b = 0;
      LM_CUDA(cudaMemGetInfo(&free_b, &total_b), "reading free GPU memory");
      constexpr int64_t kMargin = 512ll << 20;
      const int64_t used = int64_t(use_.total()) + int64_t(L_) * E_ * 8;
      const int64_t budget = plan.vram_budget > 0 ? plan.vram_budget : int64_t(free_b) + used - kMargin;
      budget_ = uint64_t(std::max<int64_t>(budget, 0));
      const int64_t left = std::min<int64_t>(budget - used, int64_t(free_b) - kMargin);
      const int64_t total_slots = left > 0 ? left / int64_t(layout.bytes) : 0;
      if (total_slots < int64_t(gpu_layers) * E_) {
        gpu_slots = offload::split_slots(total_slots, gpu_layers, E_, K_);
        if (gpu_slots.empty())
          fail("the VRAM budget of ", budget / (1 << 20), " MiB leaves room for ", total_slots,
               " experts but this model needs at least ", gpu_layers * K_, " (", K_, " per layer, ",
               layout.bytes / (1 << 20), " MiB each) after ", used / (1 << 20),
               " MiB of dense weights, KV cache and scratch: raise the budget, shorten the context or "
               "compute more layers' experts on the CPU (cpu_expert_layers)");
      }
    }
    std::vector<int> slots(size_t(L_), 0);  // CPU layers: none
    for (int l = cpu_layers_; l < L_; ++l) slots[size_t(l)] = gpu_slots[size_t(l - cpu_layers_)];
    cache_ = std::make_unique<ExpertCache>(experts, L_, E_, std::move(slots), offload::parse_policy(plan.policy),
                                           stream_);
    use_.experts += cache_->device_bytes();
    if (cpu_layers_ > 0 || (hybrid_ && !cache_->all_resident())) start_host_experts(plan.threads);
  }

  bool manages_experts() const override { return cache_ != nullptr; }

  void moe(const MoeArgs& a) override {
    LM_ASSERT(cache_ && a.T >= 1 && a.T <= C_, "moe() without experts or with too many tokens");
    const int T = a.T, l = a.layer;
    matmul(*a.gate, a.h, T, a.router, false);                      // router logits [T, E]
    Timed timed(*timer_, "moe");
    if (a.forced != nullptr)  // routing replay: the experts come from the host (pageable: copied now)
      LM_CUDA(cudaMemcpyAsync(d_forced_, a.forced, size_t(T) * size_t(K_) * 4, cudaMemcpyHostToDevice, stream_),
              "staging replayed routing");
    topk_kernel<<<(T + 127) / 128, 128, 0, stream_>>>(a.router, T, E_, K_, a.forced ? d_forced_ : nullptr, d_ids_, d_w_,
                                                      d_usage_ + size_t(l) * size_t(E_));
    launched("routing");
    if (T == 1) decode_moe(a);
    else prefill_moe(a);
  }

  void collect_expert_usage(uint64_t* usage) override {
    if (!cache_) return;
    std::vector<unsigned long long>& u = usage_host_;
    LM_CUDA(cudaMemcpyAsync(u.data(), d_usage_, u.size() * 8, cudaMemcpyDeviceToHost, stream_), "reading counters");
    LM_CUDA(cudaMemsetAsync(d_usage_, 0, u.size() * 8, stream_), "clearing counters");
    LM_CUDA(cudaStreamSynchronize(stream_), "reading counters");
    for (size_t i = 0; i < u.size(); ++i) usage[i] += u[i];
  }

  void report(Counters& c) override {
    c.vram.dense = use_.dense;
    c.vram.experts = use_.experts;
    c.vram.workspace = use_.activations;  // the engine splits out the KV cache
    c.vram.budget = budget_;
    c.expert_cpu_computed = cpu_computed_;
    c.cpu_expert_bytes = cpu_bytes_;
    c.cpu_expert_ms = cpu_ms_;
    if (!cache_ || cache_->all_resident()) return;
    const ExpertCacheStats s = cache_->stats();
    c.expert_hits = s.hits;
    c.expert_misses = s.misses;
    c.prefetch_issued = s.prefetch_issued;
    c.prefetch_used = s.prefetch_used;
    c.prefetch_wasted = s.prefetch_wasted;
    c.bytes_copied = s.bytes_copied;
    c.copy_ms = s.copy_ms;
    c.cache_slots = cache_->contents();
  }

  void reset_report() override {
    cpu_computed_ = cpu_bytes_ = 0;
    cpu_ms_ = 0;
    if (cache_) cache_->reset_stats();
  }

  // ---------- decode graphs ----------

  bool graph_replay(int32_t token, int pos, const void* key, float* logits) override {
    const auto it = graphs_.find(key);
    if (it == graphs_.end() || !graph_fits(pos)) return false;
    step_host_.p->token = token;
    step_host_.p->pos = pos;
    LM_CUDA(cudaGraphLaunch(it->second, stream_), "replaying the decode step");
    LM_CUDA(cudaStreamSynchronize(stream_), "running the decode step");
    std::memcpy(logits, logits_host_.p, captured_logits_ * sizeof(float));
    return true;
  }

  bool graph_begin(int32_t token, int pos, const void* key) override {
    // Only a step with no host synchronisation can be recorded: every expert resident.
    if (!cache_ || !cache_->all_resident() || cpu_layers_ > 0 || timer_->on() || !graph_fits(pos) || graphs_.count(key))
      return false;
    if (logits_cap_ == 0) {
      logits_cap_ = size_t(1) << 20;
      logits_host_.alloc(logits_cap_);
    }
    step_host_.p->token = token;
    step_host_.p->pos = pos;
    LM_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "recording the decode step");
    LM_CUDA(cudaMemcpyAsync(step_dev_.p, step_host_.p, sizeof(StepParams), cudaMemcpyHostToDevice, stream_),
            "recording the decode step");
    capturing_ = true;
    capture_key_ = key;
    return true;
  }

  void graph_end(float* logits) override {
    capturing_ = false;
    cudaGraph_t graph = nullptr;
    LM_CUDA(cudaStreamEndCapture(stream_, &graph), "recording the decode step");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    LM_CUDA(err, "instantiating the decode graph");
    graphs_[capture_key_] = exec;
    LM_ASSERT(graph_replay(step_host_.p->token, step_host_.p->pos, capture_key_, logits), "graph replay failed");
  }

 private:
  template <typename F>
  static void dispatch(DType t, F&& f) {
    switch (t) {
      case DType::F32: f(float{}); return;
      case DType::F16: f(__half{}); return;
      case DType::BF16: f(__nv_bfloat16{}); return;
    }
    LM_ASSERT(false, "unsupported weight dtype on the CUDA backend");
  }

  void launched(const char* what) { LM_CUDA(cudaGetLastError(), what); }

  StepParams* step_dev() { return static_cast<StepParams*>(step_dev_.p); }
  const int* pos_ptr() { return capturing_ ? &step_dev()->pos : nullptr; }
  // A recorded step's attention keeps head_dim + pos + 1 scores in shared memory (head_dim <= 256).
  bool graph_fits(int pos) const { return size_t(256 + pos + 1) * sizeof(float) <= size_t(max_smem_); }

  void* upload(const void* host, size_t bytes, MemoryKind kind) {
    void* p = nullptr;
    LM_CUDA(cudaMalloc(&p, std::max<size_t>(bytes, 16)),
            kind == MemoryKind::Experts ? "uploading experts" : "uploading dense weights");
    placed_.push_back(p);
    LM_CUDA(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice), "uploading weights");
    (kind == MemoryKind::Experts ? use_.experts : use_.dense) += bytes;
    return p;
  }

  // A packed matrix: its five arrays copied to the device; the returned view's PackedView (owned
  // here) holds device pointers.
  WeightView place_packed(const WeightView& host, MemoryKind kind) {
    const quant::PackedView& v = *host.packed;
    quant::PackedView d = v;
    d.codes = static_cast<const uint8_t*>(upload(v.codes, size_t(v.rows * quant::row_bytes(v.spec.bits, v.cols)), kind));
    d.scale_codes = static_cast<const uint8_t*>(upload(v.scale_codes, size_t(v.n_groups()), kind));
    d.zero_codes = static_cast<const uint8_t*>(upload(v.zero_codes, size_t(v.n_groups()), kind));
    d.scale_meta = static_cast<const uint16_t*>(upload(v.scale_meta, size_t(v.n_meta()) * 4, kind));
    d.zero_meta = static_cast<const uint16_t*>(upload(v.zero_meta, size_t(v.n_meta()) * 4, kind));
    packed_views_.push_back(d);
    WeightView out = host;
    out.packed = &packed_views_.back();
    return out;
  }

  // One token: routing stays on the device when every expert is resident; otherwise the host reads
  // the chosen experts (and the next layers' guesses) and makes them resident first. With hybrid
  // execution some of them are computed on the CPU instead (CPU layers: all of them): their
  // unweighted outputs land in the same d_y_ rows the GPU would have written, so the combine (and
  // its summation order) is the same whichever pipe served an expert.
  void decode_moe(const MoeArgs& a) {
    const int l = a.layer;
    const bool cpu_layer = l < cpu_layers_;
    const bool copies = !cache_->all_resident();
    const bool resident = !copies && !cpu_layer;
    const bool may_cpu = cpu_layer || (hybrid_ && copies);
    int32_t cpu_k[8];  // indices k of the experts the CPU computes
    int n_cpu = 0;
    bool on_gpu[8];
    std::fill(on_gpu, on_gpu + 8, true);
    if (!resident || a.record) {
      int la = 0;
      if (copies)
        for (; la < lookahead_ && a.next_gates[la]; ++la) matmul(*a.next_gates[la], a.h, 1, d_guess_ + la * E_, false);
      LM_CUDA(cudaMemcpyAsync(h_ids_.p, d_ids_, size_t(K_) * 4, cudaMemcpyDeviceToHost, stream_), "reading routing");
      if (may_cpu)  // the CPU needs the layer input (16 KB at D = 4096)
        LM_CUDA(cudaMemcpyAsync(h_x_.p, a.h, size_t(D_) * 4, cudaMemcpyDeviceToHost, stream_), "reading the layer input");
      if (la) LM_CUDA(cudaMemcpyAsync(h_guess_.p, d_guess_, size_t(la) * size_t(E_) * 4, cudaMemcpyDeviceToHost, stream_),
                      "reading routing");
      LM_CUDA(cudaStreamSynchronize(stream_), "routing");
      if (a.record) std::copy(h_ids_.p, h_ids_.p + K_, a.record);
      if (may_cpu) n_cpu = split_misses(l, cpu_layer, on_gpu, cpu_k);
      if (!cpu_layer) {
        int32_t gpu_ids[8];
        int n_gpu = 0;
        for (int k = 0; k < K_; ++k)
          if (on_gpu[k]) gpu_ids[n_gpu++] = h_ids_.p[k];
        if (n_gpu) cache_->ensure(l, gpu_ids, n_gpu);
      }
      for (int i = 0; i < la; ++i) {  // speculative loading: the next layers' routers on this state
        int32_t guess[8];
        const int n = top_ids(h_guess_.p + i * E_, guess, std::min(guesses_, 8));
        cache_->prefetch(l + 1 + i, guess, n);
      }
    }
    const ExpertLayout& x = cache_->layout();
    MatvecLaunch up, down;
    for (int k = 0; k < K_; ++k) {
      if (!on_gpu[k]) continue;
      float* a_k = d_a_ + size_t(k) * size_t(F_);      // w1 output, or silu(w1)·w3 (pair kernel)
      float* u_k = d_a_ + size_t(K_ + k) * size_t(F_);  // w3 output (decode kernel)
      MatvecJob& j = up.jobs[up.n_jobs++];
      j.w = x.w1, j.up = x.w3, j.w_off = x.o1, j.up_off = x.o3;
      j.table = cache_->device_table(), j.ids = d_ids_, j.id_index = k, j.table_offset = l * E_;
      j.unshifts = cache_->device_unshifts(), j.which = 0, j.which_up = 2;
      j.x = a.h, j.ldx = D_, j.y = a_k, j.ldy = F_, j.mode = MatvecMode::SwiGlu;
      MatvecJob& d = down.jobs[down.n_jobs++];
      d.w = x.w2, d.w_off = x.o2;
      d.table = cache_->device_table(), d.ids = d_ids_, d.id_index = k, d.table_offset = l * E_;
      d.unshifts = cache_->device_unshifts(), d.which = 1;
      d.x = a_k, d.ldx = F_, d.y = d_y_ + size_t(k) * size_t(D_), d.ldy = D_;
      if (decode_kernel_enabled() && 2 * K_ <= kMaxJobs) {  // w1, w3 plain jobs; w2 applies the SwiGLU
        j.mode = MatvecMode::Store;
        MatvecJob& u = up.jobs[up.n_jobs++];
        u = j;
        u.w = x.w3, u.w_off = x.o3, u.which = 2, u.y = u_k;
        d.x = u_k, d.silu_gate = a_k;
      }
    }
    if (up.n_jobs) {
      timer_->begin("experts w1/w3");
      packed_matvec(up, stream_);
      timer_->end();
      timer_->begin("experts w2");
      packed_matvec(down, stream_);
      timer_->end();
    }
    // The CPU's share runs while the copies and the GPU's share proceed; its outputs follow them on
    // the compute stream. h_y_ is free to overwrite: the previous layer's copy out of it was queued
    // before this layer's routing read, which the host waited for.
    if (n_cpu) {
      host_jobs_.clear();
      for (int i = 0; i < n_cpu; ++i) {
        const int k = cpu_k[i];
        offload::HostExpertJob job;
        job.w = host_expert(l, h_ids_.p[k]);
        job.y = h_y_.p + size_t(k) * size_t(D_);
        host_jobs_.push_back(job);
      }
      run_on_cpu(n_cpu, h_x_.p, nullptr);
      for (int i = 0; i < n_cpu; ++i) {
        const size_t k = size_t(cpu_k[i]);
        LM_CUDA(cudaMemcpyAsync(d_y_ + k * size_t(D_), h_y_.p + k * size_t(D_), size_t(D_) * 4, cudaMemcpyHostToDevice,
                                stream_),
                "copying CPU expert outputs");
      }
    }
    combine_kernel<<<blocks_for(size_t(D_), 256), 256, 0, stream_>>>(a.x, d_y_, d_ids_, d_w_, K_, D_);
    launched("combining experts");
    if (copies && !cpu_layer)
      for (int k = 0; k < K_; ++k) cache_->release(l, h_ids_.p[k]);
  }

  // ---------- hybrid execution: experts on the CPU ----------

  void start_host_experts(int threads) {
    pool_ = std::make_unique<cpu::ThreadPool>(threads);
    host_ = std::make_unique<offload::HostExperts>(*pool_, D_, F_, C_ * K_);
    host_jobs_.reserve(size_t(E_));
    h_x_.alloc(size_t(C_) * size_t(D_));
    h_y_.alloc(size_t(std::max(C_, K_)) * size_t(D_));
    expert_bytes_ = offload::HostExperts::expert_bytes(experts_->get(0, 0));
    if (const char* f = std::getenv("LOCALMOE_HYBRID_FORCE")) {  // tests: serve every miss one way
      const std::string v = f;
      if (v == "cpu") force_ = Force::Cpu;
      else if (v == "copy") force_ = Force::Copy;
      else if (!v.empty()) fail("LOCALMOE_HYBRID_FORCE must be cpu or copy (got '", v, "')");
    }
    if (!hybrid_ || cache_->all_resident()) return;
    // Cost model calibration: PCIe from one expert-sized pinned copy; the CPU from the host kernels
    // on several different experts (one expert could sit in the last-level cache and flatter it).
    pcie_gbps_ = measure_h2d_gbps(cache_->layout().bytes);
    const int l = cpu_layers_ < L_ ? cpu_layers_ : 0;  // a stored layer (every layer may miss)
    const int n = std::min(E_, 4);
    for (int i = 0; i < n; ++i) host_jobs_.push_back({host_expert(l, i), nullptr, nullptr, 1, h_y_.p});
    std::fill(h_x_.p, h_x_.p + D_, 0.01f);
    host_->run(host_jobs_.data(), 1, h_x_.p, nullptr);  // wakes the pool, faults nothing in later
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) host_->run(&host_jobs_[size_t(i)], 1, h_x_.p, nullptr);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    cpu_gbps_ = double(n) * double(expert_bytes_) / (ms * 1e6);
    host_jobs_.clear();
    if (std::getenv("LOCALMOE_HYBRID_VERBOSE"))
      std::fprintf(stderr, "localmoe: hybrid cost model: PCIe %.1f GB/s, CPU experts %.1f GB/s (%d threads), %.1f MB per expert\n",
                   pcie_gbps_, cpu_gbps_, pool_->size(), double(expert_bytes_) / 1e6);
  }

  // Expert (l, e) as views into its host bytes (the layout is the file's, so the store's too).
  quant::PackedExpert host_expert(int l, int e) const { return experts_->layout(l, e).at(cache_->host_base(l, e)); }

  // Fills on_gpu[k] / cpu_k for the current token's K experts (h_ids_) and returns how many go to
  // the CPU. CPU layers: all. Otherwise a hit stays on the GPU and each miss goes to the pipe that
  // would finish it sooner given what that pipe already has this layer: the copy stream (then the
  // GPU computes it, ~free next to the copy) or the CPU pool (fixed cost: the result's trip back
  // and the wake-up). Ties go to the copy, which also buys future hits.
  int split_misses(int l, bool cpu_layer, bool* on_gpu, int32_t* cpu_k) {
    int n_cpu = 0;
    const double pcie = cache_->copy_gbps() > 0 ? cache_->copy_gbps() : pcie_gbps_;
    const double copy_ms = double(expert_bytes_) / (std::max(pcie, 1e-3) * 1e6);
    const double cpu_ms = double(expert_bytes_) / (std::max(cpu_gbps_, 1e-3) * 1e6);
    double copy_busy = 0, cpu_busy = kCpuCallMs;
    for (int k = 0; k < K_; ++k) {
      bool cpu = cpu_layer;
      if (!cpu && !cache_->cached(l, h_ids_.p[k])) {
        if (force_ == Force::None) cpu = cpu_busy + cpu_ms < copy_busy + copy_ms;
        else cpu = force_ == Force::Cpu;
        (cpu ? cpu_busy : copy_busy) += cpu ? cpu_ms : copy_ms;
      }
      on_gpu[k] = !cpu;
      if (cpu) cpu_k[n_cpu++] = k;
    }
    return n_cpu;
  }

  // Runs host_jobs_[0, n) on the pool (h, out as HostExperts::run) and counts them; the measured
  // rate corrects the cost model (a moving average, so one slow call does not flip decisions).
  void run_on_cpu(int n, const float* h, float* out) {
    const auto t0 = std::chrono::steady_clock::now();
    host_->run(host_jobs_.data(), n, h, out);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    cpu_computed_ += uint64_t(n);
    cpu_bytes_ += uint64_t(n) * expert_bytes_;
    cpu_ms_ += ms;
    if (ms > 0 && hybrid_) {
      const double gbps = double(n) * double(expert_bytes_) / (ms * 1e6);
      cpu_gbps_ = cpu_gbps_ > 0 ? 0.9 * cpu_gbps_ + 0.1 * gbps : gbps;
    }
  }

  // Many tokens: group them by expert on the host, load each needed expert once for the whole
  // chunk (copies of the layer's experts queue up front and compute takes each as it lands), and
  // queue the next layer's most likely experts behind this layer's compute.
  void prefill_moe(const MoeArgs& a) {
    const int T = a.T, l = a.layer;
    const bool cpu_layer = l < cpu_layers_;
    LM_CUDA(cudaMemcpyAsync(h_ids_.p, d_ids_, size_t(T) * size_t(K_) * 4, cudaMemcpyDeviceToHost, stream_), "reading routing");
    if (cpu_layer)
      LM_CUDA(cudaMemcpyAsync(h_x_.p, a.h, size_t(T) * size_t(D_) * 4, cudaMemcpyDeviceToHost, stream_),
              "reading the layer input");
    LM_CUDA(cudaMemcpyAsync(h_w_.p, d_w_, size_t(T) * size_t(K_) * 4, cudaMemcpyDeviceToHost, stream_), "reading routing");
    LM_CUDA(cudaStreamSynchronize(stream_), "routing");
    if (a.record) std::copy(h_ids_.p, h_ids_.p + size_t(T) * size_t(K_), a.record);
    // Rows and weights per expert, in token order, into the pinned staging area [E][C] x 2.
    std::vector<int>& count = count_;
    count.assign(size_t(E_), 0);
    int32_t* rows = h_stage_.p;
    float* wts = reinterpret_cast<float*>(h_stage_.p + size_t(E_) * size_t(C_));
    for (int t = 0; t < T; ++t)
      for (int k = 0; k < K_; ++k) {
        const int e = h_ids_.p[t * K_ + k];
        const int i = count[size_t(e)]++;
        rows[size_t(e) * size_t(C_) + size_t(i)] = t;
        wts[size_t(e) * size_t(C_) + size_t(i)] = h_w_.p[t * K_ + k];
      }
    std::vector<int32_t>& needed = needed_;
    needed.clear();
    for (int e = 0; e < E_; ++e)
      if (count[size_t(e)] > 0) needed.push_back(e);
    if (cpu_layer) {
      prefill_on_cpu(a, rows, wts);
      return;
    }
    LM_CUDA(cudaMemcpyAsync(d_stage_, h_stage_.p, size_t(E_) * size_t(C_) * 8, cudaMemcpyHostToDevice, stream_),
            "staging routing");
    zero(d_moe_, size_t(T) * size_t(D_));
    const bool resident = cache_->all_resident();
    const int wave = resident ? E_ : cache_->slots(l);
    const ExpertLayout& x = cache_->layout();
    for (size_t w0 = 0; w0 < needed.size(); w0 += size_t(wave)) {
      const int n = int(std::min(needed.size() - w0, size_t(wave)));
      if (!resident) cache_->prefetch(l, needed.data() + w0, n, false);  // all copies queued up front
      for (int i = 0; i < n; ++i) {
        const int e = needed[w0 + size_t(i)];
        const int cnt = count[size_t(e)];
        cache_->ensure(l, &e, 1);
        const int32_t* drows = d_stage_ + size_t(e) * size_t(C_);
        const float* dw = reinterpret_cast<const float*>(d_stage_ + size_t(E_) * size_t(C_)) + size_t(e) * size_t(C_);
        gather_rows_kernel<<<cnt, 256, 0, stream_>>>(a.h, drows, D_, d_xs_);
        const uint8_t* base = cache_->base(l, e);
        MatvecLaunch up;
        up.n_jobs = 1;
        up.T = cnt;
        up.jobs[0].w = at(x.w1, x.o1, base);
        up.jobs[0].up = at(x.w3, x.o3, base);
        up.jobs[0].w.unshift = cache_->unshift(l, e, 0);
        up.jobs[0].up.unshift = cache_->unshift(l, e, 2);
        up.jobs[0].x = d_xs_, up.jobs[0].ldx = D_, up.jobs[0].y = d_a_, up.jobs[0].ldy = F_;
        up.jobs[0].mode = MatvecMode::SwiGlu;
        packed_matvec(up, stream_);
        MatvecLaunch down;
        down.n_jobs = 1;
        down.T = cnt;
        down.jobs[0].w = at(x.w2, x.o2, base);
        down.jobs[0].w.unshift = cache_->unshift(l, e, 1);
        down.jobs[0].x = d_a_, down.jobs[0].ldx = F_, down.jobs[0].y = d_y_, down.jobs[0].ldy = D_;
        packed_matvec(down, stream_);
        scatter_add_rows_kernel<<<cnt, 256, 0, stream_>>>(d_y_, drows, dw, D_, d_moe_);
        launched("prefill experts");
        cache_->release(l, e);
      }
    }
    add(a.x, d_moe_, size_t(T) * size_t(D_));
    // The next layer will need most of its experts too: start their copies behind this compute.
    if (!resident && l + 1 < L_) cache_->prefetch(l + 1, all_experts_.data(), cache_->slots(l + 1), false);
  }

  // A CPU layer's chunk: every needed expert on the CPU, summed in expert order (as the GPU path
  // and the CPU backend do) into h_y_, then one copy back and the residual add. The next layer's
  // expert copies are queued first so they overlap this.
  void prefill_on_cpu(const MoeArgs& a, const int32_t* rows, const float* wts) {
    const int T = a.T, l = a.layer;
    if (l + 1 < L_ && !cache_->all_resident()) cache_->prefetch(l + 1, all_experts_.data(), cache_->slots(l + 1), false);
    host_jobs_.clear();
    for (const int32_t e : needed_) {
      offload::HostExpertJob job;
      job.w = host_expert(l, e);
      job.rows = rows + size_t(e) * size_t(C_);
      job.weights = wts + size_t(e) * size_t(C_);
      job.count = count_[size_t(e)];
      host_jobs_.push_back(job);
    }
    std::memset(h_y_.p, 0, size_t(T) * size_t(D_) * sizeof(float));
    run_on_cpu(int(host_jobs_.size()), h_x_.p, h_y_.p);
    LM_CUDA(cudaMemcpyAsync(d_moe_, h_y_.p, size_t(T) * size_t(D_) * 4, cudaMemcpyHostToDevice, stream_),
            "copying CPU expert outputs");
    add(a.x, d_moe_, size_t(T) * size_t(D_));
  }

  // Indices of the n largest logits (ties: lower index), descending.
  int top_ids(const float* logits, int32_t* out, int n) const {
    n = std::min(n, E_);
    for (int k = 0; k < n; ++k) {
      int best = -1;
      for (int e = 0; e < E_; ++e) {
        if (std::find(out, out + k, e) != out + k) continue;
        if (best < 0 || logits[e] > logits[best]) best = e;
      }
      out[k] = best;
    }
    return n;
  }

  void ensure_scratch(size_t bytes) {
    if (bytes <= scratch_bytes_) return;
    // Grows to the largest chunk once, then never again: no allocation per token.
    if (scratch_) {
      LM_CUDA(cudaStreamSynchronize(stream_), "growing scratch");
      cudaFree(scratch_);
    }
    scratch_bytes_ = std::max<size_t>(bytes, 4096);
    LM_CUDA(cudaMalloc(&scratch_, scratch_bytes_), "allocating scratch");
    host_stage_.resize(scratch_bytes_);
  }

  // Copies host ints to device scratch. The copy is ordered on the stream before the kernel that
  // reads it; cudaMemcpyAsync from pageable memory returns once the source has been consumed, so
  // the host buffer may change afterwards.
  int32_t* stage_ints(const int32_t* host, int n) {
    ensure_scratch(size_t(n) * 4);
    LM_CUDA(cudaMemcpyAsync(scratch_, host, size_t(n) * 4, cudaMemcpyHostToDevice, stream_), "staging indices");
    return static_cast<int32_t*>(scratch_);
  }

  std::string name_;
  cudaStream_t stream_ = nullptr;
  int max_smem_ = 48 * 1024;
  std::vector<void*> placed_;
  std::deque<quant::PackedView> packed_views_;  // device views of placed packed matrices
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::vector<uint8_t> host_stage_;
  MemoryUse use_;

  // Experts (quantized models).
  std::unique_ptr<ExpertCache> cache_;
  const quant::PackedExperts* experts_ = nullptr;

  // Hybrid execution (issue #9): experts computed on the CPU from the host store.
  static constexpr double kCpuCallMs = 0.03;  // a CPU call's fixed cost: pool wake-up, result copy back
  enum class Force { None, Cpu, Copy };       // LOCALMOE_HYBRID_FORCE: every miss one way (tests)
  int cpu_layers_ = 0;                        // layers [0, N): experts always on the CPU
  bool hybrid_ = false;                       // decode misses: copy or CPU by cost
  Force force_ = Force::None;
  std::unique_ptr<cpu::ThreadPool> pool_;
  std::unique_ptr<offload::HostExperts> host_;
  std::vector<offload::HostExpertJob> host_jobs_;
  Pinned<float> h_x_, h_y_;                   // layer input [C, D] / CPU results [max(C, K), D] on the host
  uint64_t expert_bytes_ = 0;                 // bytes one expert's weights take (what a CPU call reads)
  double pcie_gbps_ = 0, cpu_gbps_ = 0;       // cost model rates (calibrated at load, corrected online)
  uint64_t cpu_computed_ = 0, cpu_bytes_ = 0;
  double cpu_ms_ = 0;
  int L_ = 0, E_ = 0, K_ = 0, D_ = 0, F_ = 0, C_ = 1;
  int lookahead_ = 1, guesses_ = 2;
  uint64_t budget_ = 0;
  int32_t* d_ids_ = nullptr;
  int32_t* d_forced_ = nullptr;  // [C, K] replayed routing (Engine::replay_routing)
  float *d_w_ = nullptr, *d_guess_ = nullptr, *d_a_ = nullptr, *d_y_ = nullptr, *d_xs_ = nullptr, *d_moe_ = nullptr;
  int32_t* d_stage_ = nullptr;
  unsigned long long* d_usage_ = nullptr;
  Pinned<int32_t> h_ids_;
  Pinned<float> h_w_, h_guess_;
  Pinned<int32_t> h_stage_;
  std::vector<int> count_;
  std::vector<int32_t> needed_;
  std::vector<int32_t> all_experts_;            // 0..E-1 (prefill loads a whole layer ahead)
  std::vector<unsigned long long> usage_host_;  // [L * E] staging for collect_expert_usage

  // Decode graphs.
  Pinned<StepParams> step_host_;
  DeviceMem step_dev_;
  Pinned<float> logits_host_;
  size_t logits_cap_ = 0, captured_logits_ = 0;
  bool capturing_ = false;
  std::unique_ptr<OpTimer> timer_;
  const void* capture_key_ = nullptr;
  std::map<const void*, cudaGraphExec_t> graphs_;
};

}  // namespace

bool compiled_in() { return true; }

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorNoDevice || (err == cudaSuccess && n == 0)) return "no CUDA GPU was found";
  // Also what the runtime says when no driver is installed at all.
  if (err == cudaErrorInsufficientDriver)
    return "no usable NVIDIA driver was found (none is installed, or it is older than this build needs)";
  if (err != cudaSuccess) return str("the CUDA driver could not be used (", cudaGetErrorString(err), ")");
  return "";
}

std::unique_ptr<Backend> make_backend(int device_index) {
  const std::string why = unavailable_reason();
  if (!why.empty()) fail("the CUDA device was requested but ", why, "; use the CPU device instead");
  return std::make_unique<CudaBackend>(device_index);
}

GpuInfo gpu_info() {
  GpuInfo g;
  if (!unavailable_reason().empty()) return g;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return g;
  g.name = prop.name;
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) g.free_bytes = free_b;
  g.memory_bytes = total_b ? total_b : prop.totalGlobalMem;
  return g;
}

double measure_h2d_gbps(uint64_t bytes) {
  if (!unavailable_reason().empty()) return 0;
  Pinned<uint8_t> host;
  host.alloc(bytes);
  std::memset(host.p, 1, bytes);
  DeviceMem dev;
  LM_CUDA(cudaMalloc(&dev.p, bytes), "measuring copy speed");
  cudaEvent_t a, b;
  LM_CUDA(cudaEventCreate(&a), "measuring copy speed");
  LM_CUDA(cudaEventCreate(&b), "measuring copy speed");
  float best = 1e30f;
  for (int i = 0; i < 5; ++i) {
    LM_CUDA(cudaEventRecord(a, nullptr), "measuring copy speed");
    LM_CUDA(cudaMemcpyAsync(dev.p, host.p, bytes, cudaMemcpyHostToDevice, nullptr), "measuring copy speed");
    LM_CUDA(cudaEventRecord(b, nullptr), "measuring copy speed");
    LM_CUDA(cudaEventSynchronize(b), "measuring copy speed");
    float ms = 0;
    LM_CUDA(cudaEventElapsedTime(&ms, a, b), "measuring copy speed");
    if (i > 0) best = std::min(best, ms);  // the first copy warms up the path
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return double(bytes) / (double(best) * 1e6);
}

void bind_experts(Backend& backend, const quant::PackedExperts& experts, const ModelConfig& config,
                  const ExpertPlan& plan) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  LM_ASSERT(cuda != nullptr, "bind_experts needs the CUDA backend");
  cuda->bind(experts, config, plan);
}

}  // namespace lm::cuda
