// NativeEngine: the JS object for one loaded model (src/sidecar/addon-types.ts, NativeEngine).
//
// Threading: methods run on the JS thread; generate() and promptLogits() hand the engine to a
// worker (generate_worker.cpp, logits_worker.cpp), which holds its own shared_ptr so that unload()
// during a run only drops our reference: memory is freed when the worker finishes. The engine is
// not thread-safe, so at most one worker runs per engine (`busy_`), and counters() while busy returns
// the snapshot the worker takes between tokens instead of reading the engine concurrently.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "localmoe/engine.h"

namespace lm_addon {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define_class(Napi::Env env);
  // Wraps a freshly loaded engine (JS thread; used by load_worker.cpp).
  static Napi::Object wrap(Napi::Env env, std::unique_ptr<lm::Engine> engine);

  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

  // ---- used by the workers ----
  // Polled by the engine between tokens; set by cancel() and unload(), cleared when a run starts.
  std::atomic<bool> cancel_requested{false};
  // Worker thread: copies the engine's counters (throttled unless `force`); the engine is only ever
  // touched by the thread that runs it, so this is called from inside the token callback.
  void snapshot_counters(const lm::Engine& engine, bool force);
  // JS thread: a worker finished (its promise is about to settle).
  void end_run();

 private:
  Napi::Value info(const Napi::CallbackInfo& info);
  Napi::Value generate(const Napi::CallbackInfo& info);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value prompt_logits(const Napi::CallbackInfo& info);
  Napi::Value counters(const Napi::CallbackInfo& info);
  Napi::Value reset_counters(const Napi::CallbackInfo& info);
  Napi::Value unload(const Napi::CallbackInfo& info);

  // Throws a state error naming `call` when the engine was unloaded (or, with `need_idle`, busy).
  std::shared_ptr<lm::Engine> require_engine(Napi::Env env, const char* call, bool need_idle);
  void begin_run();
  void release_memory_accounting(Napi::Env env);

  std::shared_ptr<lm::Engine> engine_;  // null after unload()
  lm::ModelConfig config_;              // copy: info() keeps no lock on a running engine
  lm::Device device_ = lm::Device::Cpu;
  uint64_t memory_bytes_ = 0;
  std::string backend_name_;
  int64_t reported_external_bytes_ = 0;  // what we told V8 via AdjustExternalMemory
  bool busy_ = false;                    // JS thread only

  std::mutex counters_mutex_;
  lm::Counters counters_snapshot_;
  std::chrono::steady_clock::time_point last_snapshot_{};
};

}  // namespace lm_addon
