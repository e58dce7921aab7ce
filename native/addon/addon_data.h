// Per-environment addon state (one per Node/worker_threads environment that loads the addon).
#pragma once

#include <napi.h>

namespace lm_addon {

struct AddonData {
  Napi::FunctionReference engine_class;  // NativeEngine constructor, for EngineWrap::wrap
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace lm_addon
