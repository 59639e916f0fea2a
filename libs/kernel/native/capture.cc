#include "capture.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "libbpf_log.h"
#include "strategy_probe.h"
#include "tcpstate.h"

namespace tcpstate {
namespace {

// A batch holds at most this many records (about 2 MB); a fuller ring is
// delivered as several batches in the same loop turn. The records array the
// caller hands over must hold at least twice as many.
constexpr size_t kMaxBatchRecords = 16384;
// OnRecord's "batch full" signal; libbpf has consumed the record by then.
constexpr int kBatchFull = -E2BIG;
constexpr size_t kMaxFilterEntries = 1024;

std::string ErrnoText(int err) { return std::string(strerror(err)) + " (errno " + std::to_string(err) + ")"; }

bool StartsWith(const char* s, const char* prefix) { return s && strncmp(s, prefix, strlen(prefix)) == 0; }

bool IsTracingHook(const char* section) { return StartsWith(section, "fexit/") || StartsWith(section, "fentry/"); }
bool IsKprobeHook(const char* section) { return StartsWith(section, "kprobe/") || StartsWith(section, "kretprobe/"); }
bool IsTimerHook(const char* section) {
  return StartsWith(section, "tp_btf/timer_") || strcmp(section, "raw_tp") == 0;
}
// Run by the loader (BPF_PROG_TEST_RUN), never attached.
constexpr const char* kFlushProgram = "flush_timer_cancels";
constexpr const char* kPollProgram = "poll_fin_waits";

uint32_t RequireUint(Napi::Env env, const Napi::Value& v, const char* name, double min, double max) {
  if (!v.IsNumber()) ThrowCoded(env, "INVALID_ARGUMENT", std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < min || d > max)
    ThrowCoded(env, "INVALID_ARGUMENT", std::string(name) + " must be an integer between " +
                                            std::to_string(static_cast<uint64_t>(min)) + " and " +
                                            std::to_string(static_cast<uint64_t>(max)));
  return static_cast<uint32_t>(d);
}

template <typename T>
std::vector<T> RequireTypedArray(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    ThrowCoded(env, "INVALID_ARGUMENT", std::string(name) + " has the wrong type");
  Napi::TypedArray array = v.As<Napi::TypedArray>();
  size_t bytes = array.ByteLength();
  std::vector<T> out(bytes / sizeof(T));
  if (bytes) {
    const uint8_t* base = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    memcpy(out.data(), base, bytes);
  }
  return out;
}

bpf_map* FindMap(bpf_object* object, const char* name) { return bpf_object__find_map_by_name(object, name); }

// Writes the loader's settings into .rodata (the `settings` const volatile
// global), found through the object's BTF since there is no skeleton.
int WriteSettings(bpf_object* object, const tcpstate_config& settings, std::string* why) {
  bpf_map* rodata = nullptr;
  bpf_map* map;
  bpf_object__for_each_map(map, object) {
    const char* name = bpf_map__name(map);
    size_t len = strlen(name);
    if (bpf_map__is_internal(map) && len >= 7 && strcmp(name + len - 7, ".rodata") == 0) rodata = map;
  }
  const btf* object_btf = bpf_object__btf(object);
  if (!rodata || !object_btf) {
    *why = "no .rodata section or BTF in the object";
    return -ENOENT;
  }
  int sec_id = btf__find_by_name_kind(object_btf, ".rodata", BTF_KIND_DATASEC);
  if (sec_id < 0) {
    *why = "no .rodata DATASEC in the object's BTF";
    return -ENOENT;
  }
  const btf_type* sec = btf__type_by_id(object_btf, sec_id);
  const btf_var_secinfo* vars = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); i++) {
    const btf_type* var = btf__type_by_id(object_btf, vars[i].type);
    if (strcmp(btf__name_by_offset(object_btf, var->name_off), "settings") != 0) continue;
    if (vars[i].size != sizeof(settings)) {
      *why = "the object's settings have size " + std::to_string(vars[i].size) + ", expected " +
             std::to_string(sizeof(settings));
      return -EINVAL;
    }
    size_t size = 0;
    const void* initial = bpf_map__initial_value(rodata, &size);
    if (!initial || vars[i].offset + sizeof(settings) > size) {
      *why = "the object's .rodata is too small";
      return -EINVAL;
    }
    std::vector<uint8_t> data(static_cast<const uint8_t*>(initial), static_cast<const uint8_t*>(initial) + size);
    memcpy(data.data() + vars[i].offset, &settings, sizeof(settings));
    return bpf_map__set_initial_value(rodata, data.data(), size);
  }
  *why = "no `settings` variable in the object's .rodata";
  return -ENOENT;
}

}  // namespace

