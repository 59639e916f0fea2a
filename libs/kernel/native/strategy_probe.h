// Feature probes for the TIME_WAIT strategies, in the spirit of bcc
// libbpf-tools' fentry_can_attach()/kprobe_exists(): small, side-effect free
// checks run before the real object is loaded, so the losers can be turned
// off with bpf_program__set_autoload(false).
#pragma once
#include <string>

namespace tcpstate {

// "" when fexit/fentry programs can load and attach to inet_twsk_alloc,
// inet_twsk_put and tcp_timewait_state_process; otherwise why not (errno text).
std::string ProbeTracingHooks();

// "" when kprobes can be attached to those functions; otherwise why not.
std::string ProbeKprobeHooks();

}  // namespace tcpstate
