// load(): Engine::load (reading and converting every weight) on a libuv worker thread.
#include <memory>
#include <optional>

#include "engine_wrap.h"
#include "native_call.h"
#include "workers.h"

namespace lm_addon {
namespace {

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, lm::LoadOptions options)
      : Napi::AsyncWorker(env, "localmoe.load"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    failure_ = run_guarded("load", [&] { engine_ = lm::Engine::load(options_); });
    if (!failure_ && !engine_) {
      failure_ = NativeFailure{"localmoe load failed: the engine returned no model", "load", false};
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failure_) {
      deferred_.Reject(to_js_error(env, *failure_).Value());
      return;
    }
    try {
      deferred_.Resolve(EngineWrap::wrap(env, std::move(engine_)));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  lm::LoadOptions options_;
  std::unique_ptr<lm::Engine> engine_;
  std::optional<NativeFailure> failure_;
};

}  // namespace

Napi::Value start_load(Napi::Env env, lm::LoadOptions options) {
  auto* worker = new LoadWorker(env, std::move(options));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace lm_addon