void ThrowCoded(Napi::Env env, const char* code, const std::string& message, const std::string& details) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  if (!details.empty()) error.Set("details", Napi::String::New(env, details));
  throw error;
}

Napi::Function NativeCapture::Define(Napi::Env env) {
  return DefineClass(env, "NativeCapture",
                     {
                         InstanceMethod<&NativeCapture::Drops>("drops"),
                         InstanceMethod<&NativeCapture::Snapshot>("snapshot"),
                         InstanceMethod<&NativeCapture::Sweep>("sweep"),
                         InstanceMethod<&NativeCapture::Flush>("flush"),
                         InstanceMethod<&NativeCapture::Close>("close"),
                     });
}

// new NativeCapture(objectPath, strategy, endpoints: Uint8Array, ports: Uint16Array,
//                   netns: Uint32Array, ringBytes, wakeupBytes, maxLatencyMs, sweepIntervalMs,
//                   records: ArrayBuffer, onBatch(first, count))
NativeCapture::NativeCapture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCapture>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() != 11) ThrowCoded(env, "INVALID_ARGUMENT", "NativeCapture expects 11 arguments");
  if (!info[0].IsString()) ThrowCoded(env, "INVALID_ARGUMENT", "objectPath must be a string");
  if (!info[1].IsString()) ThrowCoded(env, "INVALID_ARGUMENT", "strategy must be a string");
  std::string object_path = info[0].As<Napi::String>();
  std::string strategy = info[1].As<Napi::String>();
  if (strategy != "fexit" && strategy != "kprobe" && strategy != "timer" && strategy != "sweep")
    ThrowCoded(env, "INVALID_ARGUMENT", "strategy must be fexit, kprobe, timer or sweep");
  endpoints_ = RequireTypedArray<uint8_t>(env, info[2], napi_uint8_array, "endpoints");
  if (endpoints_.size() % sizeof(tcpstate_endpoint) != 0 ||
      endpoints_.size() / sizeof(tcpstate_endpoint) > kMaxFilterEntries)
    ThrowCoded(env, "INVALID_ARGUMENT", "endpoints must hold at most 1024 packed endpoints");
  ports_ = RequireTypedArray<uint16_t>(env, info[3], napi_uint16_array, "ports");
  netns_ = RequireTypedArray<uint32_t>(env, info[4], napi_uint32_array, "netns");
  if (ports_.size() > kMaxFilterEntries || netns_.size() > kMaxFilterEntries)
    ThrowCoded(env, "INVALID_ARGUMENT", "at most 1024 ports and 1024 network namespaces can be filtered");
  ring_bytes_ = RequireUint(env, info[5], "ringBytes", 4096, 1u << 30);
  if (ring_bytes_ & (ring_bytes_ - 1) || ring_bytes_ % static_cast<uint32_t>(getpagesize()))
    ThrowCoded(env, "INVALID_ARGUMENT", "ringBytes must be a power of two and a multiple of the page size");
  wakeup_bytes_ = RequireUint(env, info[6], "wakeupBytes", 0, ring_bytes_);
  max_latency_ms_ = RequireUint(env, info[7], "maxLatencyMs", 1, 60000);
  sweep_interval_ms_ = RequireUint(env, info[8], "sweepIntervalMs", 0, 3600000);
  if (!info[9].IsArrayBuffer()) ThrowCoded(env, "INVALID_ARGUMENT", "records must be an ArrayBuffer");
  Napi::ArrayBuffer records = info[9].As<Napi::ArrayBuffer>();
  if (records.ByteLength() % sizeof(tcpstate_record) != 0 ||
      records.ByteLength() / sizeof(tcpstate_record) < 2 * kMaxBatchRecords)
    ThrowCoded(env, "INVALID_ARGUMENT", "records must hold a whole number of records, at least " +
                                            std::to_string(2 * kMaxBatchRecords));
  records_ref_ = Napi::Persistent(records);
  records_ = static_cast<uint8_t*>(records.Data());
  records_capacity_ = records.ByteLength() / sizeof(tcpstate_record);
  if (!info[10].IsFunction()) ThrowCoded(env, "INVALID_ARGUMENT", "onBatch must be a function");
  on_batch_ = Napi::Persistent(info[10].As<Napi::Function>());

  try {
    Open(env, object_path, strategy);
    StartLoop(env);
  } catch (...) {
    Release();
    throw;
  }
  open_ = true;
  RunTimerStrategyChecks();  // timer strategy: the first reading of the kernel's jiffy clock
  self_ = Napi::Persistent(info.This().As<Napi::Object>());
  cleanup_hook_ = napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok;
}

