// The seed's set-up for agent tests: a server host running nginx on :80, a
// client host, and agents on this host capturing that server endpoint.
import { createNetwork, type NetnsHost, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';

export interface SeedHosts {
  server: NetnsHost;
  client: NetnsHost;
  /** "10.x.0.1:80". */
  endpoint: string;
  /** One per entry of agentArgs, in order. */
  agents: RunningProgram[];
  /** Stops the agents and nginx and removes the namespaces. */
  stop(): Promise<void>;
}

/** `tag`/`subnet` as for createNetwork; each agent gets `--server-endpoint` plus its own arguments. */
export async function startSeedHosts(tag: string, subnet: number, agentArgs: string[][]): Promise<SeedHosts> {
  const net = createNetwork(tag, subnet, 2);
  const [server, client] = net.hosts;
  const endpoint = `${server.ipv4}:80`;
  const agents: RunningProgram[] = [];
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  const stop = async () => {
    for (const agent of agents) await agent.stop();
    await nginx?.stop();
    net.destroy();
  };
  try {
    nginx = await startNginx(server, [{ listen: [endpoint] }]);
    for (const args of agentArgs) agents.push(await startProgram('agent', ['--server-endpoint', endpoint, ...args]));
  } catch (err) {
    await stop();
    throw err;
  }
  return { server, client, endpoint, agents, stop };
}
