// NumPy .npy (format 1.0) for float32 arrays: `moe run --logits-out` writes them, the golden tests
// read the fixtures' logits_<i>.npy. Only little-endian '<f4', C order: anything else is an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lm {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Writes to a temporary name and renames, so a failed write never leaves a half file. Throws lm::Error.
void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);
NpyArray read_npy_f32(const std::string& path);

}  // namespace lm
