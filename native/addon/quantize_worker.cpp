// quantize(options, onProgress): lm::quant::quantize_model (native/quant/quantize_model.h) on a
// libuv worker thread. Needs no loaded model and no NativeEngine: it is a free function of the addon.
//
// Progress: after each tensor the worker queues a copy of QuantizeProgress on a non-blocking
// thread-safe function (unbounded queue), so a slow JS consumer never holds the quantizer up.
// Cancellation: the returned promise carries cancel(), which sets an atomic flag the quantizer polls
// between tensors; it then removes its temporary folder and throws Cancelled, and the promise
// rejects with code ERR_LOCALMOE_CANCELLED. As in generate(), the promise settles in the TSFN
// finalizer, i.e. only after every progress event reached onProgress.
#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "native_call.h"
#include "quant/quantize_model.h"
#include "workers.h"

namespace lm_addon {
namespace {

namespace q = lm::quant;

// Shared by the worker thread (options, summary, failure) and the JS thread (the rest).
// Owned by the TSFN: deleted by its finalizer.
struct QuantizeJob {
  q::QuantizeOptions options;
  // Shared with the cancel() function, which JS may call after the job is gone.
  std::shared_ptr<std::atomic<bool>> cancel;
  Napi::Promise::Deferred deferred;
  q::QuantizeSummary summary;
  std::optional<NativeFailure> failure;
  bool cancelled = false;
  std::string cancel_message;
  Napi::ObjectReference callback_error;  // set when onProgress threw; the promise rejects with it
};

std::string required_string(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty()) {
    throw Napi::TypeError::New(o.Env(), std::string("quantize(options): options.") + key +
                                            " must be a non-empty string");
  }
  return v.As<Napi::String>().Utf8Value();
}

q::QuantizeOptions to_quantize_options(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw Napi::TypeError::New(env, "quantize(options): options must be an object");
  auto o = value.As<Napi::Object>();
  q::QuantizeOptions options;
  options.model_dir = required_string(o, "modelDir");
  options.out_dir = required_string(o, "outDir");
  options.preset = required_string(o, "preset");
  Napi::Value method = o.Get("method");
  if (!method.IsUndefined()) {
    std::string m = method.IsString() ? method.As<Napi::String>().Utf8Value() : "";
    if (m == "hqq") options.method = q::Method::Hqq;
    else if (m == "rtn") options.method = q::Method::Rtn;
    else throw Napi::TypeError::New(env, "quantize(options): options.method must be 'hqq' or 'rtn'");
  }
  Napi::Value threads = o.Get("threads");
  int n = 0;
  if (!threads.IsUndefined()) {
    double t = threads.IsNumber() ? threads.As<Napi::Number>().DoubleValue() : -1;
    if (!(t >= 0 && t <= 4096) || t != static_cast<double>(static_cast<int>(t))) {
      throw Napi::TypeError::New(env, "quantize(options): options.threads must be an integer >= 0");
    }
    n = static_cast<int>(t);
  }
  // 0 = all hardware threads, as in load(); the quantizer itself wants a positive count.
  options.threads = n > 0 ? n : std::max(1u, std::thread::hardware_concurrency());
  return options;
}

Napi::Object progress_to_js(Napi::Env env, const q::QuantizeProgress& p) {
  auto o = Napi::Object::New(env);
  o.Set("tensorsDone", p.tensors_done);
  o.Set("tensorsTotal", p.tensors_total);
  o.Set("bytesInDone", static_cast<double>(p.bytes_in_done));
  o.Set("bytesInTotal", static_cast<double>(p.bytes_in_total));
  o.Set("bytesOut", static_cast<double>(p.bytes_out));
  o.Set("elapsedS", p.elapsed_s);
  o.Set("current", p.current);
  // ETA by source bytes (quantizing time scales with the weights read, not the tensor count:
  // norms are tiny, experts are huge). Unknown until some bytes are done.
  if (p.bytes_in_done > 0 && p.bytes_in_total >= p.bytes_in_done) {
    double rate = static_cast<double>(p.bytes_in_done) / std::max(p.elapsed_s, 1e-6);
    o.Set("etaS", static_cast<double>(p.bytes_in_total - p.bytes_in_done) / rate);
  } else {
    o.Set("etaS", env.Null());
  }
  return o;
}

Napi::Object summary_to_js(Napi::Env env, const q::QuantizeSummary& s, const std::string& out_dir) {
  auto o = Napi::Object::New(env);
  o.Set("outDir", out_dir);
  o.Set("quantized", s.quantized);
  o.Set("kept", s.kept);
  o.Set("shards", s.shards);
  o.Set("bytesIn", static_cast<double>(s.bytes_in));
  o.Set("bytesOut", static_cast<double>(s.bytes_out));
  o.Set("seconds", s.seconds);
  auto notes = Napi::Array::New(env, s.notes.size());
  for (uint32_t i = 0; i < s.notes.size(); ++i) notes.Set(i, s.notes[i]);
  o.Set("notes", notes);
  return o;
}

void deliver_progress(Napi::Env env, Napi::Function on_progress, QuantizeJob* job,
                      q::QuantizeProgress* data) {
  std::unique_ptr<q::QuantizeProgress> progress(data);
  if (env == nullptr || !job->callback_error.IsEmpty()) return;  // tearing down, or already failed
  try {
    on_progress.Call({progress_to_js(env, *progress)});
  } catch (const Napi::Error& e) {
    // A throwing callback ends the run: stop quantizing and report its error, not a native one.
    job->callback_error = Napi::Persistent(e.Value());
    job->cancel->store(true);
  }
}

void settle(Napi::Env env, void* /*unused*/, QuantizeJob* job) {
  std::unique_ptr<QuantizeJob> owned(job);
  try {
    if (!job->callback_error.IsEmpty()) {
      job->deferred.Reject(job->callback_error.Value());
    } else if (job->cancelled) {
      Napi::Error error = Napi::Error::New(env, job->cancel_message);
      error.Set("code", "ERR_LOCALMOE_CANCELLED");
      error.Set("call", "quantize");
      job->deferred.Reject(error.Value());
    } else if (job->failure) {
      job->deferred.Reject(to_js_error(env, *job->failure).Value());
    } else {
      job->deferred.Resolve(summary_to_js(env, job->summary, job->options.out_dir));
    }
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
  }
}

using ProgressTsfn = Napi::TypedThreadSafeFunction<QuantizeJob, q::QuantizeProgress, deliver_progress>;

class QuantizeWorker : public Napi::AsyncWorker {
 public:
  QuantizeWorker(Napi::Env env, QuantizeJob* job, ProgressTsfn tsfn)
      : Napi::AsyncWorker(env, "localmoe.quantize"), job_(job), tsfn_(tsfn) {}

