#!/usr/bin/env bash
# Regenerates the committed vmlinux.h for this machine's architecture from the
# running kernel's BTF. CO-RE relocations make the object portable, so one
# header per architecture is enough; rerun only to pick up new kernel types.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "$(uname -m)" in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) echo "unsupported architecture: $(uname -m)" >&2; exit 1 ;;
esac
btf=${1:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "no kernel BTF at $btf (CONFIG_DEBUG_INFO_BTF=y is required)" >&2; exit 1; }
mkdir -p "$here/vmlinux/$arch"
bpftool btf dump file "$btf" format c > "$here/vmlinux/$arch/vmlinux.h.tmp"
mv "$here/vmlinux/$arch/vmlinux.h.tmp" "$here/vmlinux/$arch/vmlinux.h"
echo "wrote $here/vmlinux/$arch/vmlinux.h"
