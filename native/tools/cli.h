// Small command-line helpers shared by the `moe` subcommands: flag parsing with usage errors.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace lm::cli {

// Bad command-line usage: main prints the message and the usage text and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses "--name value" and "--flag" arguments. `valued` / `flags` list the accepted names.
class Args {
 public:
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& valued,
       const std::vector<std::string>& flags);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string str(const std::string& name, const std::string& fallback = "") const;
  std::string required(const std::string& name) const;
  int64_t integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
  double number(const std::string& name, double fallback) const;
  std::vector<int32_t> int_list(const std::string& name) const;  // "1,2,3"

 private:
  std::map<std::string, std::string> values_;  // flag -> value ("" for boolean flags)
};

// --vram-budget SIZE: bytes for "12GiB", "800MiB", "10GB", "500MB" or plain bytes; 0 for "auto".
int64_t parse_vram_budget(const std::string& s);

}  // namespace lm::cli
