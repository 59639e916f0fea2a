#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>

namespace tcpstate {
namespace {

// libbpf's print hook is process-wide, so the buffer is too; the addon only
// calls libbpf from the JS thread.
std::string log_buffer;
constexpr size_t kMaxLog = 64 * 1024;

int Print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n > 0) {
    log_buffer.append(line, static_cast<size_t>(n) < sizeof(line) ? n : sizeof(line) - 1);
    if (log_buffer.size() > kMaxLog) log_buffer.erase(0, log_buffer.size() - kMaxLog);
  }
  return 0;
}

}  // namespace

void CaptureLibbpfLog() { libbpf_set_print(Print); }

void ClearLibbpfLog() { log_buffer.clear(); }

std::string LibbpfLogTail(size_t max_bytes) {
  if (log_buffer.size() <= max_bytes) return log_buffer;
  return log_buffer.substr(log_buffer.size() - max_bytes);
}

}  // namespace tcpstate
