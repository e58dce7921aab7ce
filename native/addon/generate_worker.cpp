// generate(): decoding runs on a libuv worker thread; tokens come back through a thread-safe
// function called with NonBlockingCall on an unbounded queue, so a slow JS consumer never stalls
// decoding. Cancellation is the EngineWrap's atomic flag, which the engine polls between tokens.
//
// Ordering: the promise must settle only after onToken has seen every token. libuv gives no order
// between a TSFN's queued calls and an AsyncWorker's completion callback, so the worker releases
// the TSFN when done and the promise settles in the TSFN finalizer, which Node runs only once the
// queue is drained.
#include <memory>
#include <optional>
#include <string>

#include "convert.h"
#include "engine_wrap.h"
#include "native_call.h"
#include "workers.h"

namespace lm_addon {
namespace {

// Shared by the worker thread (engine, request, result, failure) and the JS thread (the rest).
// Owned by the TSFN: deleted by its finalizer.
struct GenerateJob {
  EngineWrap* owner;
  std::shared_ptr<lm::Engine> engine;
  lm::GenerateRequest request;
  Napi::Promise::Deferred deferred;
  lm::GenerateResult result;
  std::optional<NativeFailure> failure;
  Napi::ObjectReference callback_error;    // set when onToken threw; the promise rejects with it
};

void deliver_token(Napi::Env env, Napi::Function on_token, GenerateJob* job, int32_t* data) {
  std::unique_ptr<int32_t> token(data);
  if (env == nullptr || !job->callback_error.IsEmpty()) return;  // tearing down, or already failed
  try {
    on_token.Call({Napi::Number::New(env, *token)});
  } catch (const Napi::Error& e) {
    // A throwing callback ends the run: stop decoding and report its error, not a native one.
    job->callback_error = Napi::Persistent(e.Value());
    job->owner->cancel_requested.store(true);
  }
}

void settle(Napi::Env env, void* /*unused*/, GenerateJob* job) {
  std::unique_ptr<GenerateJob> owned(job);
  job->owner->end_run();  // before settling, so a .then() may start the next generate()
  try {
    if (!job->callback_error.IsEmpty()) {
      job->deferred.Reject(job->callback_error.Value());
    } else if (job->failure) {
      job->deferred.Reject(to_js_error(env, *job->failure).Value());
    } else {
      job->deferred.Resolve(generate_result_to_js(env, job->result));
    }
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
  }
}

using TokenTsfn = Napi::TypedThreadSafeFunction<GenerateJob, int32_t, deliver_token>;

class GenerateWorker : public Napi::AsyncWorker {
 public:
  GenerateWorker(Napi::Env env, GenerateJob* job, TokenTsfn tsfn)
      : Napi::AsyncWorker(env, "localmoe.generate"), job_(job), tsfn_(tsfn) {}

  void Execute() override {
    GenerateJob& job = *job_;
    job.failure = run_guarded("generate", [&] {
      job.result = job.engine->generate(
          job.request,
          [&](int32_t token) {
            // Unbounded queue: NonBlockingCall only fails while the TSFN is closing.
            auto* data = new int32_t(token);
            if (tsfn_.NonBlockingCall(data) != napi_ok) delete data;
            job.owner->snapshot_counters(*job.engine, false);
            return true;  // stopping is the cancel flag's job (it yields StopReason::Cancelled)
          },
          &job.owner->cancel_requested);
      job.owner->snapshot_counters(*job.engine, true);
    });
  }

  // Never SetError()ed: failures travel in the job and settle in the finalizer, after the tokens.
  void OnOK() override { tsfn_.Release(); }

 private:
  GenerateJob* job_;
  TokenTsfn tsfn_;
};

}  // namespace

Napi::Value start_generate(Napi::Env env, EngineWrap* owner, std::shared_ptr<lm::Engine> engine,
                           lm::GenerateRequest request, Napi::Function on_token) {
  auto* job = new GenerateJob{owner, std::move(engine), std::move(request),
                              Napi::Promise::Deferred::New(env), {}, std::nullopt, {}};
  Napi::Promise promise = job->deferred.Promise();
  TokenTsfn tsfn;
  try {
    tsfn = TokenTsfn::New(env, on_token, "localmoe.generate.onToken", 0 /* unbounded queue */,
                          1 /* the worker */, job, settle, static_cast<void*>(nullptr));
  } catch (...) {
    delete job;
    owner->end_run();
    throw;
  }
  (new GenerateWorker(env, job, tsfn))->Queue();
  return promise;
}

}  // namespace lm_addon
