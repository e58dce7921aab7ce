// ExpertCache: see expert_cache.h.
#include "cuda/expert_cache.h"

#include "cuda/cuda_check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/check.h"
#include "io/mapped_file.h"

namespace lm::cuda {

namespace {

// Out of memory here means the expert cache did not fit: the budget is what to change.
void vram_check(cudaError_t err, const char* what) {
  check(err, what, "set a smaller VRAM budget (--vram-budget / localmoe.vramBudget)");
}

MatrixOffsets offsets_of(const quant::PackedView& v, const uint8_t* base) {
  auto off = [&](const void* p) { return uint64_t(static_cast<const uint8_t*>(p) - base); };
  return {off(v.codes), off(v.scale_codes), off(v.zero_codes), off(v.scale_meta), off(v.zero_meta)};
}

// Same shape and settings (the scale exponent, chosen per tensor, travels in the unshift table).
bool same(const PackedMatrix& a, const PackedMatrix& b) {
  return a.rows == b.rows && a.cols == b.cols && a.bits == b.bits && a.group == b.group &&
         a.meta_group == b.meta_group && a.row_bytes == b.row_bytes;
}
bool same(const MatrixOffsets& a, const MatrixOffsets& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

PackedMatrix packed_matrix(const quant::PackedView& v) {
  PackedMatrix m;
  m.codes = v.codes;
  m.scale_codes = v.scale_codes;
  m.zero_codes = v.zero_codes;
  m.scale_meta = v.scale_meta;
  m.zero_meta = v.zero_meta;
  m.rows = int(v.rows);
  m.cols = int(v.cols);
  m.bits = v.spec.bits;
  m.group = v.spec.group;
  m.meta_group = v.spec.meta_group;
  m.row_bytes = int(quant::row_bytes(v.spec.bits, v.cols));
  m.unshift = quant::scale_unshift(v.scale_shift);
  return m;
}

PackedMatrix at(const PackedMatrix& shape, const MatrixOffsets& off, const uint8_t* base) {
  PackedMatrix m = shape;
  m.codes = base + off.codes;
  m.scale_codes = base + off.scale_codes;
  m.zero_codes = base + off.zero_codes;
  m.scale_meta = reinterpret_cast<const uint16_t*>(base + off.scale_meta);
  m.zero_meta = reinterpret_cast<const uint16_t*>(base + off.zero_meta);
  return m;
}

ExpertLayout expert_layout(const quant::PackedExperts& experts, int layers, int num_experts) {
  ExpertLayout first;
  for (int l = 0; l < layers; ++l) {
    for (int e = 0; e < num_experts; ++e) {
      const quant::PackedExpert& pe = experts.get(l, e);
      const quant::ExpertRange& r = experts.range(l, e);
      ExpertLayout x;
      x.w1 = packed_matrix(pe.w1), x.w2 = packed_matrix(pe.w2), x.w3 = packed_matrix(pe.w3);
      x.o1 = offsets_of(pe.w1, r.data), x.o2 = offsets_of(pe.w2, r.data), x.o3 = offsets_of(pe.w3, r.data);
      x.bytes = r.bytes;
      // Each array is read with 16-byte loads: offsets inside a (4 KiB-aligned) slot must be too.
      for (const MatrixOffsets* o : {&x.o1, &x.o2, &x.o3})
        if (o->codes % 16 != 0) fail("expert (", l, ", ", e, ") has codes at an unaligned offset; quantize the model again");
      if (l == 0 && e == 0) {
        first = x;
        continue;
      }
      if (!same(x.w1, first.w1) || !same(x.w2, first.w2) || !same(x.w3, first.w3) || !same(x.o1, first.o1) ||
          !same(x.o2, first.o2) || !same(x.o3, first.o3) || x.bytes != first.bytes)
        fail("expert (", l, ", ", e, ") is stored differently from expert (0, 0) (mixed quantization settings); "
             "the CUDA backend needs one layout for all experts: quantize the model again with one preset");
    }
  }
  return first;
}

ExpertCache::ExpertCache(const quant::PackedExperts& experts, int layers, int num_experts, std::vector<int> slots,
                         offload::Policy policy, cudaStream_t compute)
    : experts_(experts), layers_(layers), num_experts_(num_experts), compute_(compute) {
  LM_ASSERT(int(slots.size()) == layers, "one slot count per layer");
  layout_ = expert_layout(experts, layers, num_experts);
  // 0-slot layers (experts on the CPU only) never copy either: "all resident" is about the others.
  all_resident_ = std::all_of(slots.begin(), slots.end(), [&](int s) { return s == num_experts || s == 0; });
  int total = 0;
  for (int l = 0; l < layers; ++l) {
    slot_start_.push_back(total);
    total += slots[size_t(l)];
    caches_.emplace_back(num_experts, slots[size_t(l)], policy);
  }
  device_bytes_ = uint64_t(total) * layout_.bytes + uint64_t(layers) * uint64_t(num_experts) * sizeof(void*);
  if (total > 0) vram_check(cudaMalloc(&d_slots_, uint64_t(total) * layout_.bytes), "allocating the expert cache");
  vram_check(cudaMalloc(reinterpret_cast<void**>(&d_table_), size_t(layers) * size_t(num_experts) * sizeof(void*)),
        "allocating the expert table");
  vram_check(cudaHostAlloc(reinterpret_cast<void**>(&h_table_), size_t(layers) * size_t(num_experts) * sizeof(void*),
                      cudaHostAllocDefault),
        "allocating the expert table");
  std::fill(h_table_, h_table_ + size_t(layers) * size_t(num_experts), nullptr);
  unshift_.resize(size_t(layers) * size_t(num_experts) * 3);
  for (int l = 0; l < layers; ++l)
    for (int e = 0; e < num_experts; ++e) {
      const quant::PackedExpert& pe = experts.get(l, e);
      float* u = &unshift_[(size_t(l) * size_t(num_experts) + size_t(e)) * 3];
      u[0] = quant::scale_unshift(pe.w1.scale_shift);
      u[1] = quant::scale_unshift(pe.w2.scale_shift);
      u[2] = quant::scale_unshift(pe.w3.scale_shift);
    }
  vram_check(cudaMalloc(reinterpret_cast<void**>(&d_unshift_), unshift_.size() * sizeof(float)), "allocating the expert table");
  vram_check(cudaMemcpy(d_unshift_, unshift_.data(), unshift_.size() * sizeof(float), cudaMemcpyHostToDevice),
        "uploading the expert table");
  vram_check(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "creating the copy stream");
  slots_.resize(size_t(total));
  for (Slot& s : slots_) {
    vram_check(cudaEventCreate(&s.ready), "creating events");
    vram_check(cudaEventCreate(&s.started), "creating events");
    vram_check(cudaEventCreateWithFlags(&s.released, cudaEventDisableTiming), "creating events");
  }

  // The host store holds every layer that may miss (all of them unless all resident) and every
  // 0-slot layer (its experts are computed on the CPU from there).
  store_layer_.assign(size_t(layers), -1);
  int stored = 0;
  for (int l = 0; l < layers; ++l)
    if (!all_resident_ || slots[size_t(l)] == 0) store_layer_[size_t(l)] = stored++;
  if (all_resident_) {
    // Everything fits: copy each expert straight from the mapped file into its slot, once.
    for (int l = 0; l < layers; ++l) {
      if (caches_[size_t(l)].slots() == 0) continue;
      for (int e = 0; e < num_experts; ++e) {
        const auto [s, evicted] = caches_[size_t(l)].assign(e, nullptr, 0);
        (void)evicted;
        const quant::ExpertRange& r = experts.range(l, e);
        vram_check(cudaMemcpy(const_cast<uint8_t*>(slot_ptr(l, s)), r.data, r.bytes, cudaMemcpyHostToDevice),
              "uploading experts");
        release_mapped(r.data, r.bytes);  // the page cache need not hold a second copy
        h_table_[size_t(l) * size_t(num_experts) + size_t(e)] = slot_ptr(l, s);
      }
    }
  }
  if (stored > 0) {
    // The expert store: experts in pinned host memory so one expert = one async DMA at full PCIe
    // speed (and the CPU reads them at DRAM speed). When pinning that much fails, copies read the
    // mapped file (pageable: the driver stages them, slower and synchronous with the host) and we
    // say so once.
    const uint64_t store = uint64_t(stored) * uint64_t(num_experts) * layout_.bytes;
    if (cudaHostAlloc(reinterpret_cast<void**>(&h_store_), store, cudaHostAllocDefault) == cudaSuccess) {
      pinned_ = true;
      host_bytes_ = store;
      for (int l = 0; l < layers; ++l)
        for (int e = 0; e < num_experts && store_layer_[size_t(l)] >= 0; ++e) {
          const quant::ExpertRange& r = experts.range(l, e);
          std::memcpy(h_store_ + (uint64_t(store_layer_[size_t(l)]) * uint64_t(num_experts) + uint64_t(e)) * layout_.bytes,
                      r.data, r.bytes);
          release_mapped(r.data, r.bytes);
        }
    } else {
      cudaGetLastError();  // clear the allocation error
      h_store_ = nullptr;
      std::fprintf(stderr,
                   "localmoe: warning: could not pin %.1f GB of host memory for the expert store; experts are "
                   "copied from pageable memory (slower). Free host RAM or raise the locked-memory limit.\n",
                   double(store) / 1e9);
    }
  }
  vram_check(cudaMemcpy(d_table_, h_table_, size_t(layers) * size_t(num_experts) * sizeof(void*), cudaMemcpyHostToDevice),
        "uploading the expert table");
}

ExpertCache::~ExpertCache() {
  if (copy_) cudaStreamSynchronize(copy_);
  for (Slot& s : slots_) {
    cudaEventDestroy(s.ready);
    cudaEventDestroy(s.started);
    cudaEventDestroy(s.released);
  }
  if (copy_) cudaStreamDestroy(copy_);
  cudaFree(d_slots_);
  cudaFree(d_table_);
  cudaFree(d_unshift_);
  cudaFreeHost(h_table_);
  if (h_store_) cudaFreeHost(h_store_);
}

const uint8_t* ExpertCache::host_expert(int layer, int expert) const {
  const int at = store_layer_[size_t(layer)];
  if (h_store_ && at >= 0) return h_store_ + (uint64_t(at) * uint64_t(num_experts_) + uint64_t(expert)) * layout_.bytes;
  return experts_.range(layer, expert).data;
}

const uint8_t* ExpertCache::base(int layer, int expert) const {
  const int s = caches_[size_t(layer)].slot_of(expert);
  LM_ASSERT(s >= 0, "expert not cached");
  return slot_ptr(layer, s);
}

void ExpertCache::harvest(Slot& s, bool wait) {
  if (!s.timing_pending) return;
  // Counters are read every ~100 ms while tokens stream: never wait there for a copy in flight
  // (its time is counted once it has finished).
  if (!wait && cudaEventQuery(s.ready) == cudaErrorNotReady) return;
  vram_check(cudaEventSynchronize(s.ready), "timing an expert copy");
  float ms = 0;
  vram_check(cudaEventElapsedTime(&ms, s.started, s.ready), "timing an expert copy");
  stats_.copy_ms += double(ms);
  s.timing_pending = false;
  // The hybrid cost model's online correction of the PCIe rate (an average over recent copies).
  if (ms > 0) {
    const double gbps = double(layout_.bytes) / (double(ms) * 1e6);
    copy_gbps_ = copy_gbps_ > 0 ? 0.9 * copy_gbps_ + 0.1 * gbps : gbps;
  }
}

// Copies expert (layer, expert) into a slot (not cached yet); returns the slot or -1 when every
// slot holds a kept expert.
int ExpertCache::load(int layer, int expert, const int32_t* keep, int n_keep, bool speculative) {
  offload::LayerCache& cache = caches_[size_t(layer)];
  const auto [s, evicted] = cache.assign(expert, keep, n_keep);
  if (s < 0) return -1;
  Slot& sl = slot(layer, s);
  if (evicted >= 0) {
    if (sl.prefetched && !sl.used) ++stats_.prefetch_wasted;
    h_table_[size_t(layer) * size_t(num_experts_) + size_t(evicted)] = nullptr;
  }
  harvest(sl, true);
  // The slot may still be read by queued compute: the copy waits for that, and only that.
  vram_check(cudaStreamWaitEvent(copy_, sl.released, 0), "ordering an expert copy");
  vram_check(cudaEventRecord(sl.started, copy_), "recording a copy");
  vram_check(cudaMemcpyAsync(const_cast<uint8_t*>(slot_ptr(layer, s)), host_expert(layer, expert), layout_.bytes,
                        cudaMemcpyHostToDevice, copy_),
        "copying an expert to the GPU");
  vram_check(cudaEventRecord(sl.ready, copy_), "recording a copy");
  sl.timing_pending = true;
  sl.prefetched = speculative;
  sl.preloaded = !speculative;
  sl.used = false;
  stats_.bytes_copied += layout_.bytes;
  h_table_[size_t(layer) * size_t(num_experts_) + size_t(expert)] = slot_ptr(layer, s);
  return s;
}

void ExpertCache::ensure(int layer, const int32_t* ids, int n) {
  offload::LayerCache& cache = caches_[size_t(layer)];
  if (cache.policy() == offload::Policy::None && !all_resident_) {  // the no-cache baseline
    for (int s = 0; s < cache.slots(); ++s) {
      const int e = cache.contents()[size_t(s)];
      if (e >= 0) h_table_[size_t(layer) * size_t(num_experts_) + size_t(e)] = nullptr;
    }
    cache.clear();
  }
  for (int i = 0; i < n; ++i) {
    const int e = ids[i];
    if (std::find(ids, ids + i, e) != ids + i) continue;  // duplicate id (several tokens)
    int s = cache.slot_of(e);
    if (s >= 0) {
      cache.touch(e);
      Slot& sl = slot(layer, s);
      // An expert loaded ahead for this very use is a transfer (a miss), not a hit.
      if (sl.preloaded && !sl.used) ++stats_.misses;
      else ++stats_.hits;
      if (sl.prefetched && !sl.used) ++stats_.prefetch_used;
      sl.used = true;
    } else {
      ++stats_.misses;
      s = load(layer, e, ids, n, false);
      LM_ASSERT(s >= 0, "more distinct experts requested at once than the layer has slots");
      slot(layer, s).used = true;
    }
    if (!all_resident_) vram_check(cudaStreamWaitEvent(compute_, slot(layer, s).ready, 0), "waiting for an expert");
  }
  if (all_resident_) return;
  const size_t row = size_t(layer) * size_t(num_experts_);
  vram_check(cudaMemcpyAsync(d_table_ + row, h_table_ + row, size_t(num_experts_) * sizeof(void*), cudaMemcpyHostToDevice,
                        compute_),
        "updating the expert table");
}

void ExpertCache::prefetch(int layer, const int32_t* ids, int n, bool count) {
  if (all_resident_ || caches_[size_t(layer)].slots() == 0) return;
  offload::LayerCache& cache = caches_[size_t(layer)];
  for (int i = 0; i < n; ++i) {
    if (cache.slot_of(ids[i]) >= 0) continue;
    // Keep the other guesses (and anything loaded for this call) from evicting each other.
    if (load(layer, ids[i], ids, n, count) < 0) break;
    if (count) ++stats_.prefetch_issued;
  }
}

void ExpertCache::release(int layer, int expert) {
  if (all_resident_) return;
  const int s = caches_[size_t(layer)].slot_of(expert);
  if (s >= 0) vram_check(cudaEventRecord(slot(layer, s).released, compute_), "recording expert use");
}

ExpertCacheStats ExpertCache::stats() {
  for (Slot& s : slots_) harvest(s, false);
  return stats_;
}

void ExpertCache::reset_stats() {
  for (Slot& s : slots_) harvest(s, true);
  stats_ = ExpertCacheStats{};
}

std::vector<std::vector<int32_t>> ExpertCache::contents() const {
  std::vector<std::vector<int32_t>> out;
  for (const offload::LayerCache& c : caches_) out.emplace_back(c.contents().begin(), c.contents().end());
  return out;
}

}  // namespace lm::cuda
