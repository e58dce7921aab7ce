// Quantizes a Hugging Face Mixtral checkpoint folder into the quantized model format (qformat.h),
// streaming one tensor at a time: peak memory is one source tensor in fp32 plus its packed form.
//
// The output is built in a temporary sibling folder (OUT.partial-<pid>) and renamed to OUT only
// after every shard is written, synced and re-opened by the validating reader; on any error or
// cancellation the temporary folder is removed, so OUT is either complete or absent.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hqq.h"
#include "io/safetensors.h"
#include "packed_tensor.h"
#include "localmoe/engine.h"

namespace lm::quant {

struct QuantizeProgress {
  int tensors_done = 0;
  int tensors_total = 0;
  uint64_t bytes_in_done = 0;   // source bytes processed
  uint64_t bytes_in_total = 0;
  uint64_t bytes_out = 0;       // bytes written so far
  double elapsed_s = 0;
  std::string current;          // tensor just finished
};

// A synthetic source for `moe synth`: the tensor list of a checkpoint that does not exist. Dense
// tensors carry their bytes (data points into memory the caller owns); weights the preset quantizes
// are produced by `pack` instead of the HQQ solver (random codes: benchmarks at real shapes without
// a 93 GB checkpoint). `files` are written next to the shards (config.json, ...).
struct SyntheticSource {
  std::vector<TensorInfo> tensors;
  std::function<PackedTensor(const std::string& name, int64_t rows, int64_t cols, const QuantSpec& spec)> pack;
  std::vector<std::pair<std::string, std::string>> files;  // name, contents
};

struct QuantizeOptions {
  std::string model_dir;
  std::string out_dir;
  std::string preset;                          // presets.h
  Method method = Method::Hqq;                 // Rtn: the baseline, for comparisons
  int threads = 1;
  uint64_t shard_bytes = 4ull << 30;           // start a new shard beyond this (experts never split)
  const std::atomic<bool>* cancel = nullptr;   // polled between tensors
  std::function<void(const QuantizeProgress&)> on_progress;  // after each tensor (may be empty)
  const SyntheticSource* synthetic = nullptr;  // set: write this instead of quantizing model_dir
};

struct QuantizeSummary {
  int quantized = 0;
  int kept = 0;
  int shards = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  double seconds = 0;
  std::vector<std::string> notes;  // lowered groups / kept weights, "name: why"
};

// Thrown when `cancel` was set; the temporary folder is already gone.
class Cancelled : public Error {
 public:
  using Error::Error;
};

QuantizeSummary quantize_model(const QuantizeOptions& options);

}  // namespace lm::quant
