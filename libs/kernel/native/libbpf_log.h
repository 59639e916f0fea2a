// Keeps libbpf's messages instead of printing them, so an error can carry
// the verifier's explanation without libbpf writing to the agent's stderr.
#pragma once
#include <string>

namespace tcpstate {

// Routes libbpf's print callback into a buffer (idempotent).
void CaptureLibbpfLog();
// Clears the buffer before an operation whose failure we want to explain.
void ClearLibbpfLog();
// The last lines libbpf printed (warnings and the verifier log), at most max_bytes.
std::string LibbpfLogTail(size_t max_bytes = 4000);

}  // namespace tcpstate
