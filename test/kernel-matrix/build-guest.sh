#!/usr/bin/env bash
# Builds what the kernel-matrix guest boots: a Debian kernel (uncompressed
# vmlinux, booted through its PVH entry) and an initramfs holding busybox,
# Node 24, the built @tcpstate/kernel (addon + CO-RE object) and the guest
# runner. Slow parts are cached under .tools/kernel-matrix/.
#
#   build-guest.sh [KERNEL_PACKAGE[@SUITE]]     (default: linux-image-amd64)
#
# KERNEL_PACKAGE is a Debian kernel image package or metapackage of the host's
# suite; @SUITE takes it from another Debian suite (e.g. linux-image-amd64@trixie).
#
# Prints three lines on stdout, for the caller:
#   release=6.1.0-56-amd64
#   vmlinux=/abs/path/vmlinux
#   initrd=/abs/path/initrd
# Fails loudly (exit 1, one line on stderr) when a tool or package is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.tools/kernel-matrix"
spec=${1:-linux-image-amd64}
say() { printf 'kernel-matrix: %s\n' "$*" >&2; }
die() { printf 'kernel-matrix: error: %s\n' "$*" >&2; exit 1; }
mkdir -p "$cache"

# --- host tools: QEMU and a static busybox for the guest ---------------------
missing=()
[ -x /usr/bin/qemu-system-x86_64 ] || missing+=(qemu-system-x86)
# The guest has no libc of its own for busybox: it must be the static one.
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}): run as root or apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# --- the kernel ---------------------------------------------------------------
# PACKAGE@SUITE reads another Debian suite (trixie, bookworm-backports, ...) through
# a private apt state under the cache: the host's own apt sources stay as they are.
package=${spec%@*}
suite=
[[ $spec == *@* ]] && suite=${spec#*@}
apt_opts=(-o APT::Sandbox::User=root)
if [ -n "$suite" ]; then
  adir="$cache/apt/$suite"
  mkdir -p "$adir/lists/partial" "$adir/cache/archives/partial" "$adir/parts"
  echo "deb http://deb.debian.org/debian $suite main" > "$adir/sources.list"
  apt_opts+=(-o "Dir::Etc::SourceList=$adir/sources.list" -o "Dir::Etc::SourceParts=$adir/parts"
    -o "Dir::State::Lists=$adir/lists" -o "Dir::Cache=$adir/cache")
  if [ -z "$(find "$adir/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    say "reading the package lists of Debian $suite"
    apt-get "${apt_opts[@]}" update -qq >/dev/null 2>&1 || die "apt-get update of Debian $suite failed"
  fi
fi
# A metapackage (linux-image-amd64) names the real image package in Depends.
resolve() { apt-cache "${apt_opts[@]}" depends "$1" 2>/dev/null | awk '/^ *Depends: linux-image-[0-9]/ { print $2; exit }'; }
image=$(resolve "$package")
if [ -z "$image" ] && ! apt-cache "${apt_opts[@]}" show "$package" >/dev/null 2>&1 && [ -z "$suite" ]; then
  apt-get update -qq >/dev/null || die "apt-get update failed"
  image=$(resolve "$package")
fi
image=${image:-$package}
apt-cache "${apt_opts[@]}" show "$image" >/dev/null 2>&1 || die "Debian ${suite:-of this host} has no kernel package $image (from $package)"
kdir="$cache/kernels/$image${suite:+@$suite}"
if [ ! -s "$kdir/vmlinux" ] || [ ! -s "$kdir/release" ]; then
  say "fetching $image${suite:+ from $suite}"
  rm -rf "$kdir" && mkdir -p "$kdir/deb"
  (cd "$kdir/deb" && apt-get "${apt_opts[@]}" download -qq "$image" >/dev/null 2>&1) || die "apt-get download $image failed"
  # Only ./boot: the modules are 400 MB and the capture needs none of them.
  dpkg-deb --fsys-tarfile "$kdir"/deb/*.deb | tar -x -C "$kdir" ./boot
  vmlinuz=$(ls "$kdir"/boot/vmlinuz-*)
  # vmlinuz is a bzImage whose payload is one compressed stream (xz in 6.1, zstd
  # in 6.12): cut it out at its magic and decompress it; QEMU boots the ELF
  # vmlinux through its PVH note, no bootloader. (Via a file: the tools stop at
  # the stream's end, which would SIGPIPE a tail feeding them.)
  extract() { # MAGIC-REGEX DECOMPRESSOR...
    local offset
    offset=$(LC_ALL=C grep -obUaP "$1" "$vmlinuz" | head -1 | cut -d: -f1 || true)
    [ -n "$offset" ] || return 1
    tail -c +$((offset + 1)) "$vmlinuz" > "$kdir/vmlinux.packed"
    "${@:2}" < "$kdir/vmlinux.packed" > "$kdir/vmlinux.tmp" 2>/dev/null || true
    rm -f "$kdir/vmlinux.packed"
    [ "$(head -c 4 "$kdir/vmlinux.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]
  }
  extract '\xfd7zXZ\x00' xz -dc --single-stream || extract '\x28\xb5\x2f\xfd' zstd -dc -q \
    || die "cannot find an xz or zstd kernel in $vmlinuz"
  mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
  basename "$vmlinuz" | sed 's/^vmlinuz-//' > "$kdir/release"
  rm -rf "$kdir/deb"
fi
release=$(cat "$kdir/release")

# --- the Node archive (uncompressed cpio, first in the initrd) ----------------
node="$root/.tools/node/bin/node"
addon="$root/libs/kernel/build/Release/tcpstate_kernel.node"
object="$root/libs/kernel/build/bpf/tcpstate.bpf.o"
for f in "$node" "$addon" "$object" "$root/libs/kernel/dist/index.js"; do
  [ -e "$f" ] || die "$f is missing: run scripts/setup.sh (it builds @tcpstate/kernel)"
done
libs=$( { ldd "$node"; ldd "$addon"; } | awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }' | sort -u)
node_key=$( { "$node" --version; sha256sum $libs | cut -d' ' -f1; } | sha256sum | cut -c1-16)
node_cpio="$cache/node-$node_key.cpio"
if [ ! -s "$node_cpio" ]; then
  say "packing Node $("$node" --version) and its libraries"
  stage=$(mktemp -d)
  mkdir -p "$stage/usr/local/bin"
  cp "$node" "$stage/usr/local/bin/node"
  for lib in $libs; do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
  rm -f "$cache"/node-*.cpio
  # The kernel unpacks an uncompressed archive before a gzipped one; the other order fails.
  (cd "$stage" && find . -mindepth 1 | /bin/busybox cpio -o -H newc > "$node_cpio.tmp" 2>/dev/null)
  mv "$node_cpio.tmp" "$node_cpio"
  rm -rf "$stage"
fi

# --- the base archive (gzipped): busybox, /init, the payload ------------------
# Small; rebuilt every time so the guest always runs the current build.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,proc,sys,dev,tmp,run} "$stage/payload/node_modules/@tcpstate/kernel/build/Release" \
  "$stage/payload/node_modules/@tcpstate/kernel/build/bpf"
cp /bin/busybox "$stage/bin/busybox"
cp "$here/guest/init" "$stage/init"
chmod 755 "$stage/init"
cp "$here/guest/runner.ts" "$stage/payload/runner.ts"
printf '{ "type": "module", "private": true }\n' > "$stage/payload/package.json"
kpkg="$stage/payload/node_modules/@tcpstate/kernel"
cp "$root/libs/kernel/package.json" "$kpkg/package.json"
cp -r "$root/libs/kernel/dist" "$kpkg/dist"
cp "$addon" "$kpkg/build/Release/"
cp "$object" "$kpkg/build/bpf/"
(cd "$stage" && find . -mindepth 1 | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$cache/base.cpio.gz")

cat "$node_cpio" "$cache/base.cpio.gz" > "$cache/initrd.tmp"
mv "$cache/initrd.tmp" "$cache/initrd"

echo "release=$release"
echo "vmlinux=$kdir/vmlinux"
echo "initrd=$cache/initrd"
