#include "tools/cli.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace lm::cli {

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& valued,
           const std::vector<std::string>& flags) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (contains(flags, a)) {
      values_[a] = "";
    } else if (contains(valued, a)) {
      if (i + 1 >= argv.size()) throw UsageError(a + " needs a value");
      values_[a] = argv[++i];
    } else {
      throw UsageError("unknown argument '" + a + "'");
    }
  }
}

std::string Args::str(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::required(const std::string& name) const {
  if (!has(name)) throw UsageError(name + " is required");
  return str(name);
}

int64_t Args::integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
  if (!has(name)) return fallback;
  const std::string s = str(name);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < min || v > max)
    throw UsageError(name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                     "], got '" + s + "'");
  return v;
}

double Args::number(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string s = str(name);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v)) throw UsageError(name + " must be a number, got '" + s + "'");
  return v;
}

std::vector<int32_t> Args::int_list(const std::string& name) const {
  const std::string s = required(name);
  std::vector<int32_t> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    const std::string item = s.substr(start, comma - start);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX)
      throw UsageError(name + " must be comma-separated token ids, e.g. 1,415,2936; bad item '" + item + "'");
    out.push_back(int32_t(v));
    start = comma + 1;
  }
  return out;
}


int64_t parse_vram_budget(const std::string& s) {
  if (s == "auto") return 0;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    throw cli::UsageError("--vram-budget '" + s + "': expected a size like 12GiB, 800MiB, 10GB or auto");
  }
  const std::string unit = s.substr(used);
  double mul = 1;
  if (unit == "GiB" || unit == "G") mul = double(1ull << 30);
  else if (unit == "MiB" || unit == "M") mul = double(1ull << 20);
  else if (unit == "GB") mul = 1e9;
  else if (unit == "MB") mul = 1e6;
  else if (!unit.empty()) throw cli::UsageError("--vram-budget '" + s + "': unknown unit '" + unit + "'");
  if (!(v > 0)) throw cli::UsageError("--vram-budget must be positive or auto");
  return int64_t(v * mul);
}

}  // namespace lm::cli
