// `moe quantize` as a process: exit codes and messages for bad usage, success on a tiny checkpoint,
// and Ctrl-C (SIGINT) in the middle of a run leaving neither OUT nor its temporary folder.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "quant_test_util.h"

namespace fs = std::filesystem;

static const std::string kTool = LM_QUANTIZE_TOOL;   // path of moe-quantize (set by CMake)
static const std::string kGolden = LM_GOLDEN_DIR;

struct Run {
  int status = -1;   // exit code, or 128 + signal
  std::string err;   // stderr
};

// Runs the tool; if `interrupt_after` is non-empty, sends SIGINT once stderr contains it.
static Run run(const std::vector<std::string>& args, const std::string& interrupt_after = "") {
  int pipefd[2];
  QCHECK(pipe(pipefd) == 0, "pipe");
  const pid_t pid = fork();
  QCHECK(pid >= 0, "fork");
  if (pid == 0) {
    dup2(pipefd[1], 2);
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    close(pipefd[0]);
    std::vector<char*> argv{const_cast<char*>(kTool.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kTool.c_str(), argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  Run r;
  char buf[4096];
  bool sent = false;
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) {
    r.err.append(buf, static_cast<size_t>(n));
    if (!sent && !interrupt_after.empty() && r.err.find(interrupt_after) != std::string::npos) {
      kill(pid, SIGINT);
      sent = true;
    }
  }
  close(pipefd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (!interrupt_after.empty()) QCHECK(sent, "never saw '%s' in: %s", interrupt_after.c_str(), r.err.c_str());
  return r;
}

// A checkpoint big enough that quantizing it takes seconds: one layer of 8 experts, fp16.
static void write_synthetic(const fs::path& dir) {
  fs::create_directories(dir);
  const int64_t F = 1024, D = 1024;
  std::string header = "{";
  uint64_t off = 0;
  std::vector<std::string> names;
  for (int e = 0; e < 8; ++e)
    for (int w = 1; w <= 3; ++w) {
      const std::string name = "model.layers.0.block_sparse_moe.experts." + std::to_string(e) + ".w" + std::to_string(w) + ".weight";
      const int64_t rows = w == 2 ? D : F, cols = w == 2 ? F : D;
      const uint64_t bytes = static_cast<uint64_t>(rows * cols) * 2;
      header += (names.empty() ? "\"" : ",\"") + name + "\":{\"dtype\":\"F16\",\"shape\":[" + std::to_string(rows) + "," +
                std::to_string(cols) + "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
      off += bytes;
      names.push_back(name);
    }
  header += "}";
  while ((8 + header.size()) % 8) header += ' ';
  std::ofstream f(dir / "model.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<uint16_t> chunk(1 << 20);
  for (uint64_t done = 0; done < off; done += chunk.size() * 2) {
    for (auto& h : chunk) h = lm::f32_to_f16(nd(rng));
    f.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(std::min<uint64_t>(off - done, chunk.size() * 2)));
  }
  std::ofstream(dir / "config.json") << "{}\n";
}

static bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

int main() {
  const fs::path tmp = fs::temp_directory_path() / ("localmoe-quant-cli-" + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string out = (tmp / "out").string();

  Run r = run({});
  QCHECK(r.status == 2 && has(r.err, "usage"), "no args: %d %s", r.status, r.err.c_str());
  r = run({"--model", kGolden + "/tiny-fp32", "--out", out});
  QCHECK(r.status == 2 && has(r.err, "--preset is required"), "missing preset: %d %s", r.status, r.err.c_str());
  r = run({"--model", kGolden + "/tiny-fp32", "--out", out, "--preset", "1bit"});
  QCHECK(r.status == 1 && has(r.err, "paper-2bit"), "bad preset: %d %s", r.status, r.err.c_str());
  r = run({"--model", (tmp / "none").string(), "--out", out, "--preset", "4bit"});
  QCHECK(r.status == 1 && has(r.err, "none"), "missing model: %d %s", r.status, r.err.c_str());
  QCHECK(!fs::exists(out), "a failed run created %s", out.c_str());

  r = run({"--model", kGolden + "/tiny-fp32", "--out", out, "--preset", "paper-2bit", "--threads", "2"});
  QCHECK(r.status == 0 && has(r.err, "[65/65 tensors]") && fs::exists(out + "/model.safetensors.index.json"),
         "tiny run: %d %s", r.status, r.err.c_str());
  r = run({"--model", kGolden + "/tiny-fp32", "--out", out, "--preset", "paper-2bit"});
  QCHECK(r.status == 1 && has(r.err, "already exists"), "existing out: %d %s", r.status, r.err.c_str());

  // Ctrl-C after the first tensor: exit 130, nothing left behind.
  const fs::path big = tmp / "synthetic";
  write_synthetic(big);
  const std::string out2 = (tmp / "out2").string();
  r = run({"--model", big.string(), "--out", out2, "--preset", "paper-2bit", "--threads", "1"}, "[1/24 tensors]");
  QCHECK(r.status == 130 && has(r.err, "cancelled"), "SIGINT: status %d, stderr %s", r.status, r.err.c_str());
  for (const auto& e : fs::directory_iterator(tmp))
    QCHECK(!has(e.path().filename().string(), "out2"), "SIGINT left %s", e.path().c_str());
  fs::remove_all(tmp);
  std::printf("quant_cli_test: OK\n");
  return 0;
}
