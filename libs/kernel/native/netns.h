// iter/tcp walks only the network namespace its iterator was created in, so
// sweeps and listings of other namespaces create the iterator from inside
// them: setns() on the calling thread, bpf_iter_create(), setns() back.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>

namespace tcpstate {

class NetnsIterators {
 public:
  // The namespace of the calling thread (inode number).
  static uint32_t Current();
  // Creates an iterator of `link_fd` inside namespace `inode`. Returns the fd,
  // or -1 with *gone = true when no process or /run/netns mount holds that
  // namespace any more (it and its sockets are gone), or -1 with errno set.
  int Create(int link_fd, uint32_t inode, bool* gone);

 private:
  int OpenNetns(uint32_t inode);
  std::unordered_map<uint32_t, std::string> paths_;  // inode -> a path that named it
};

}  // namespace tcpstate
