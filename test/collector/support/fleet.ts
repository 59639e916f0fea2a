// A small fleet for collector tests: namespace hosts on a bridge (testbed's
// createNetwork), one agent inside each host restricted to that host's
// network namespace, and a veth from the root namespace into the bridge so
// that a collector started in the root namespace (where the tests, and
// PostgreSQL on 127.0.0.1, also live) reaches the agents at their addresses.
import { execFileSync } from 'node:child_process';
import { createNetwork, type NetnsHost, type RunningProgram, startProgram } from '@tcpstate/testbed';
import { GrpcJsAgent } from '../../support/grpc-js-agent.js';

export const AGENT_PORT = 4270;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export interface FleetNetwork {
  hosts: NetnsHost[];
  /** The root namespace's address on the bridge. */
  rootAddress: string;
  destroy(): void;
}

/**
 * createNetwork plus the root namespace's own leg into the switch, at
 * 10.<subnet>.0.254: the hosts' /24 reaches it directly.
 */
export function createFleetNetwork(tag: string, subnet: number, count: number): FleetNetwork {
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
    throw new Error(`cannot join the root namespace to the test bridge: ${(error as Error).message}`);
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

/** The agent's gRPC address on its host. */
export const agentAddress = (host: NetnsHost) => `${host.ipv4}:${AGENT_PORT}`;

/** Starts an agent inside `host`, capturing only that host's sockets, with the host's name as agent id. */
export function startAgent(host: NetnsHost, extra: string[] = []): Promise<RunningProgram> {
  return startProgram('agent', ['--agent-id', host.name, '--netns', String(host.inode), ...extra], {
    netns: host.name,
    grpcListen: agentAddress(host),
    httpListen: `${host.ipv4}:${AGENT_PORT + 1}`,
  });
}

/**
 * Starts a collector in the root namespace on kernel-picked loopback ports.
 * Should it fail on its own (not stopped by the test), its output is printed.
 */
export async function startCollector(store: string, agents: NetnsHost[], extra: string[] = []): Promise<RunningProgram> {
  const program = await startProgram('collector', ['--store', store, ...agents.flatMap((h) => ['--agent', agentAddress(h)]), ...extra]);
  program.child.on('exit', (code) => {
    if (code !== null && code !== 0) console.error(`the collector exited with ${code}:\n${program.output()}`);
  });
  return program;
}

/** The agent's newest seq and boot, asked over its own persistent connection (so asking creates no new TCP connection there). */
export async function agentProgress(agent: GrpcJsAgent): Promise<{ bootId: string; lastSeq: bigint }> {
  const status = await agent.getStatus();
  return { bootId: status.bootId, lastSeq: status.eventsCaptured };
}

export { GrpcJsAgent };
