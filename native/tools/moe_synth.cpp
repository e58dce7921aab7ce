// `moe synth`: writes a quantized model folder with random weights at a real model's shapes, in the
// exact format `moe quantize` produces (same writer: quant/quantize_model.cpp with a synthetic
// source). Benchmarks at Mixtral-8x7B shape need ~20 GB of packed weights; quantizing a real 93 GB
// checkpoint takes ten minutes and the checkpoint cannot be carried to the GPU machine, random
// codes take seconds. Scales and zeros are drawn so dequantized weights look like a trained
// model's (|w| ~ 0.02), which keeps activations finite through 32 layers; routing of random router
// weights is near uniform, unlike a trained model's (use `moe bench --routing-trace` for that).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/dtype.h"
#include "quant/pack.h"
#include "quant/presets.h"
#include "quant/quantize_model.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace lm::tools {

const char* const kSynthUsage =
    "moe synth --out DIR [--shape mixtral-8x7b|tiny] [--preset paper-2bit] [--layers N] [--seed S]\n"
    "    write a quantized model with random weights at the shape's dimensions (no checkpoint\n"
    "    needed; for benchmarks). mixtral-8x7b: 32 layers, hidden 4096, 8 experts of 14336,\n"
    "    ~17-25 GB depending on the preset. --layers overrides the layer count";

namespace {

struct Shape {
  const char* name;
  int vocab, hidden, intermediate, layers, heads, kv_heads, experts, top_k, max_pos;
  float rope_theta;
};

constexpr Shape kShapes[] = {
    {"mixtral-8x7b", 32000, 4096, 14336, 32, 32, 8, 8, 2, 32768, 1e6f},
    {"tiny", 512, 256, 512, 2, 4, 2, 4, 2, 1024, 1e4f},
};

// xoshiro-style fast generator: 20 GB of codes must not take minutes.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  void fill(uint8_t* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t v = next();
      std::memcpy(p + i, &v, 8);
    }
    for (; i < n; ++i) p[i] = uint8_t(next());
  }
  float uniform() { return float(next() >> 40) / float(1 << 24); }  // [0, 1)
};

std::vector<uint16_t> random_bf16(Rng& rng, size_t n, float amp) {
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = f32_to_bf16((rng.uniform() * 2.0f - 1.0f) * amp);
  return v;
}

// Random packed tensor: codes uniform over [0, 2^bits); per-group scales ~ target_amp / 2^(bits-1)
// (so |ŝ(Q − ẑ)| spans ±target_amp), zeros near the middle of the code range.
quant::PackedTensor random_packed(Rng& rng, int64_t rows, int64_t cols, const quant::QuantSpec& spec,
                                  float target_amp) {
  quant::PackedTensor t;
  t.spec = spec;
  t.rows = rows;
  t.cols = cols;
  const int64_t rb = quant::row_bytes(spec.bits, cols);
  t.codes.resize(size_t(rows * rb));
  if (cols % quant::block_values(spec.bits) == 0) {
    rng.fill(t.codes.data(), t.codes.size());  // every slot used: any bytes are valid codes
  } else {  // a partial last block: unused slots must be zero, so go through the packer
    std::vector<uint8_t> codes(size_t(rows * cols));
    for (auto& c : codes) c = uint8_t(rng.next() & ((1u << spec.bits) - 1u));
    quant::pack_codes(codes.data(), rows, cols, spec.bits, t.codes.data());
  }
  const int64_t groups = rows * (cols / spec.group);
  const int64_t n_meta = (groups + spec.meta_group - 1) / spec.meta_group;
  t.scale_codes.resize(size_t(groups));
  t.zero_codes.resize(size_t(groups));
  rng.fill(t.scale_codes.data(), t.scale_codes.size());
  rng.fill(t.zero_codes.data(), t.zero_codes.size());
  // Scale: ŝ = (min + step·c)·2^−shift with shift 8: ŝ ∈ [0.5, 1.0]·2·amp/2^bits.
  const float qmax = float((1 << spec.bits) - 1);
  t.scale_shift = 8;
  const float s_hi = 2.0f * target_amp / qmax * 256.0f;  // stored scaled by 2^8
  t.scale_meta.resize(size_t(2 * n_meta));
  t.zero_meta.resize(size_t(2 * n_meta));
  for (int64_t m = 0; m < n_meta; ++m) {
    t.scale_meta[size_t(2 * m)] = f32_to_f16(0.5f * s_hi);
    t.scale_meta[size_t(2 * m + 1)] = f32_to_f16(0.5f * s_hi / 255.0f);
    t.zero_meta[size_t(2 * m)] = f32_to_f16(0.25f * qmax);  // ẑ ∈ [qmax/4, 3qmax/4]
    t.zero_meta[size_t(2 * m + 1)] = f32_to_f16(0.5f * qmax / 255.0f);
  }
  return t;
}

}  // namespace