NativeCapture::~NativeCapture() { Release(); }

void NativeCapture::Open(Napi::Env env, const std::string& object_path, const std::string& strategy) {
  CaptureLibbpfLog();
  ClearLibbpfLog();
  if (access(object_path.c_str(), R_OK) != 0)
    ThrowCoded(env, "OBJECT_MISSING", "The eBPF object file " + object_path + " is missing: " + ErrnoText(errno));
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    ThrowCoded(env, "NO_BTF", "This kernel exposes no BTF (/sys/kernel/btf/vmlinux): " + ErrnoText(errno));
  int tp_id = libbpf_find_vmlinux_btf_id("inet_sock_set_state", BPF_TRACE_RAW_TP);
  if (tp_id < 0)
    ThrowCoded(env, "KERNEL_TOO_OLD", "This kernel has no BTF-typed inet_sock_set_state tracepoint: " + ErrnoText(-tp_id));

  object_ = bpf_object__open_file(object_path.c_str(), nullptr);
  if (!object_) {
    int err = errno;
    ThrowCoded(env, "OBJECT_INVALID", "The eBPF object file " + object_path + " cannot be opened: " + ErrnoText(err),
               LibbpfLogTail());
  }

  // Only the chosen TIME_WAIT strategy's hooks are loaded (bcc libbpf-tools' way).
  bpf_program* prog;
  bpf_object__for_each_program(prog, object_) {
    const char* section = bpf_program__section_name(prog);
    if (IsTracingHook(section)) bpf_program__set_autoload(prog, strategy == "fexit");
    if (IsKprobeHook(section)) bpf_program__set_autoload(prog, strategy == "kprobe");
    if (IsTimerHook(section)) bpf_program__set_autoload(prog, strategy == "timer");
  }

  tcpstate_config settings = {};
  settings.filter_endpoints = endpoints_.empty() ? 0 : 1;
  settings.filter_ports = ports_.empty() ? 0 : 1;
  settings.filter_netns = netns_.empty() ? 0 : 1;
  settings.timewait_hooks = strategy == "sweep" ? 0 : 1;
  settings.wakeup_bytes = wakeup_bytes_;
  if (strategy == "timer") {
    settings.tw_timer_handler = TimewaitTimerHandlerAddress();
    if (!settings.tw_timer_handler)
      ThrowCoded(env, "LOAD_FAILED", "The timer strategy needs tw_timer_handler's address, and /proc/kallsyms does not give it");
  }
  std::string why;
  int err = WriteSettings(object_, settings, &why);
  if (err) ThrowCoded(env, "OBJECT_INVALID", "The eBPF object file " + object_path + " does not fit this loader: " + why);

  bpf_map* events = FindMap(object_, "events");
  if (!events || bpf_map__set_max_entries(events, ring_bytes_))
    ThrowCoded(env, "OBJECT_INVALID", "The eBPF object file " + object_path + " has no usable `events` ring buffer");

  err = bpf_object__load(object_);
  if (err) {
    int code = -err;
    bool denied = code == EPERM || code == EACCES;
    ThrowCoded(env, denied ? "PERMISSION" : "LOAD_FAILED",
               std::string("The kernel refused to load the eBPF programs: ") + ErrnoText(code), LibbpfLogTail());
  }
  ConfigureMaps(env);

  bpf_object__for_each_program(prog, object_) {
    if (!bpf_program__autoload(prog)) continue;
    const char* section = bpf_program__section_name(prog);
    if (StartsWith(section, "iter/")) {
      bpf_link* link = bpf_program__attach_iter(prog, nullptr);
      if (!link) {
        int e = errno;
        ThrowCoded(env, "ATTACH_FAILED", std::string("Could not attach ") + section + ": " + ErrnoText(e), LibbpfLogTail());
      }
      if (strcmp(bpf_program__name(prog), "sweep_timewait") == 0) sweep_link_ = link;
      else snapshot_link_ = link;
      continue;
    }
    if (strcmp(bpf_program__name(prog), kFlushProgram) == 0) {
      flush_prog_fd_ = bpf_program__fd(prog);
      continue;
    }
    if (strcmp(bpf_program__name(prog), kPollProgram) == 0) {
      poll_prog_fd_ = bpf_program__fd(prog);
      continue;
    }
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int e = errno;
      ThrowCoded(env, "ATTACH_FAILED", std::string("Could not attach ") + section + ": " + ErrnoText(e), LibbpfLogTail());
    }
    links_.push_back(link);
  }
  if (!sweep_link_ || !snapshot_link_)
    ThrowCoded(env, "OBJECT_INVALID", "The eBPF object file " + object_path + " lacks its iter/tcp programs");

  drops_fd_ = bpf_map__fd(FindMap(object_, "drops"));
  sweep_state_fd_ = bpf_map__fd(FindMap(object_, "sweep_state"));
  if (strategy == "timer") tw_cancels_fd_ = bpf_map__fd(FindMap(object_, "tw_cancels"));
  ring_ = ring_buffer__new(bpf_map__fd(events), OnRecord, this, nullptr);
  if (!ring_) {
    int e = errno;
    ThrowCoded(env, "LOAD_FAILED", "Could not map the ring buffer: " + ErrnoText(e));
  }
  if (strategy != "sweep") sweep_interval_ms_ = 0;  // the hooks follow TIME_WAIT exactly
}

