import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';

import { KernelCaptureError } from './kernel-capture-error.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Oldest kernel with everything the object uses (bpf_for_each_map_elem is the newest, 5.13). */
export const MINIMUM_KERNEL: readonly [number, number] = [5, 13];

/** True when the effective capability set (CapEff hex of /proc/self/status) may load and attach tracing programs. */
export function hasBpfCapabilities(capEffHex: string): boolean {
  const caps = BigInt(`0x${capEffHex.trim() || '0'}`);
  const has = (bit: bigint) => (caps >> bit) & 1n;
  return has(CAP_SYS_ADMIN) === 1n || (has(CAP_BPF) === 1n && has(CAP_PERFMON) === 1n);
}

/** True when a `uname -r` release is at least `minimum` (major, minor). */
export function kernelAtLeast(releaseText: string, minimum: readonly [number, number] = MINIMUM_KERNEL): boolean {
  const match = /^(\d+)\.(\d+)/.exec(releaseText);
  if (!match) return true; // unknown format: let the kernel decide at load
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > minimum[0] || (major === minimum[0] && minor >= minimum[1]);
}

/** Throws the one-sentence error a user can act on when this process cannot run the capture. */
export function checkEnvironment(objectPath: string): void {
  const status = readFileSync('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  if (!hasBpfCapabilities(capEff))
    throw new KernelCaptureError(
      'NOT_PERMITTED',
      'Loading eBPF programs needs root or the CAP_BPF and CAP_PERFMON capabilities: run the agent as root or grant them.',
    );
  if (!existsSync('/sys/kernel/btf/vmlinux'))
    throw new KernelCaptureError(
      'NO_BTF',
      'This kernel has no BTF (/sys/kernel/btf/vmlinux is missing): tcpstate needs a kernel built with CONFIG_DEBUG_INFO_BTF=y.',
    );
  if (!kernelAtLeast(release()))
    throw new KernelCaptureError(
      'KERNEL_TOO_OLD',
      `This kernel (${release()}) is too old: tcpstate needs Linux ${MINIMUM_KERNEL.join('.')} or newer.`,
    );
  if (!existsSync(objectPath))
    throw new KernelCaptureError(
      'OBJECT_MISSING',
      `The eBPF object file ${objectPath} is missing: build it with "npm run build -w @tcpstate/kernel".`,
    );
}
