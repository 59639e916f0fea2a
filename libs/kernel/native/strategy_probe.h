// Feature probes for the TIME_WAIT strategies, in the spirit of bcc
// libbpf-tools' fentry_can_attach()/kprobe_exists(): small, side-effect free
// checks run before the real object is loaded, so the losers can be turned
// off with bpf_program__set_autoload(false).
#pragma once
#include <cstdint>
#include <string>

namespace tcpstate {

// "" when fexit/fentry programs can load and attach to inet_twsk_alloc,
// inet_twsk_put and tcp_timewait_state_process; otherwise why not (errno text).
std::string ProbeTracingHooks();

// "" when kprobes can be attached to those functions; otherwise why not.
std::string ProbeKprobeHooks();

// "" when the timer strategy can run: the timer tracepoints are in kernel BTF
// and kallsyms gives tw_timer_handler's address; otherwise why not.
std::string ProbeTimerHooks();

// The address of tw_timer_handler (the timewait socket's timer function) from
// /proc/kallsyms; 0 when it is not listed or hidden (kptr_restrict).
uint64_t TimewaitTimerHandlerAddress();

}  // namespace tcpstate
