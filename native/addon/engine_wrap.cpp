#include "engine_wrap.h"

#include <string>

#include "addon_data.h"
#include "convert.h"
#include "native_call.h"
#include "workers.h"

namespace lm_addon {

Napi::Function EngineWrap::define_class(Napi::Env env) {
  return DefineClass(env, "NativeEngine",
                     {
                         InstanceMethod<&EngineWrap::info>("info"),
                         InstanceMethod<&EngineWrap::generate>("generate"),
                         InstanceMethod<&EngineWrap::cancel>("cancel"),
                         InstanceMethod<&EngineWrap::prompt_logits>("promptLogits"),
                         InstanceMethod<&EngineWrap::counters>("counters"),
                         InstanceMethod<&EngineWrap::reset_counters>("resetCounters"),
                         InstanceMethod<&EngineWrap::unload>("unload"),
                     });
}

Napi::Object EngineWrap::wrap(Napi::Env env, std::unique_ptr<lm::Engine> engine) {
  // The constructor takes ownership from the External; JS code cannot construct one itself.
  auto* raw = engine.release();
  try {
    return addon_data(env).engine_class.New({Napi::External<lm::Engine>::New(env, raw)});
  } catch (...) {
    delete raw;  // only reached when the constructor did not take it
    throw;
  }
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeEngine is created by load(), not by new");
  }
  engine_.reset(info[0].As<Napi::External<lm::Engine>>().Data());
  config_ = engine_->config();
  device_ = engine_->device();
  memory_bytes_ = engine_->memory_bytes();
  backend_name_ = engine_->backend_name();
  counters_snapshot_ = engine_->counters();
  // V8 sizes its GC pressure by what it can see; a loaded model is large and invisible otherwise.
  reported_external_bytes_ = static_cast<int64_t>(memory_bytes_);
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_external_bytes_);
}

EngineWrap::~EngineWrap() {
  // Garbage-collected without unload(): give the accounting back (the engine frees itself).
  if (reported_external_bytes_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), -reported_external_bytes_);
  }
}

void EngineWrap::release_memory_accounting(Napi::Env env) {
  if (reported_external_bytes_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -reported_external_bytes_);
    reported_external_bytes_ = 0;
  }
}

std::shared_ptr<lm::Engine> EngineWrap::require_engine(Napi::Env env, const char* call,
                                                       bool need_idle) {
  if (!engine_) {
    throw state_error(env, std::string("NativeEngine.") + call +
                               ": the model was unloaded; load it again with load()");
  }
  if (need_idle && busy_) {
    throw state_error(env, std::string("NativeEngine.") + call +
                               ": another generate() or promptLogits() is still running on this "
                               "engine (one at a time); cancel() it or wait for it to settle");
  }
  return engine_;
}

void EngineWrap::begin_run() {
  busy_ = true;
  cancel_requested.store(false);
  last_snapshot_ = std::chrono::steady_clock::now();
  Ref();  // keep this object alive while a worker points at it
}

void EngineWrap::end_run() {
  busy_ = false;
  Unref();
}

void EngineWrap::snapshot_counters(const lm::Engine& engine, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_snapshot_ < std::chrono::milliseconds(100)) return;
  last_snapshot_ = now;
  lm::Counters fresh = engine.counters();
  std::lock_guard<std::mutex> lock(counters_mutex_);
  counters_snapshot_ = std::move(fresh);
}

Napi::Value EngineWrap::info(const Napi::CallbackInfo& info) {
  require_engine(info.Env(), "info", false);
  return model_info_to_js(info.Env(), config_, device_, memory_bytes_, backend_name_);
}

Napi::Value EngineWrap::generate(const Napi::CallbackInfo& info) {
  return promise_or_rejection(info.Env(), [&]() -> Napi::Value {
    auto engine = require_engine(info.Env(), "generate", true);
    lm::GenerateRequest request = to_generate_request(info[0]);
    if (!info[1].IsFunction()) {
      throw Napi::TypeError::New(info.Env(), "generate(options, onToken): onToken must be a function");
    }
    begin_run();
    return start_generate(info.Env(), this, std::move(engine), std::move(request),
                          info[1].As<Napi::Function>());
  });
}

Napi::Value EngineWrap::cancel(const Napi::CallbackInfo& info) {
  // A no-op when idle or unloaded: cancellation races with completion by nature.
  cancel_requested.store(true);
  return info.Env().Undefined();
}

Napi::Value EngineWrap::prompt_logits(const Napi::CallbackInfo& info) {
  return promise_or_rejection(info.Env(), [&]() -> Napi::Value {
    auto engine = require_engine(info.Env(), "promptLogits", true);
    auto tokens = to_token_ids(info[0], "promptLogits(tokens)");
    begin_run();
    return start_prompt_logits(info.Env(), this, std::move(engine), std::move(tokens));
  });
}

Napi::Value EngineWrap::counters(const Napi::CallbackInfo& info) {
  auto engine = require_engine(info.Env(), "counters", false);
  if (!busy_) snapshot_counters(*engine, true);  // idle: no other thread touches the engine
  std::lock_guard<std::mutex> lock(counters_mutex_);
  return counters_to_js(info.Env(), counters_snapshot_, config_.num_layers, config_.num_experts);
}

Napi::Value EngineWrap::reset_counters(const Napi::CallbackInfo& info) {
  auto engine = require_engine(info.Env(), "resetCounters", true);
  engine->reset_counters();
  snapshot_counters(*engine, true);
  return info.Env().Undefined();
}

Napi::Value EngineWrap::unload(const Napi::CallbackInfo& info) {
  if (engine_) {
    // A running worker keeps its own reference; it stops within a token and then frees the model.
    cancel_requested.store(true);
    engine_.reset();
    release_memory_accounting(info.Env());
  }
  return info.Env().Undefined();
}

}  // namespace lm_addon
