import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname, release } from 'node:os';

/** Facts about this host and this run of the agent, gathered once at start. */
export interface HostInfo {
  agentId: string;
  hostname: string;
  /** New for every start: seq numbers restart with it. */
  bootId: string;
  kernelRelease: string;
  btfAvailable: boolean;
  nodeVersion: string;
  started: Date;
}

export const HOST_INFO = Symbol('HostInfo');

export function readHostInfo(agentId?: string, hostnameOverride?: string): HostInfo {
  const name = hostnameOverride ?? hostname();
  return {
    agentId: agentId ?? name,
    hostname: name,
    bootId: randomUUID(),
    kernelRelease: release(),
    btfAvailable: existsSync('/sys/kernel/btf/vmlinux'),
    nodeVersion: process.version,
    started: new Date(),
  };
}
