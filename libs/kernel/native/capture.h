// NativeCapture: opens, configures, loads and attaches bpf/tcpstate.bpf.o and
// hands its ring buffer's records to JS in batches, from the ring buffer's
// epoll fd on the libuv loop (no thread, no per-event call). The records are
// copied once, into an ArrayBuffer the caller owns and this fills in laps
// (batch = first record, count): no allocation per batch, nothing for V8's
// collector to trace. The TypeScript layer (src/kernel-capture.ts) validates options and
// decodes; this layer validates again so a bad call can never crash.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "netns.h"

namespace tcpstate {

class NativeCapture : public Napi::ObjectWrap<NativeCapture> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeCapture(const Napi::CallbackInfo& info);
  ~NativeCapture() override;

 private:
  // JS methods.
  Napi::Value Drops(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Sweep(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void Open(Napi::Env env, const std::string& object_path, const std::string& strategy);
  void ConfigureMaps(Napi::Env env);
  void StartLoop(Napi::Env env);
  void RunSweep();
  void SweepNetns(uint32_t netns);
  void CountTimewait(const uint8_t* record, size_t size);
  void RunTimerStrategyChecks();
  // Reads the ring buffer out and calls onBatch once per batch.
  void Drain();
  void DeliverBatch();
  void Release();

  static int OnRecord(void* ctx, void* data, size_t size);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnLatencyTimer(uv_timer_t* handle);
  static void OnSweepTimer(uv_timer_t* handle);
  static void OnEnvCleanup(void* arg);

  Napi::Env env_;
  Napi::FunctionReference on_batch_;
  Napi::ObjectReference self_;  // keeps the JS object alive while open
  bpf_object* object_ = nullptr;
  std::vector<bpf_link*> links_;
  bpf_link* sweep_link_ = nullptr;
  bpf_link* snapshot_link_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int drops_fd_ = -1;
  int sweep_state_fd_ = -1;
  int tw_cancels_fd_ = -1;     // timer strategy only
  int flush_prog_fd_ = -1;     // timer strategy only
  int poll_prog_fd_ = -1;      // timer strategy only
  uint64_t sweep_generation_ = 0;
  // Handed-over connections not yet seen to end, per network namespace: the
  // namespaces a sweep must visit. Kept from the records as they pass.
  std::map<uint32_t, int64_t> pending_timewait_;
  NetnsIterators netns_iterators_;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* latency_timer_ = nullptr;
  uv_timer_t* sweep_timer_ = nullptr;
  bool open_ = false;
  bool draining_ = false;
  bool cleanup_hook_ = false;
  Napi::Reference<Napi::ArrayBuffer> records_ref_;  // the caller's records array, kept alive
  uint8_t* records_ = nullptr;
  size_t records_capacity_ = 0;  // in records
  size_t batch_first_ = 0;       // where the batch being filled starts
  size_t batch_count_ = 0;

  // Options, as validated positional arguments.
  std::vector<uint8_t> endpoints_;  // packed struct tcpstate_endpoint
  std::vector<uint16_t> ports_;
  std::vector<uint32_t> netns_;
  uint32_t ring_bytes_ = 0;
  uint64_t wakeup_bytes_ = 0;
  uint32_t max_latency_ms_ = 0;
  uint32_t sweep_interval_ms_ = 0;
};

// Throws a JS Error with a stable `code` for the TypeScript layer to map.
[[noreturn]] void ThrowCoded(Napi::Env env, const char* code, const std::string& message,
                             const std::string& details = "");

}  // namespace tcpstate
