// Starts the off-thread work of the addon; each returns the promise the JS caller awaits.
// Every engine call made on a worker thread goes through run_guarded() (native_call.h).
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "localmoe/engine.h"

namespace lm_addon {

class EngineWrap;

// load(options): Engine::load on a libuv worker thread, resolves with a NativeEngine.
Napi::Value start_load(Napi::Env env, lm::LoadOptions options);

// generate(options, onToken): owner->begin_run() must have been called; the promise settles after
// every token has been delivered to onToken, and owner->end_run() is called just before.
Napi::Value start_generate(Napi::Env env, EngineWrap* owner, std::shared_ptr<lm::Engine> engine,
                           lm::GenerateRequest request, Napi::Function on_token);

// promptLogits(tokens): resolves with a Float32Array [tokens.length * vocab].
Napi::Value start_prompt_logits(Napi::Env env, EngineWrap* owner,
                                std::shared_ptr<lm::Engine> engine, std::vector<int32_t> tokens);

// quantize(options, onProgress): lm::quant::quantize_model on a libuv worker thread; the returned
// promise has a cancel() method. Throws Napi::TypeError on bad arguments (JS thread).
Napi::Value start_quantize(Napi::Env env, const Napi::Value& options, const Napi::Value& on_progress);

}  // namespace lm_addon
