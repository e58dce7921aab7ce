// The quantized model format (DESIGN.md "Formats"), version 1: what the writer promises and the
// reader checks.
//
// A quantized model folder holds the source folder's config.json / tokenizer / generation files
// unchanged, model-0000i-of-0000n.safetensors shards and model.safetensors.index.json.
// Each shard is a standard safetensors file (readable by the `safetensors` Python package):
//   - header padded with spaces so the data buffer starts at a multiple of 4096 bytes; offsets are
//     therefore 4096-aligned in the file exactly when they are aligned relative to the buffer;
//   - every tensor starts 64-byte aligned (kernels load whole cache lines); gaps are covered by
//     U8 tensors named "__pad.N" (safetensors readers require a gap-free buffer; ours skip them);
//   - a quantized weight "X.weight" [rows, cols] becomes five tensors (see packed_tensor.h):
//       X.hqq_codes        U8  [rows, row_bytes]      packed codes
//       X.hqq_scale_codes  U8  [rows, cols/group]     8-bit scale codes
//       X.hqq_zero_codes   U8  [rows, cols/group]     8-bit zero codes
//       X.hqq_scale_meta   F16 [n_meta, 2]            (min, step) per scale/zero group
//       X.hqq_zero_meta    F16 [n_meta, 2]
//     other tensors are stored unchanged (their original dtype and bytes);
//   - each expert's 15 tensors (w1, w2, w3 × 5) lie in one byte range that starts on a 4096-byte
//     boundary and is padded to one: one expert = one read / one DMA;
//   - "__metadata__" (all values strings, as safetensors requires):
//       format          "localmoe-hqq"
//       format_version  "1"
//       preset          e.g. "paper-2bit";  method  "hqq" | "rtn"
//       quant           JSON {"X.weight": {"bits","group","meta_group","rows","cols","scale_shift"}}
//       experts         JSON {"L.E": [begin, end]}  each expert's byte range, relative to the data
//                       buffer like data_offsets (the reader turns them into absolute offsets)
//       source          the source folder's tensor count and bytes, for the record
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "packed_tensor.h"

namespace lm {
class MappedFile;
}

namespace lm::quant {

inline constexpr const char* kFormatName = "localmoe-hqq";
inline constexpr int kFormatVersion = 1;
inline constexpr uint64_t kExpertAlign = 4096;  // expert byte ranges (page / DMA friendly)
inline constexpr uint64_t kTensorAlign = 64;    // every tensor (cache line, AVX-512 load)

// Names of the five tensors of a quantized weight "X.weight".
struct PackedNames {
  std::string codes, scale_codes, zero_codes, scale_meta, zero_meta;
};
PackedNames packed_names(const std::string& weight_name);

// One tensor entry of a shard header.
struct RawTensor {
  std::string name;
  std::string dtype;           // "U8" | "F16" | "BF16" | "F32"
  std::vector<int64_t> shape;
  uint64_t offset = 0;         // absolute offset in the file
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;
};

// Parses and validates a safetensors image that may contain U8 tensors (the engine's io/ reader
// accepts only float dtypes so far): header length, JSON, dtypes, shapes, offsets inside the file,
// size = numel · dtype size, no overlaps. `label` (the path) starts every error message.
// TODO(engine): once io/safetensors.cpp accepts U8, replace this with parse_safetensors.
struct RawHeader {
  std::vector<RawTensor> tensors;  // sorted by offset
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;
};
RawHeader parse_raw_safetensors(const uint8_t* data, size_t size, const std::string& label);

// Settings of one quantized weight, as stored in the "quant" metadata.
struct QuantEntry {
  QuantSpec spec;
  int64_t rows = 0, cols = 0;
  int scale_shift = 0;
};

// A contiguous expert byte range in one shard file.
struct ExpertRange {
  std::string file;      // path of the shard
  uint64_t offset = 0;   // absolute, multiple of kExpertAlign
  uint64_t bytes = 0;    // multiple of kExpertAlign
  const uint8_t* data = nullptr;  // inside the mapping
};

// A validated quantized model folder, mmap'd. Every check runs in the constructor; afterwards the
// accessors cannot fail except for names that are not there (lm::Error naming them).
class QuantizedModel {
 public:
  explicit QuantizedModel(const std::string& dir);
  ~QuantizedModel();
  QuantizedModel(const QuantizedModel&) = delete;
  QuantizedModel& operator=(const QuantizedModel&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& preset() const { return preset_; }
  const std::string& method() const { return method_; }

  bool is_quantized(const std::string& weight_name) const { return packed_.count(weight_name) != 0; }
  // The packed view of a quantized weight "X.weight".
  PackedView packed(const std::string& weight_name) const;
  // A tensor stored unchanged (norms, router, embeddings, lm_head, any non-quantized weight).
  const RawTensor* dense(const std::string& name) const;
  // The byte range holding expert `expert` of layer `layer` (w1, w2, w3 and their scales/zeros).
  const ExpertRange& expert_range(int layer, int expert) const;
  size_t num_experts() const { return experts_.size(); }
  const std::map<std::string, QuantEntry>& quantized() const { return entries_; }
  std::vector<const RawTensor*> dense_tensors() const;
  // Bytes of all shard files (the model's size on disk, without config/tokenizer files).
  uint64_t total_bytes() const;

 private:
  std::string dir_, preset_, method_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<RawHeader> headers_;
  std::map<std::string, const RawTensor*> by_name_;
  std::map<std::string, QuantEntry> entries_;
  std::map<std::string, PackedView> packed_;
  std::map<std::pair<int, int>, ExpertRange> experts_;
};

}  // namespace lm::quant
