// safetensors reader: one file or a sharded set (model.safetensors.index.json), mmap'd.
//
// Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of
// JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data
// buffer; offsets are relative to the start of the buffer. Everything is validated before any tensor
// is handed out (header length, JSON, dtype, shape, offsets in range, size = numel * dtype size, no
// overlap), so a corrupt or truncated file gives an lm::Error naming the file, never a crash or a read
// out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dtype.h"
#include "io/mapped_file.h"

namespace lm {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;     // as stored, e.g. [rows, cols]
  const uint8_t* data = nullptr;  // first byte (inside the mapping, or an aligned copy; see below)
  size_t bytes = 0;               // numel * dtype_size
  size_t file_offset = 0;         // absolute offset of the first byte in its file
  std::string file;               // path of the file holding it (for error messages)

  int64_t numel() const;
  std::string shape_string() const;  // "[4096, 14336]"
};

// Parsed and validated header of one safetensors byte image.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;             // in data-offset order
  std::map<std::string, std::string> metadata; // "__metadata__" (may be empty)
};

// Validates `size` bytes at `data` as a safetensors image; `label` names it in errors (a path).
// TensorInfo::data points into `data`. Throws lm::Error on any inconsistency.
SafetensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& label);

// One mmap'd .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorInfo* find(const std::string& name) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::vector<std::unique_ptr<uint64_t[]>> aligned_copies_;  // see constructor
  std::unordered_map<std::string, size_t> index_;
};

// All tensors of a checkpoint folder: model.safetensors.index.json (sharded) or model.safetensors.
class Checkpoint {
 public:
  // Opens and validates every file; throws lm::Error naming the folder/file and what to do.
  explicit Checkpoint(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const TensorInfo* find(const std::string& name) const;
  // The tensor `name` with exactly `shape`; `why` says where the expected shape comes from
  // (e.g. "hidden_size=4096 in config.json"). Throws lm::Error when missing or shaped differently.
  const TensorInfo& require(const std::string& name, const std::vector<int64_t>& shape,
                            const std::string& why) const;
  std::vector<const TensorInfo*> all() const;  // sorted by name
  size_t num_files() const { return files_.size(); }
  uint64_t total_bytes() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, const TensorInfo*> by_name_;
};

// A 2-D (or 1-D as [1, n]) view of a tensor for the kernels.
WeightView as_matrix(const TensorInfo& t);

}  // namespace lm
