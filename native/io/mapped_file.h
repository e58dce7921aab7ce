// A read-only memory-mapped file (RAII). Checkpoints are mmap'd so that loading costs no copy and the
// OS pages weights in on demand; a later issue's expert store reads expert byte ranges from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lm {

// A hint that the process is done with these bytes of a mapped file: their pages leave the resident
// set (the file stays intact and a later read faults them back in). Used by streaming passes such as
// `moe quantize` so peak RSS stays at a few tensors, not the whole input. Never discards data that is
// not file-backed (MADV_PAGEOUT cannot drop anonymous memory without swap); a no-op where the
// kernel lacks it.
void release_mapped(const void* data, size_t bytes);

class MappedFile {
 public:
  // Throws lm::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lm
