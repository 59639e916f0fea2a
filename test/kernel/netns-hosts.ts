// Two network-namespace "hosts" for kernel tests: a server host running nginx
// and a client host running curl/python, with 10.x IPv4 and fd00:: IPv6
// addresses that exist only inside them. Built on libs/testbed's network.
import { execFileSync } from 'node:child_process';
import { createNetwork, type NetnsHost } from '@tcpstate/testbed';

export function run(cmd: string, args: string[], options: { allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (error) {
    if (options.allowFail) return '';
    const e = error as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Fails loudly (never skips) when the machine cannot run kernel tests. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('Kernel tests need root (network namespaces and eBPF): run them as root; they never skip.');
}

export interface HostPair {
  serverHost: NetnsHost;
  clientHost: NetnsHost;
  server: string; // namespace names
  client: string;
  serverV4: string;
  clientV4: string;
  serverV6: string;
  clientV6: string;
  serverNetns: number; // inode numbers
  clientNetns: number;
  /** Runs a command inside a namespace. */
  exec(ns: string, cmd: string, args: string[], options?: { allowFail?: boolean }): string;
  remove(): void;
}

/** A server host (10.`subnet`.0.1, fd00:`subnet`::1) and a client host (.2, ::2). */
export function createHostPair(tag: string, subnet: number): HostPair {
  const net = createNetwork(tag, subnet, 2);
  const [serverHost, clientHost] = net.hosts;
  return {
    serverHost,
    clientHost,
    server: serverHost.name,
    client: clientHost.name,
    serverV4: serverHost.ipv4,
    clientV4: clientHost.ipv4,
    serverV6: serverHost.ipv6,
    clientV6: clientHost.ipv6,
    serverNetns: serverHost.inode,
    clientNetns: clientHost.inode,
    exec: (ns, cmd, args, options) => run('ip', ['netns', 'exec', ns, cmd, ...args], options),
    remove: () => net.destroy(),
  };
}