  void Execute() override {
    QuantizeJob& job = *job_;
    job.options.cancel = job.cancel.get();
    job.options.on_progress = [this](const q::QuantizeProgress& p) {
      // Unbounded queue: NonBlockingCall only fails while the TSFN is closing.
      auto* data = new q::QuantizeProgress(p);
      if (tsfn_.NonBlockingCall(data) != napi_ok) delete data;
    };
    // Cancelled derives from lm::Error: caught first so a cancel is not reported as a failure.
    job.failure = run_guarded("quantize", [&] {
      try {
        job.summary = q::quantize_model(job.options);
      } catch (const q::Cancelled& e) {
        job.cancelled = true;
        job.cancel_message = e.what();
      }
    });
  }

  // Never SetError()ed: failures travel in the job and settle in the finalizer, after the progress.
  void OnOK() override { tsfn_.Release(); }

 private:
  QuantizeJob* job_;
  ProgressTsfn tsfn_;
};

}  // namespace

Napi::Value start_quantize(Napi::Env env, const Napi::Value& options, const Napi::Value& on_progress) {
  q::QuantizeOptions parsed = to_quantize_options(options);
  if (!on_progress.IsFunction()) {
    throw Napi::TypeError::New(env, "quantize(options, onProgress): onProgress must be a function");
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto* job = new QuantizeJob{std::move(parsed), cancel, Napi::Promise::Deferred::New(env), {},
                              std::nullopt, false, {}, {}};
  Napi::Promise promise = job->deferred.Promise();
  ProgressTsfn tsfn;
  try {
    tsfn = ProgressTsfn::New(env, on_progress.As<Napi::Function>(), "localmoe.quantize.onProgress",
                             0 /* unbounded queue */, 1 /* the worker */, job, settle,
                             static_cast<void*>(nullptr));
  } catch (...) {
    delete job;
    throw;
  }
  // cancel() holds its own reference to the flag, so calling it after the run ended is harmless.
  promise.Set("cancel", Napi::Function::New(
                            env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); },
                            "cancel"));
  (new QuantizeWorker(env, job, tsfn))->Queue();
  return promise;
}

}  // namespace lm_addon