void NativeCapture::ConfigureMaps(Napi::Env env) {
  int endpoints_fd = bpf_map__fd(FindMap(object_, "server_endpoints"));
  int server_ports_fd = bpf_map__fd(FindMap(object_, "server_ports"));
  int ports_fd = bpf_map__fd(FindMap(object_, "filter_ports"));
  int netns_fd = bpf_map__fd(FindMap(object_, "filter_netns"));
  uint8_t one = 1;
  for (size_t off = 0; off < endpoints_.size(); off += sizeof(tcpstate_endpoint)) {
    tcpstate_endpoint endpoint;
    memcpy(&endpoint, endpoints_.data() + off, sizeof(endpoint));
    if (bpf_map_update_elem(endpoints_fd, &endpoint, &one, BPF_ANY) ||
        bpf_map_update_elem(server_ports_fd, &endpoint.port, &one, BPF_ANY))
      ThrowCoded(env, "LOAD_FAILED", "Could not configure the server endpoints: " + ErrnoText(errno));
  }
  for (uint16_t port : ports_)
    if (bpf_map_update_elem(ports_fd, &port, &one, BPF_ANY))
      ThrowCoded(env, "LOAD_FAILED", "Could not configure the port filter: " + ErrnoText(errno));
  for (uint32_t ns : netns_)
    if (bpf_map_update_elem(netns_fd, &ns, &one, BPF_ANY))
      ThrowCoded(env, "LOAD_FAILED", "Could not configure the netns filter: " + ErrnoText(errno));
}

void NativeCapture::StartLoop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop)
    ThrowCoded(env, "LOAD_FAILED", "No libuv loop is available");
  poll_ = new uv_poll_t;
  poll_->data = this;
  if (uv_poll_init(loop, poll_, ring_buffer__epoll_fd(ring_)) != 0) {
    delete poll_;
    poll_ = nullptr;
    ThrowCoded(env, "LOAD_FAILED", "Could not watch the ring buffer on the event loop");
  }
  uv_poll_start(poll_, UV_READABLE, OnReadable);
  latency_timer_ = new uv_timer_t;
  uv_timer_init(loop, latency_timer_);
  latency_timer_->data = this;
  uv_timer_start(latency_timer_, OnLatencyTimer, max_latency_ms_, max_latency_ms_);
  if (sweep_interval_ms_ > 0) {
    sweep_timer_ = new uv_timer_t;
    uv_timer_init(loop, sweep_timer_);
    sweep_timer_->data = this;
    uv_timer_start(sweep_timer_, OnSweepTimer, sweep_interval_ms_, sweep_interval_ms_);
  }
}

// Copies one transition record from the kernel's ring into the caller's
// records array, where it stays until overwritten a lap later: the one copy.
int NativeCapture::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<NativeCapture*>(ctx);
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  if (size != sizeof(tcpstate_record) || bytes[0] != TCPSTATE_KIND_TRANSITION) return 0;
  if (self->sweep_interval_ms_ > 0) self->CountTimewait(bytes, size);  // only the sweep needs the namespaces
  size_t at = self->batch_first_ + self->batch_count_;
  memcpy(self->records_ + at * sizeof(tcpstate_record), bytes, size);
  self->batch_count_++;
  // A batch ends at the array's end (the next starts at 0) or at its size limit.
  return self->batch_count_ >= kMaxBatchRecords || at + 1 == self->records_capacity_ ? kBatchFull : 0;
}

