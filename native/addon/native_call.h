// Keeps C++ exceptions from crossing N-API: every engine call made by the addon runs inside
// run_guarded(), which turns an exception into a message for a JS Error.
//   lm::Error       -> its own message (written for the user: names the file and the fix)
//   std::exception  -> "localmoe <call> failed: <what>" (a bug or resource failure; says where)
//   anything else   -> "localmoe <call> failed: unknown native exception"
#pragma once

#include <napi.h>

#include <exception>
#include <optional>
#include <string>

#include "localmoe/engine.h"

namespace lm_addon {

struct NativeFailure {
  std::string message;
  std::string call;      // the native call that failed: "load", "generate", "promptLogits"
  bool engine_error;     // true when the engine threw lm::Error (bad input or file), false otherwise
};

template <class F>
std::optional<NativeFailure> run_guarded(const char* call, F&& fn) noexcept {
  try {
    fn();
    return std::nullopt;
  } catch (const lm::Error& e) {
    return NativeFailure{e.what(), call, true};
  } catch (const std::exception& e) {
    return NativeFailure{std::string("localmoe ") + call + " failed: " + e.what(), call, false};
  } catch (...) {
    return NativeFailure{std::string("localmoe ") + call + " failed: unknown native exception", call,
                         false};
  }
}

// JS Error with `code` ('ERR_LOCALMOE_ENGINE' for lm::Error, 'ERR_LOCALMOE_NATIVE' otherwise) and
// `call` (which native call failed), so the sidecar can tell a bad model folder from an addon bug.
inline Napi::Error to_js_error(Napi::Env env, const NativeFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", failure.engine_error ? "ERR_LOCALMOE_ENGINE" : "ERR_LOCALMOE_NATIVE");
  error.Set("call", failure.call);
  return error;
}

// Error for misuse of the JS API (engine unloaded, engine busy): code 'ERR_LOCALMOE_STATE'.
inline Napi::Error state_error(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", "ERR_LOCALMOE_STATE");
  return error;
}

// Runs a JS-thread body that may throw Napi::Error (bad arguments, wrong state) and returns its
// promise, or a promise rejected with that error: promise-returning methods never throw.
template <class F>
Napi::Value promise_or_rejection(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error& e) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(e.Value());
    return deferred.Promise();
  }
}

}  // namespace lm_addon