int cmd_synth(const std::vector<std::string>& argv) {
  const cli::Args args(argv, {"--out", "--shape", "--preset", "--layers", "--seed"}, {});
  const std::string out = args.required("--out");
  const std::string shape_name = args.str("--shape", "mixtral-8x7b");
  const Shape* shape = nullptr;
  for (const Shape& s : kShapes)
    if (shape_name == s.name) shape = &s;
  if (!shape) throw cli::UsageError("--shape must be mixtral-8x7b or tiny");
  const std::string preset = args.str("--preset", "paper-2bit");
  quant::find_preset(preset);  // lm::Error listing the presets when unknown
  const int layers = int(args.integer("--layers", shape->layers, 1, 1024));
  Rng rng{uint64_t(args.integer("--seed", 1, 1, INT64_MAX)) * 0x9E3779B97F4A7C15ull};

  const int64_t D = shape->hidden, F = shape->intermediate, V = shape->vocab;
  const int64_t Dh = D / shape->heads, KVW = int64_t(shape->kv_heads) * Dh;
  nlohmann::json config = {{"architectures", {"MixtralForCausalLM"}},
                           {"model_type", "mixtral"},
                           {"vocab_size", V},
                           {"hidden_size", D},
                           {"intermediate_size", F},
                           {"num_hidden_layers", layers},
                           {"num_attention_heads", shape->heads},
                           {"num_key_value_heads", shape->kv_heads},
                           {"num_local_experts", shape->experts},
                           {"num_experts_per_tok", shape->top_k},
                           {"max_position_embeddings", shape->max_pos},
                           {"rope_theta", shape->rope_theta},
                           {"rms_norm_eps", 1e-5},
                           {"sliding_window", nullptr},
                           {"tie_word_embeddings", false},
                           {"bos_token_id", 1},
                           {"eos_token_id", 2},
                           {"torch_dtype", "bfloat16"}};

  // Dense tensors live in `store`; TensorInfo points at them. Weights the preset quantizes carry
  // only name and shape (their bytes come from `pack`).
  quant::SyntheticSource src;
  std::vector<std::vector<uint16_t>> store;
  auto dense = [&](const std::string& name, std::vector<int64_t> shp, float amp, bool ones) {
    size_t n = 1;
    for (int64_t d : shp) n *= size_t(d);
    store.push_back(ones ? std::vector<uint16_t>(n, f32_to_bf16(1.0f)) : random_bf16(rng, n, amp));
    TensorInfo t;
    t.name = name;
    t.dtype = DType::BF16;
    t.shape = std::move(shp);
    t.data = reinterpret_cast<const uint8_t*>(store.back().data());
    t.bytes = n * 2;
    t.file = "(synthetic)";
    src.tensors.push_back(std::move(t));
  };
  auto weight = [&](const std::string& name, int64_t rows, int64_t cols) {
    TensorInfo t;
    t.name = name;
    t.dtype = DType::BF16;
    t.shape = {rows, cols};
    t.bytes = size_t(rows * cols * 2);
    t.file = "(synthetic)";
    src.tensors.push_back(std::move(t));
  };
  store.reserve(size_t(4 + 3 * layers));  // no reallocation: TensorInfo::data points into it
  dense("model.embed_tokens.weight", {V, D}, 0.02f, false);
  dense("model.norm.weight", {D}, 0, true);
  dense("lm_head.weight", {V, D}, 0.02f, false);
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    dense(p + "input_layernorm.weight", {D}, 0, true);
    dense(p + "post_attention_layernorm.weight", {D}, 0, true);
    dense(p + "block_sparse_moe.gate.weight", {shape->experts, D}, 0.05f, false);
    weight(p + "self_attn.q_proj.weight", int64_t(shape->heads) * Dh, D);
    weight(p + "self_attn.k_proj.weight", KVW, D);
    weight(p + "self_attn.v_proj.weight", KVW, D);
    weight(p + "self_attn.o_proj.weight", D, int64_t(shape->heads) * Dh);
    for (int e = 0; e < shape->experts; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      weight(x + "w1.weight", F, D);
      weight(x + "w2.weight", D, F);
      weight(x + "w3.weight", F, D);
    }
  }
  // Output magnitude ~ amp·sqrt(cols)·|x|: amp = 1/sqrt(cols) keeps each projection near unit gain.
  src.pack = [&](const std::string&, int64_t rows, int64_t cols, const quant::QuantSpec& spec) {
    return random_packed(rng, rows, cols, spec, 1.0f / std::sqrt(float(cols)));
  };
  src.files = {{"config.json", config.dump(2) + "\n"}};

  quant::QuantizeOptions opt;
  opt.out_dir = out;
  opt.preset = preset;
  opt.synthetic = &src;
  int last_pct = -1;
  opt.on_progress = [&](const quant::QuantizeProgress& p) {
    const int pct = int(100.0 * p.tensors_done / std::max(1, p.tensors_total));
    if (pct / 10 != last_pct / 10) std::fprintf(stderr, "moe synth: %d%% (%.1f GB written)\n", pct, double(p.bytes_out) / 1e9);
    last_pct = pct;
  };
  const quant::QuantizeSummary sum = quant::quantize_model(opt);
  std::printf("{\"out\": \"%s\", \"shape\": \"%s\", \"preset\": \"%s\", \"layers\": %d, \"bytes\": %llu, \"seconds\": %.1f}\n",
              out.c_str(), shape->name, preset.c_str(), layers, static_cast<unsigned long long>(sum.bytes_out), sum.seconds);
  return 0;
}

}  // namespace lm::tools