void NativeCapture::Drain() {
  if (!open_ || draining_ || !ring_) return;
  draining_ = true;
  for (;;) {
    batch_count_ = 0;
    int n = ring_buffer__consume(ring_);
    if (batch_count_ > 0) DeliverBatch();
    if (!open_ || n != kBatchFull) break;
  }
  draining_ = false;
}

void NativeCapture::DeliverBatch() {
  Napi::HandleScope scope(env_);
  size_t first = batch_first_;
  size_t count = batch_count_;
  batch_first_ = (first + count) % records_capacity_;
  batch_count_ = 0;
  try {
    on_batch_.MakeCallback(env_.Global(), {Napi::Number::New(env_, static_cast<double>(first)),
                                           Napi::Number::New(env_, static_cast<double>(count))});
  } catch (const Napi::Error& e) {
    // A throwing handler is the process's uncaught exception, as for any event emitter.
    napi_fatal_exception(env_, e.Value());
  }
}

void NativeCapture::CountTimewait(const uint8_t* bytes, size_t size) {
  if (size < sizeof(tcpstate_record)) return;
  tcpstate_record r;
  memcpy(&r, bytes, sizeof(r));
  if (r.header.kind != TCPSTATE_KIND_TRANSITION) return;
  if (r.observed_by == TCPSTATE_OBS_HANDOVER) {
    pending_timewait_[r.netns]++;
  } else if (r.observed_by == TCPSTATE_OBS_SWEEP && r.new_state == 7 /* TCP_CLOSE */) {
    auto it = pending_timewait_.find(r.netns);
    if (it != pending_timewait_.end() && --it->second <= 0) pending_timewait_.erase(it);
  }
}

// One sweep: every namespace holding handed-over connections, one iterator each.
void NativeCapture::RunSweep() {
  if (!sweep_link_) return;
  std::vector<uint32_t> namespaces;
  for (const auto& [netns, count] : pending_timewait_)
    if (count > 0) namespaces.push_back(netns);
  for (uint32_t netns : namespaces) SweepNetns(netns);
}

void NativeCapture::SweepNetns(uint32_t netns) {
  tcpstate_sweep state = {};
  state.gen = ++sweep_generation_;
  state.netns = netns;
  uint32_t zero = 0;
  if (bpf_map_update_elem(sweep_state_fd_, &zero, &state, BPF_ANY)) return;
  bool gone = false;
  int fd = netns_iterators_.Create(bpf_link__fd(sweep_link_), netns, &gone);
  // A namespace that no longer exists took its timewait sockets with it: walking
  // our own namespace with its number set expires all of its connections.
  if (fd < 0 && gone) fd = bpf_iter_create(bpf_link__fd(sweep_link_));
  if (fd < 0) return;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(fd);
}

void NativeCapture::OnReadable(uv_poll_t* handle, int status, int) {
  if (status < 0) return;
  static_cast<NativeCapture*>(handle->data)->Drain();
}

void NativeCapture::OnLatencyTimer(uv_timer_t* handle) {
  auto* self = static_cast<NativeCapture*>(handle->data);
  self->RunTimerStrategyChecks();
  self->Drain();
}

// Timer strategy, every maxLatencyMs: (1) the timewait sockets in substate
// FIN_WAIT2 are read where they lie, for a FIN that re-armed their timer
// without a trace (poll_fin_waits); (2) a timewait timer cancelled on a CPU
// with no re-arm after it is the end of that TIME_WAIT: the BPF side decides
// at that CPU's next timewait timer event, and this settles the ones still
// waiting (at most one per CPU), running the flush program on each such CPU.
void NativeCapture::RunTimerStrategyChecks() {
  if (!open_ || tw_cancels_fd_ < 0 || flush_prog_fd_ < 0 || poll_prog_fd_ < 0) return;
  LIBBPF_OPTS(bpf_test_run_opts, poll);
  bpf_prog_test_run_opts(poll_prog_fd_, &poll);
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return;
  std::vector<tcpstate_tw_cancel> slots(static_cast<size_t>(cpus));
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(tw_cancels_fd_, &zero, slots.data())) return;
  for (int cpu = 0; cpu < cpus; cpu++) {
    if (!slots[static_cast<size_t>(cpu)].timer) continue;
    LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = static_cast<__u32>(cpu));
    bpf_prog_test_run_opts(flush_prog_fd_, &run);  // a CPU gone offline has nothing left to settle
  }
}

