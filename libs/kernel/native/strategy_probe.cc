#include "strategy_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace tcpstate {
namespace {

struct Hook {
  const char* function;
  bpf_attach_type tracing_type;
  const char* tracing_name;
};

// The functions the hook strategies attach to, and how.
constexpr Hook kHooks[] = {
    {"inet_twsk_alloc", BPF_TRACE_FEXIT, "fexit/inet_twsk_alloc"},
    {"inet_twsk_put", BPF_TRACE_FENTRY, "fentry/inet_twsk_put"},
    {"tcp_timewait_state_process", BPF_TRACE_FEXIT, "fexit/tcp_timewait_state_process"},
};

std::string ErrnoText(int err) { return std::string(strerror(err)) + " (errno " + std::to_string(err) + ")"; }

// Loads "return 0" as a tracing program on the function and attaches it.
std::string ProbeTracing(const Hook& hook) {
  int btf_id = libbpf_find_vmlinux_btf_id(hook.function, hook.tracing_type);
  if (btf_id < 0) return std::string(hook.tracing_name) + ": function not in kernel BTF: " + ErrnoText(-btf_id);

  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[0].dst_reg = BPF_REG_0;
  insns[1].code = BPF_JMP | BPF_EXIT;

  bpf_prog_load_opts opts = {};
  opts.sz = sizeof(opts);
  opts.expected_attach_type = hook.tracing_type;
  opts.attach_btf_id = static_cast<__u32>(btf_id);
  int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "tcpstate_probe", "GPL", insns, 2, &opts);
  if (prog < 0) return std::string(hook.tracing_name) + ": load refused: " + ErrnoText(errno);
  int link = bpf_raw_tracepoint_open(nullptr, prog);
  int err = errno;
  close(prog);
  if (link < 0) return std::string(hook.tracing_name) + ": attach refused: " + ErrnoText(err);
  close(link);
  return "";
}

bool Exists(const char* path) { return access(path, F_OK) == 0; }

// Opens (and closes) a kprobe perf event on the function, as libbpf does.
std::string ProbeKprobe(const char* function) {
  std::ifstream type_file("/sys/bus/event_source/devices/kprobe/type");
  int type = -1;
  if (!(type_file >> type)) {
    int err = errno ? errno : ENOENT;
    // libbpf falls back to tracefs kprobe_events when the PMU is missing.
    if (Exists("/sys/kernel/tracing/kprobe_events") || Exists("/sys/kernel/debug/tracing/kprobe_events")) return "";
    return std::string("kprobe/") + function +
           ": no kprobe PMU (/sys/bus/event_source/devices/kprobe/type: " + ErrnoText(err) +
           ") and no tracefs kprobe_events (kernel built without CONFIG_KPROBE_EVENTS?)";
  }
  perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = static_cast<__u32>(type);
  attr.config1 = reinterpret_cast<uint64_t>(function);
  attr.config2 = 0;
  int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return std::string("kprobe/") + function + ": perf_event_open refused: " + ErrnoText(errno);
  close(fd);
  return "";
}

}  // namespace

std::string ProbeTracingHooks() {
  for (const Hook& hook : kHooks) {
    std::string reason = ProbeTracing(hook);
    if (!reason.empty()) return reason;
  }
  return "";
}

uint64_t TimewaitTimerHandlerAddress() {
  std::ifstream kallsyms("/proc/kallsyms");
  std::string line;
  while (std::getline(kallsyms, line)) {
    // "ffffffff820660f0 t tw_timer_handler" (a static function: no module suffix in vmlinux)
    size_t name = line.rfind(' ');
    if (name == std::string::npos || line.compare(name + 1, std::string::npos, "tw_timer_handler") != 0) continue;
    return std::strtoull(line.c_str(), nullptr, 16);
  }
  return 0;
}

std::string ProbeTimerHooks() {
  for (const char* tp : {"timer_start", "timer_expire_entry", "timer_cancel"}) {
    int id = libbpf_find_vmlinux_btf_id(tp, BPF_TRACE_RAW_TP);
    if (id < 0) return std::string("tp_btf/") + tp + ": tracepoint not in kernel BTF: " + ErrnoText(-id);
  }
  if (!TimewaitTimerHandlerAddress())
    return "tw_timer_handler: no address in /proc/kallsyms (not listed, or hidden by kernel.kptr_restrict)";
  return "";
}

std::string ProbeKprobeHooks() {
  for (const Hook& hook : kHooks) {
    std::string reason = ProbeKprobe(hook.function);
    if (!reason.empty()) return reason;
  }
  return "";
}

}  // namespace tcpstate
