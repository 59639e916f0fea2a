// The collector on PostgreSQL (Debian's server, started for the test): a
// database restart under load, and two replicas sharing one database, one of
// them killed while ingesting; afterwards every seq of every agent run is
// stored exactly once.
import { HostState } from '@tcpstate/proto';
import { loadgenScript, type NetnsHost, type Nginx, nodeBin, type RunningProgram, startNginx, startPostgres, type TestPostgres } from '@tcpstate/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorClient } from './support/collector-client.js';
import { agentAddress, createFleetNetwork, type FleetNetwork, GrpcJsAgent, startAgent, startCollector } from './support/fleet.js';
import { caughtUp, eventually, expectEverySeqOnce, storedEventCount } from './support/ingest-checks.js';

let net: FleetNetwork;
let hosts: NetnsHost[];
let nginx: Nginx;
let agents: RunningProgram[] = [];
let agentClients: GrpcJsAgent[] = [];
let pg: TestPostgres;
const collectors: RunningProgram[] = [];
const clients: CollectorClient[] = [];

const watched = () => hosts.map((h, i) => ({ agentId: h.name, client: agentClients[i] }));

/** Client-to-server connections from host 0 to nginx on host 1, about `rate` per second for `seconds`. */
function load(seconds: number, rate: number): Promise<string> {
  return hosts[0].run(nodeBin, [loadgenScript, hosts[1].ipv4, '80', '--seconds', String(seconds), '--rate', String(rate), '--concurrency', '4']);
}

async function collectorOn(url: string, replicaId: string, extra: string[] = []): Promise<{ program: RunningProgram; client: CollectorClient }> {
  const program = await startCollector(url, hosts, ['--replica-id', replicaId, '--agent-keepalive', '1s', ...extra]);
  const client = new CollectorClient(program.grpcAddress);
  collectors.push(program);
  clients.push(client);
  return { program, client };
}

beforeAll(async () => {
  net = createFleetNetwork('colpg', 72, 2);
  hosts = net.hosts;
  for (const h of hosts) h.exec('sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
  nginx = await startNginx(hosts[1], [{ listen: [`${hosts[1].ipv4}:80`] }]);
  [pg, ...agents] = await Promise.all([startPostgres(), ...hosts.map((h) => startAgent(h))]);
  agentClients = hosts.map((h) => new GrpcJsAgent(agentAddress(h)));
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const a of agentClients) a.close();
  await Promise.all(collectors.map((c) => c.stop()));
  await Promise.all(agents.map((a) => a.stop()));
  nginx?.stop();
  net?.destroy();
  await pg?.stop();
});

describe('collector on PostgreSQL', () => {
  it('loses nothing and doubles nothing when PostgreSQL restarts under load', async () => {
    const url = await pg.createDatabase('restart_under_load');
    const { program, client } = await collectorOn(url, 'pg-restart');
    await caughtUp(client, watched());
    const loading = load(5, 300);
    await new Promise((r) => setTimeout(r, 1500));
    const before = storedEventCount(url);
    await pg.restart();
    expect(JSON.parse(await loading)).toMatchObject({ errors: 0 });
    await caughtUp(client, watched(), 60_000, () => program.output());
    expect(storedEventCount(url)).toBeGreaterThan(before);
    // The restart reached the collector (its writes failed and were retried)...
    expect(program.output()).toMatch(/PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/restart_under_load is not reachable/);
    // ...and it stored everything exactly once all the same.
    expectEverySeqOnce(url);
    await program.stop();
  });

  it('shares the agents between two replicas through leases; a killed replica\'s agents are taken over', async () => {
    const url = await pg.createDatabase('two_replicas');
    const a = await collectorOn(url, 'replica-a', ['--lease-ttl', '2s']);
    const b = await collectorOn(url, 'replica-b', ['--lease-ttl', '2s']);
    const agentIds = hosts.map((h) => h.name);
    // Every agent is ingested by exactly one replica; the other is on standby for it.
    const owners = await eventually(async () => {
      const listed = (await a.client.listHosts()).hosts;
      const owned = agentIds.map((id) => listed.find((h) => h.agentId === id)?.owner ?? '');
      return owned.every((o) => o !== '') ? owned : undefined;
    }, 'every agent to have an owner');
    const victim = owners[0] === 'replica-a' ? a : b;
    const survivor = victim === a ? b : a;
    const victimId = owners[0];
    const survivorId = victimId === 'replica-a' ? 'replica-b' : 'replica-a';
    // The survivor, once it has asked for the lease, leaves the agent to its owner.
    await eventually(async () => {
      const seen = (await survivor.client.listHosts()).hosts.find((h) => h.agentId === agentIds[0]);
      return seen?.owner === victimId && seen.state === HostState.UNSPECIFIED ? seen : undefined;
    }, `${survivorId} to see agent ${agentIds[0]} owned by ${victimId}`);
    await caughtUp(victim.client, watched());

    const loading = load(5, 300);
    await new Promise((r) => setTimeout(r, 1500));
    await victim.program.stop('SIGKILL');
    collectors.splice(collectors.indexOf(victim.program), 1); // stop() would wait for an exit already past
    const atKill = storedEventCount(url);
    await eventually(async () => {
      const listed = (await survivor.client.listHosts()).hosts.filter((h) => agentIds.includes(h.agentId));
      return listed.length === agentIds.length && listed.every((h) => h.owner === survivorId && h.state !== HostState.CONNECTING) ? true : undefined;
    }, `${survivorId} to take every agent over`);
    expect(JSON.parse(await loading)).toMatchObject({ errors: 0 });
    await caughtUp(survivor.client, watched(), 60_000, () => survivor.program.output());
    expect(storedEventCount(url)).toBeGreaterThan(atKill);
    expectEverySeqOnce(url);
  });
});
