// The GPU side of expert offloading: every packed expert in (pinned) host RAM, a per-layer cache of
// expert slots in device memory, copies on their own stream, and a device table of where each
// cached expert is, which the expert kernels read (packed_matvec.h "indirect" jobs).
//
// One code path for every budget: "all resident" is a cache with E slots per layer, filled at load,
// that never misses. Synchronisation is per slot with events: the compute stream waits only for the
// copies of experts it is about to use; a copy into a slot waits only for the compute that last
// read that slot.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/packed_matvec.h"
#include "localmoe/engine.h"
#include "offload/cache_policy.h"
#include "quant/packed_experts.h"

namespace lm::cuda {

struct ExpertLayout {
  PackedMatrix w1, w2, w3;       // shapes and settings (pointers and unshift unset: per expert)
  MatrixOffsets o1, o2, o3;      // array offsets inside an expert's range
  uint64_t bytes = 0;            // one expert's range (4 KiB multiple)
};

// Offsets of the experts' arrays; lm::Error when experts differ in layout (mixed presets).
ExpertLayout expert_layout(const quant::PackedExperts& experts, int layers, int num_experts);

// A packed view as the kernels take it (its pointers as they are: host views give shape only).
PackedMatrix packed_matrix(const quant::PackedView& v);
// The matrix of an expert whose range starts at `base` (device pointer).
PackedMatrix at(const PackedMatrix& shape, const MatrixOffsets& off, const uint8_t* base);

struct ExpertCacheStats {
  uint64_t hits = 0, misses = 0;
  uint64_t prefetch_issued = 0, prefetch_used = 0, prefetch_wasted = 0;
  uint64_t bytes_copied = 0;
  double copy_ms = 0;
};

class ExpertCache {
 public:
  // slots[l] experts of layer l fit in device memory (0..E each; 0 = the layer's experts are only
  // computed on the CPU, from the host store; E in every other layer = all resident).
  ExpertCache(const quant::PackedExperts& experts, int layers, int num_experts, std::vector<int> slots,
              offload::Policy policy, cudaStream_t compute);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  const ExpertLayout& layout() const { return layout_; }
  // Every layer that has slots holds all its experts (nothing is ever copied after load).
  bool all_resident() const { return all_resident_; }
  bool cached(int layer, int expert) const { return caches_[size_t(layer)].slot_of(expert) >= 0; }
  // Host bytes of expert (layer, e)'s range (the pinned store, or the mmap when pinning failed):
  // kept for every layer that may miss and every 0-slot layer, for CPU compute where it lies.
  const uint8_t* host_base(int layer, int expert) const { return host_expert(layer, expert); }
  // Measured host->device rate of expert copies, GB/s (moving average; 0 before the first).
  double copy_gbps() const { return copy_gbps_; }
  int slots(int layer) const { return caches_[size_t(layer)].slots(); }
  // Device array [L * E]: base of expert (l, e)'s range in its slot, or null when not cached.
  const uint8_t* const* device_table() const { return d_table_; }
  // Device array [L * E * 3]: 2^-scale_shift of each expert's w1, w2, w3 (packed_matvec jobs).
  const float* device_unshifts() const { return d_unshift_; }
  float unshift(int layer, int expert, int which) const {
    return unshift_[(size_t(layer) * size_t(num_experts_) + size_t(expert)) * 3 + size_t(which)];
  }
  // Device base of a cached expert (after ensure).
  const uint8_t* base(int layer, int expert) const;

  // Makes experts ids[0, n) of `layer` resident (copying misses), makes the compute stream wait for
  // exactly those copies, and uploads the layer's table row (stream-ordered on compute).
  void ensure(int layer, const int32_t* ids, int n);
  // Starts copies of experts of `layer` that are not cached (speculative); never waits.
  // `count` false: loads for the layer about to run (prefill), not counted as speculation.
  void prefetch(int layer, const int32_t* ids, int n, bool count = true);
  // Records on the compute stream that expert (layer, e)'s slot has been read by everything queued
  // so far (a later copy into the slot waits for it).
  void release(int layer, int expert);

  ExpertCacheStats stats();
  void reset_stats();
  std::vector<std::vector<int32_t>> contents() const;
  uint64_t device_bytes() const { return device_bytes_; }
  uint64_t host_bytes() const { return host_bytes_; }
  bool host_pinned() const { return pinned_; }

 private:
  struct Slot {
    cudaEvent_t ready = nullptr;     // copy into the slot done (timing enabled)
    cudaEvent_t started = nullptr;   // copy started (for copy_ms)
    cudaEvent_t released = nullptr;  // compute done reading the slot
    bool timing_pending = false;
    bool prefetched = false;         // filled speculatively ...
    bool preloaded = false;          // or loaded ahead for a known need (prefill pipelining) ...
    bool used = false;               // ... and needed since
  };
  int load(int layer, int expert, const int32_t* keep, int n_keep, bool speculative);
  void harvest(Slot& s, bool wait);  // adds a finished copy's time to copy_ms
  Slot& slot(int layer, int s) { return slots_[size_t(slot_start_[size_t(layer)] + s)]; }
  const uint8_t* slot_ptr(int layer, int s) const {
    return d_slots_ + uint64_t(slot_start_[size_t(layer)] + s) * layout_.bytes;
  }
  const uint8_t* host_expert(int layer, int expert) const;

  const quant::PackedExperts& experts_;
  int layers_, num_experts_;
  ExpertLayout layout_;
  bool all_resident_ = false;
  cudaStream_t compute_ = nullptr, copy_ = nullptr;
  std::vector<offload::LayerCache> caches_;
  std::vector<int> slot_start_;      // first global slot of each layer
  std::vector<Slot> slots_;
  uint8_t* d_slots_ = nullptr;
  const uint8_t** d_table_ = nullptr;
  const uint8_t** h_table_ = nullptr;  // pinned mirror
  std::vector<float> unshift_;         // [L * E * 3]
  float* d_unshift_ = nullptr;
  uint8_t* h_store_ = nullptr;         // pinned copy of the stored layers' experts (null: the mmap)
  std::vector<int> store_layer_;       // [L] position of each layer in h_store_, -1 = not stored
  double copy_gbps_ = 0;
  bool pinned_ = false;
  uint64_t device_bytes_ = 0, host_bytes_ = 0;
  ExpertCacheStats stats_;
};

}  // namespace lm::cuda
