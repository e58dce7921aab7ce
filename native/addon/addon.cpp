// localmoe.node entry point: exports load(), quantize() and buildInfo() (src/sidecar/addon-types.ts,
// AddonModule). NativeEngine objects come only from load().
#include <napi.h>

#include "addon_data.h"
#include "convert.h"
#include "engine_wrap.h"
#include "localmoe/engine.h"
#include "native_call.h"
#include "workers.h"

#ifndef LOCALMOE_ADDON_VERSION
#define LOCALMOE_ADDON_VERSION ""
#endif

namespace lm_addon {
namespace {

Napi::Value load(const Napi::CallbackInfo& info) {
  return promise_or_rejection(info.Env(),
                              [&]() -> Napi::Value { return start_load(info.Env(), to_load_options(info[0])); });
}

Napi::Value quantize(const Napi::CallbackInfo& info) {
  return promise_or_rejection(info.Env(),
                              [&]() -> Napi::Value { return start_quantize(info.Env(), info[0], info[1]); });
}

Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto result = Napi::Object::New(env);
  const char* version = LOCALMOE_ADDON_VERSION;
  result.Set("version", version[0] != '\0' ? version : "0.0.0");
  // Backends usable here and now: CUDA only when compiled in and a GPU + driver are present.
  const lm::BackendSupport support = lm::backend_support();
  auto backends = Napi::Array::New(env);
  backends.Set(0u, "cpu");
  if (support.cuda_compiled && support.cuda_unavailable_reason.empty()) backends.Set(1u, "cuda");
  result.Set("backends", backends);
  result.Set("cudaCompiled", support.cuda_compiled);
  result.Set("cudaUnavailableReason", support.cuda_unavailable_reason);
  return result;
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->engine_class = Napi::Persistent(EngineWrap::define_class(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("load", Napi::Function::New<load>(env, "load"));
  exports.Set("quantize", Napi::Function::New<quantize>(env, "quantize"));
  exports.Set("buildInfo", Napi::Function::New<build_info>(env, "buildInfo"));
  return exports;
}

}  // namespace lm_addon

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified function.
static Napi::Object init_localmoe(Napi::Env env, Napi::Object exports) {
  return lm_addon::init(env, exports);
}

NODE_API_MODULE(localmoe, init_localmoe)
