// promptLogits(): prefill on a libuv worker thread; resolves with a Float32Array.
#include <cstring>
#include <optional>

#include "engine_wrap.h"
#include "native_call.h"
#include "workers.h"

namespace lm_addon {
namespace {

class LogitsWorker : public Napi::AsyncWorker {
 public:
  LogitsWorker(Napi::Env env, EngineWrap* owner, std::shared_ptr<lm::Engine> engine,
               std::vector<int32_t> tokens)
      : Napi::AsyncWorker(env, "localmoe.promptLogits"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        engine_(std::move(engine)),
        tokens_(std::move(tokens)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    failure_ = run_guarded("promptLogits", [&] { logits_ = engine_->prompt_logits(tokens_); });
  }

  void OnOK() override {
    Napi::Env env = Env();
    owner_->end_run();
    if (failure_) {
      deferred_.Reject(to_js_error(env, *failure_).Value());
      return;
    }
    auto array = Napi::Float32Array::New(env, logits_.size());
    if (!logits_.empty()) std::memcpy(array.Data(), logits_.data(), logits_.size() * sizeof(float));
    deferred_.Resolve(array);
  }

 private:
  Napi::Promise::Deferred deferred_;
  EngineWrap* owner_;
  std::shared_ptr<lm::Engine> engine_;
  std::vector<int32_t> tokens_;
  std::vector<float> logits_;
  std::optional<NativeFailure> failure_;
};

}  // namespace

Napi::Value start_prompt_logits(Napi::Env env, EngineWrap* owner,
                                std::shared_ptr<lm::Engine> engine, std::vector<int32_t> tokens) {
  auto* worker = new LogitsWorker(env, owner, std::move(engine), std::move(tokens));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace lm_addon
