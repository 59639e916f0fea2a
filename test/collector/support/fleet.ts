// A small fleet for collector tests: namespace hosts on a bridge with a leg
// into the root namespace (testbed's createRootedNetwork), so that a collector
// started in the root namespace (where the tests, and PostgreSQL on 127.0.0.1,
// also live) reaches the agents at their addresses; one agent inside each
// host, restricted to that host's network namespace.
import { createRootedNetwork, type NetnsHost, type RootedNetwork, type RunningProgram, startProgram } from '@tcpstate/testbed';
import { GrpcJsAgent } from '../../support/grpc-js-agent.js';

export const AGENT_PORT = 4270;

/** Hosts on a switch with the root namespace's leg at 10.<subnet>.0.254 (testbed's createRootedNetwork). */
export type FleetNetwork = RootedNetwork;
export const createFleetNetwork = createRootedNetwork;

/** The agent's gRPC address on its host. */
export const agentAddress = (host: NetnsHost, port = AGENT_PORT) => `${host.ipv4}:${port}`;

/**
 * Starts an agent inside `host`, capturing only that host's sockets, with the
 * host's name as agent id. A second agent in the same host takes another
 * `port` (its HTTP port is port + 1) and `agentId`.
 */
export function startAgent(host: NetnsHost, extra: string[] = [], { port = AGENT_PORT, agentId = host.name } = {}): Promise<RunningProgram> {
  return startProgram('agent', ['--agent-id', agentId, '--netns', String(host.inode), ...extra], {
    netns: host.name,
    grpcListen: agentAddress(host, port),
    httpListen: `${host.ipv4}:${port + 1}`,
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
