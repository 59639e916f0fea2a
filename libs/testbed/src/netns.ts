// Test hosts: network namespaces joined by veth pairs, made and removed by the
// test itself. Traffic stays inside them.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** One namespace host with an IPv4 and an IPv6 address on its veth. */
export interface NetnsHost {
  name: string;
  ipv4: string;
  ipv6: string;
  /** Inode of the namespace (what the agent reports as netns). */
  inode: number;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, args: string[]): string;
  /** Starts a long-running command inside the namespace. */
  spawn(cmd: string, args: string[]): ChildProcess;
  /** Runs a command inside the namespace without blocking the event loop; rejects on a non-zero exit. */
  run(cmd: string, args: string[]): Promise<string>;
}

function makeHost(name: string, ipv4: string, ipv6: string): NetnsHost {
  return {
    name,
    ipv4,
    ipv6,
    inode: statSync(`/run/netns/${name}`).ino,
    exec: (cmd, args) => execFileSync('ip', ['netns', 'exec', name, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    spawn: (cmd, args) => spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    run: (cmd, args) =>
      new Promise((resolve, reject) => {
        execFile('ip', ['netns', 'exec', name, cmd, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${cmd} in ${name} failed: ${stderr || err.message}`)) : resolve(stdout),
        );
      }),
  };
}

/**
 * A small network: each of `count` hosts has a veth to a bridge in a shared
 * "switch" namespace, so any host reaches any other.
 * `tag` keeps names unique per test file (<= 6 characters), `subnet` (1-250)
 * keeps addresses apart: host i is 10.<subnet>.0.<i+1> and fd00:<subnet>::<i+1>.
 */
export function createNetwork(tag: string, subnet: number, count: number): { hosts: NetnsHost[]; destroy(): void } {
  const sw = `ts-${tag}-sw`;
  const names = Array.from({ length: count }, (_, i) => `ts-${tag}-h${i}`);
  const destroy = () => {
    for (const n of [...names, sw]) {
      try {
        ip('netns', 'del', n);
      } catch {
        // already gone: nothing to clean up
      }
    }
  };
  destroy();
  try {
    ip('netns', 'add', sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    const hosts = names.map((name, i) => {
      ip('netns', 'add', name);
      ip('-n', name, 'link', 'set', 'lo', 'up');
      ip('link', 'add', `ts${tag}${i}a`, 'netns', name, 'type', 'veth', 'peer', 'name', `ts${tag}${i}b`, 'netns', sw);
      ip('-n', sw, 'link', 'set', `ts${tag}${i}b`, 'master', 'br0', 'up');
      const ipv4 = `10.${subnet}.0.${i + 1}`;
      const ipv6 = `fd00:${subnet}::${i + 1}`;
      ip('-n', name, 'link', 'set', `ts${tag}${i}a`, 'name', 'eth0');
      ip('-n', name, 'addr', 'add', `${ipv4}/24`, 'dev', 'eth0');
      ip('-n', name, '-6', 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad');
      ip('-n', name, 'link', 'set', 'eth0', 'up');
      return makeHost(name, ipv4, ipv6);
    });
    return { hosts, destroy };
  } catch (err) {
    destroy();
    throw new Error(`cannot build namespace hosts (needs root and iproute2): ${(err as Error).message}`);
  }
}

/** Cuts (down) or restores (up) a host's link to the others. */
export function setLink(host: NetnsHost, up: boolean): void {
  ip('-n', host.name, 'link', 'set', 'eth0', up ? 'up' : 'down');
}

/** createNetwork's hosts plus a leg from the root namespace into their switch. */
export interface RootedNetwork {
  hosts: NetnsHost[];
  /** The root namespace's address on the hosts' subnet, 10.<subnet>.0.254. */
  rootAddress: string;
  destroy(): void;
}

/**
 * createNetwork plus a veth from the root namespace into the switch, so that
 * programs in the root namespace (a collector, PostgreSQL on loopback, a
 * browser) and the hosts reach each other directly on 10.<subnet>.0.0/24.
 */
export function createRootedNetwork(tag: string, subnet: number, count: number): RootedNetwork {
  const net = createNetwork(tag, subnet, count);
  const rootEnd = `ts${tag}r`;
  const switchEnd = `ts${tag}s`;
  const removeVeth = () => {
    try {
      ip('link', 'del', rootEnd);
    } catch {
      // already gone (deleting the switch namespace removes both ends)
    }
  };
  removeVeth();
  const rootAddress = `10.${subnet}.0.254`;
  try {
    ip('link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', switchEnd, 'netns', `ts-${tag}-sw`);
    ip('-n', `ts-${tag}-sw`, 'link', 'set', switchEnd, 'master', 'br0', 'up');
    ip('addr', 'add', `${rootAddress}/24`, 'dev', rootEnd);
    ip('link', 'set', rootEnd, 'up');
  } catch (error) {
    removeVeth();
    net.destroy();
    throw new Error(`cannot join the root namespace to the hosts' switch: ${(error as Error).message}`);
  }
  return {
    hosts: net.hosts,
    rootAddress,
    destroy() {
      removeVeth();
      net.destroy();
    },
  };
}