void NativeCapture::OnSweepTimer(uv_timer_t* handle) {
  auto* self = static_cast<NativeCapture*>(handle->data);
  self->RunSweep();
  self->Drain();
}

Napi::Value NativeCapture::Drops(const Napi::CallbackInfo& info) {
  uint64_t total = 0;
  if (open_) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus > 0) {
      std::vector<uint64_t> values(static_cast<size_t>(cpus));
      uint32_t zero = 0;
      if (bpf_map_lookup_elem(drops_fd_, &zero, values.data()) == 0)
        for (uint64_t v : values) total += v;
    }
    // A tracing program that fires while another BPF program runs on the same
    // CPU is skipped by the kernel (recursion_misses): that transition is lost
    // too, so it counts as a kernel drop and reaches subscribers as a gap.
    bpf_program* prog;
    bpf_object__for_each_program(prog, object_) {
      int fd = bpf_program__fd(prog);
      if (fd < 0) continue;
      bpf_prog_info prog_info = {};
      uint32_t len = sizeof(prog_info);
      if (bpf_obj_get_info_by_fd(fd, &prog_info, &len) == 0) total += prog_info.recursion_misses;
    }
  }
  return Napi::BigInt::New(info.Env(), total);
}

// Every TCP socket now, as packed records (an iter/tcp read).
Napi::Value NativeCapture::Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open_) ThrowCoded(env, "CLOSED", "The capture is closed");
  // The agent's own namespace, and every namespace the capture is filtered to.
  std::vector<uint32_t> namespaces = {NetnsIterators::Current()};
  for (uint32_t ns : netns_)
    if (ns != namespaces[0]) namespaces.push_back(ns);
  std::vector<uint8_t> out;
  char buf[16384];
  for (uint32_t ns : namespaces) {
    bool gone = false;
    int fd = netns_iterators_.Create(bpf_link__fd(snapshot_link_), ns, &gone);
    if (fd < 0 && gone) continue;
    if (fd < 0) ThrowCoded(env, "SNAPSHOT_FAILED", "Could not list the sockets: " + ErrnoText(errno));
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) {
        out.insert(out.end(), buf, buf + n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        close(fd);
        ThrowCoded(env, "SNAPSHOT_FAILED", "Could not list the sockets: " + ErrnoText(e));
      }
      break;
    }
    close(fd);
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, out.size());
  if (!out.empty()) memcpy(buffer.Data(), out.data(), out.size());
  return buffer;
}

// Runs a sweep now and delivers what it found.
Napi::Value NativeCapture::Sweep(const Napi::CallbackInfo& info) {
  if (open_) {
    RunSweep();
    Drain();
  }
  return info.Env().Undefined();
}

// Delivers whatever waits in the ring buffer now.
Napi::Value NativeCapture::Flush(const Napi::CallbackInfo& info) {
  RunTimerStrategyChecks();
  Drain();
  return info.Env().Undefined();
}

Napi::Value NativeCapture::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

void NativeCapture::OnEnvCleanup(void* arg) {
  auto* self = static_cast<NativeCapture*>(arg);
  self->cleanup_hook_ = false;
  self->Release();
}

template <typename Handle>
static void CloseHandle(Handle*& handle) {
  if (!handle) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
  handle = nullptr;
}

// Detaches everything; idempotent, safe from close(), the destructor and env teardown.
void NativeCapture::Release() {
  if (poll_) uv_poll_stop(poll_);  // removes the fd from libuv's epoll before libbpf closes it
  CloseHandle(poll_);
  if (latency_timer_) uv_timer_stop(latency_timer_);
  CloseHandle(latency_timer_);
  if (sweep_timer_) uv_timer_stop(sweep_timer_);
  CloseHandle(sweep_timer_);
  if (ring_) ring_buffer__free(ring_);
  ring_ = nullptr;
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  if (sweep_link_) bpf_link__destroy(sweep_link_);
  sweep_link_ = nullptr;
  if (snapshot_link_) bpf_link__destroy(snapshot_link_);
  snapshot_link_ = nullptr;
  if (object_) bpf_object__close(object_);
  object_ = nullptr;
  tw_cancels_fd_ = -1;
  flush_prog_fd_ = -1;
  poll_prog_fd_ = -1;
  open_ = false;
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
  if (!self_.IsEmpty()) self_.Reset();
  if (!records_ref_.IsEmpty()) records_ref_.Reset();
  records_ = nullptr;
}

}  // namespace tcpstate
