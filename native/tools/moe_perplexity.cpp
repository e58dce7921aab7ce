// `moe perplexity`: held-out perplexity of a model (16-bit or quantized folder) on a token-id file.
//
// The token stream is cut into consecutive, non-overlapping windows of --context tokens; each window
// is run from an empty KV cache (one batched prompt_logits call) and every position but the first
// predicts the next token, so a window of n tokens scores n − 1. perplexity = exp(mean NLL) over all
// scored tokens, NLL = −log softmax(logits)[next] computed in double. Windows do not overlap, so a
// token near a window start sees little context: compare numbers only at the same --context (the
// paper's Table 1 uses a fixed context too).
//
// Token file: decimal ids separated by whitespace; lines starting with '#' are comments (where the
// tokens came from). Documents start with BOS themselves; the tool adds nothing.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "localmoe/engine.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace lm::tools {

namespace {

std::vector<int32_t> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open token file " + path + ": give a file of whitespace-separated token ids");
  std::vector<int32_t> ids;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line[0] == '#') continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      char* end = nullptr;
      const long v = std::strtol(w.c_str(), &end, 10);
      if (end == w.c_str() || *end != '\0' || v < 0 || v > INT32_MAX)
        throw Error(path + ":" + std::to_string(line_no) + ": '" + w + "' is not a token id");
      ids.push_back(int32_t(v));
    }
  }
  if (ids.size() < 2) throw Error(path + " holds fewer than 2 token ids: nothing to score");
  return ids;
}

// −log softmax(logits)[target], in double (logits of a 32000-token vocabulary summed in fp32 would
// lose ~1e-4 relative, more than the differences between quantization settings we compare).
double nll(const float* logits, int vocab, int32_t target) {
  double mx = logits[0];
  for (int i = 1; i < vocab; ++i) mx = std::max(mx, double(logits[i]));
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - mx);
  return std::log(sum) + mx - double(logits[target]);
}

}  // namespace

extern const char* const kPerplexityUsage;
const char* const kPerplexityUsage =
    "moe perplexity --model DIR --tokens FILE [--context N] [--max-tokens N] [--threads N]\n"
    "    held-out perplexity: FILE's token ids in non-overlapping windows of N tokens (default 512),\n"
    "    each from an empty cache; prints one JSON line (tokens scored, mean NLL, perplexity)";

int cmd_perplexity(const std::vector<std::string>& argv) {
  const cli::Args args(argv, {"--model", "--tokens", "--context", "--max-tokens", "--threads"}, {});
  LoadOptions load;
  load.model_dir = args.required("--model");
  const std::string token_path = args.required("--tokens");
  const int context = int(args.integer("--context", 512, 2, 1 << 20));
  const int64_t max_tokens = args.integer("--max-tokens", 0, 0, INT64_MAX);
  load.threads = int(args.integer("--threads", 0, 0, 1024));
  load.max_context = context;

  std::vector<int32_t> ids = read_token_file(token_path);
  if (max_tokens > 0 && int64_t(ids.size()) > max_tokens) ids.resize(size_t(max_tokens));
  const std::unique_ptr<Engine> engine = Engine::load(load);
  const int V = engine->config().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] >= V)
      throw Error(token_path + ": token id " + std::to_string(ids[i]) + " is outside the model's vocabulary [0, " +
                  std::to_string(V) + "): the file was made with another tokenizer");
  const int window = std::min(context, engine->config().max_position_embeddings);

  const auto t0 = std::chrono::steady_clock::now();
  double total = 0.0;
  int64_t scored = 0, windows = 0;
  for (size_t begin = 0; begin + 1 < ids.size(); begin += size_t(window)) {
    const size_t end = std::min(ids.size(), begin + size_t(window));
    const std::vector<int32_t> chunk(ids.begin() + ptrdiff_t(begin), ids.begin() + ptrdiff_t(end));
    const std::vector<float> logits = engine->prompt_logits(chunk);  // [n, V]
    for (size_t t = 0; t + 1 < chunk.size(); ++t) total += nll(logits.data() + t * size_t(V), V, chunk[t + 1]);
    scored += int64_t(chunk.size()) - 1;
    ++windows;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double mean = total / double(scored);
  const nlohmann::json out = {
      {"model", load.model_dir},
      {"weights", engine->config().weight_dtype},
      {"tokens_file", token_path},
      {"context", window},
      {"windows", windows},
      {"tokens_scored", scored},
      {"mean_nll", mean},
      {"perplexity", std::exp(mean)},
      {"seconds", seconds},
      {"backend", engine->backend_name()},
  };
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace lm::tools
