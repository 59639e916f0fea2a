// The tcpstate kernel addon: NativeCapture and the TIME_WAIT strategy probes.
// A thin layer with positional arguments; src/native.ts types it and
// src/kernel-capture.ts validates and normalizes before calling it.
#include <napi.h>

#include "capture.h"
#include "strategy_probe.h"

namespace {

// probeStrategy(name): "" when the TIME_WAIT strategy can run here, else why not.
Napi::Value ProbeStrategy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsString()) tcpstate::ThrowCoded(env, "INVALID_ARGUMENT", "probeStrategy expects a name");
  std::string name = info[0].As<Napi::String>();
  if (name == "fexit") return Napi::String::New(env, tcpstate::ProbeTracingHooks());
  if (name == "kprobe") return Napi::String::New(env, tcpstate::ProbeKprobeHooks());
  if (name == "timer") return Napi::String::New(env, tcpstate::ProbeTimerHooks());
  if (name == "sweep") return Napi::String::New(env, "");
  tcpstate::ThrowCoded(env, "INVALID_ARGUMENT", "unknown strategy " + name);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCapture", tcpstate::NativeCapture::Define(env));
  exports.Set("probeStrategy", Napi::Function::New(env, ProbeStrategy, "probeStrategy"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcpstate_kernel, Init)
