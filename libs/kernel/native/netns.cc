#include "netns.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace tcpstate {
namespace {

uint32_t InodeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

}  // namespace

uint32_t NetnsIterators::Current() { return InodeOf("/proc/thread-self/ns/net"); }

int NetnsIterators::OpenNetns(uint32_t inode) {
  auto cached = paths_.find(inode);
  if (cached != paths_.end()) {
    int fd = open(cached->second.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == inode) return fd;
    if (fd >= 0) close(fd);
    paths_.erase(cached);
  }
  // Named namespaces (ip netns) first, then any process living in one.
  std::string found;
  if (DIR* dir = opendir("/run/netns")) {
    while (dirent* entry = readdir(dir)) {
      std::string path = std::string("/run/netns/") + entry->d_name;
      if (entry->d_name[0] != '.' && InodeOf(path) == inode) {
        found = path;
        break;
      }
    }
    closedir(dir);
  }
  if (found.empty()) {
    if (DIR* dir = opendir("/proc")) {
      while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        std::string path = std::string("/proc/") + entry->d_name + "/ns/net";
        if (InodeOf(path) == inode) {
          found = path;
          break;
        }
      }
      closedir(dir);
    }
  }
  if (found.empty()) return -1;
  paths_[inode] = found;
  return open(found.c_str(), O_RDONLY | O_CLOEXEC);
}

int NetnsIterators::Create(int link_fd, uint32_t inode, bool* gone) {
  *gone = false;
  if (inode == 0 || inode == Current()) return bpf_iter_create(link_fd);
  int target = OpenNetns(inode);
  if (target < 0) {
    *gone = true;
    return -1;
  }
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0 || setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    if (home >= 0) close(home);
    close(target);
    errno = err;
    return -1;
  }
  int iter = bpf_iter_create(link_fd);
  int err = errno;
  // Returning home cannot fail for a namespace we came from; if it did, the
  // thread would stay elsewhere, which no later call could detect: abort.
  if (setns(home, CLONE_NEWNET) != 0) abort();
  close(home);
  close(target);
  errno = err;
  return iter;
}

}  // namespace tcpstate
