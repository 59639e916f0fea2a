// The collector in operation, against real agents in namespace hosts: two
// replicas on PostgreSQL sharing four agents fairly (and one taking all four
// when the other is SIGKILLed), TLS and mTLS towards agents, an agent whose
// stored events fall behind (LAGGING) and catch up, an agent that dies (GONE
// after --gone-after, its events still queryable), and retention by age.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionTimeline, type Host, HostState, Side, TcpState } from '@tcpstate/proto';
import { loadgenScript, type NetnsHost, type Nginx, nodeBin, type RunningProgram, startNginx, startPostgres, type TestPostgres } from '@tcpstate/testbed';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentPki, createAgentPki } from './support/agent-pki.js';
import { CollectorClient } from './support/collector-client.js';
import { agentAddress, createFleetNetwork, type FleetNetwork, GrpcJsAgent, startAgent, startCollector } from './support/fleet.js';
import { caughtUp, eventually, expectEverySeqOnce, storedEventCount } from './support/ingest-checks.js';
import { storedEvents } from './support/stored-runs.js';

/** nginx on host 1: port 80 lets the client close first; port 81 closes first itself (the client's side then ends at once, no TIME_WAIT). */
const CLIENT_CLOSES = 80;
const SERVER_CLOSES = 81;
/** Ports of the second and third agents inside one host. */
const TLS_PORT = 4272;
const GONE_PORT = 4274;

let net: FleetNetwork;
let hosts: NetnsHost[];
let nginx: Nginx | undefined;
let pg: TestPostgres;
let pki: AgentPki;
let agents: RunningProgram[] = [];
let agentClients: GrpcJsAgent[] = [];
const programs: RunningProgram[] = [];
const clients: CollectorClient[] = [];
const dataDirs: string[] = [];

/** Starts a collector (store: a postgres:// URL, or a new SQLite directory when undefined) and a client of it. */
async function collector(store: string | undefined, agentAddresses: string[], extra: string[] = []): Promise<{ program: RunningProgram; client: CollectorClient; store: string }> {
  const target = store ?? mkdtempSync(join(tmpdir(), 'tcpstate-cops-'));
  if (!store) dataDirs.push(target);
  const program = await startCollector(target, [], [...agentAddresses.flatMap((a) => ['--agent', a]), '--agent-keepalive', '1s', ...extra]);
  const client = new CollectorClient(program.grpcAddress);
  programs.push(program);
  clients.push(client);
  return { program, client, store: target };
}

/**
 * curl from `from` to nginx on `to` from a fixed local port; the server answers "ok". The ports are
 * below the ephemeral range (32768-60999), where the load generator's TIME_WAIT sockets never hold them.
 */
async function curl(from: NetnsHost, to: NetnsHost, localPort: number, port = CLIENT_CLOSES): Promise<void> {
  expect(await from.run('curl', ['-sS', '--local-port', String(localPort), `http://${to.ipv4}:${port}/`])).toBe('ok\n');
}

const states = (c: ConnectionTimeline) => c.segments.map((s) => TcpState[s.state]);
const hostLine = (h: Host) => `${h.agentId || h.address}: ${HostState[h.state]} owner=${h.owner} lag=${h.lag?.seconds ?? 0}s ${h.lastError}`;

/** Polls ListHosts until `agentId` (or, for agents that never answered, the address) is in `state`; returns that host. */
async function hostIn(client: CollectorClient, match: (h: Host) => boolean, state: HostState, what: string, timeoutMs = 20_000): Promise<Host> {
  let last: Host[] = [];
  try {
    return await eventually(async () => {
      last = (await client.listHosts()).hosts;
      return last.find((h) => match(h) && h.state === state);
    }, `${what} to be ${HostState[state]}`, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}; ListHosts:\n${last.map(hostLine).join('\n')}`);
  }
}

beforeAll(async () => {
  net = createFleetNetwork('cops', 73, 4);
  hosts = net.hosts;
  for (const h of hosts) h.exec('sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
  nginx = await startNginx(hosts[1], [
    { listen: [`${hosts[1].ipv4}:${CLIENT_CLOSES}`] },
    { listen: [`${hosts[1].ipv4}:${SERVER_CLOSES}`], keepaliveTimeout: 0, bodyEndsAtClose: true },
  ]);
  [pg, pki, ...agents] = await Promise.all([startPostgres(), createAgentPki(hosts.map((h) => h.ipv4)), ...hosts.map((h) => startAgent(h))] as const);
  agentClients = hosts.map((h) => new GrpcJsAgent(agentAddress(h)));
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const a of agentClients) a.close();
  await Promise.all(programs.map((p) => p.stop()));
  await Promise.all(agents.map((a) => a.stop()));
  await nginx?.stop();
  net?.destroy();
  await pg?.stop();
  await pki?.remove();
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

// Each test's collectors stop with it: they would otherwise keep ingesting for the rest of the file.
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(programs.splice(0).map((p) => p.stop()));
});

describe('collector operations', () => {
  it('balances four agents between two replicas, handing over without loss; a SIGKILLed replica\'s agents go to the other', async () => {
    const url = await pg.createDatabase('balancing');
    const agentIds = hosts.map((h) => h.name);
    const watched = hosts.map((h, i) => ({ agentId: h.name, client: agentClients[i] }));
    const ownersSeenBy = async (client: CollectorClient) => {
      const listed = (await client.listHosts()).hosts;
      return agentIds.map((id) => listed.find((h) => h.agentId === id)?.owner ?? '');
    };
    const leaseArgs = ['--lease-ttl', '3s'];
    const a = await collector(url, hosts.map((h) => agentAddress(h)), ['--replica-id', 'replica-a', ...leaseArgs]);
    // Alone, replica-a takes every agent.
    await eventually(async () => ((await ownersSeenBy(a.client)).every((o) => o === 'replica-a') ? true : undefined), 'replica-a to hold all four agents');
    await caughtUp(a.client, watched);

    // replica-b joins while connections are being made: replica-a hands over the
    // last two agents (by id) from what it has stored, replica-b resumes them.
    const loading = hosts[0].run(nodeBin, [loadgenScript, hosts[1].ipv4, String(CLIENT_CLOSES), '--seconds', '6', '--rate', '200', '--concurrency', '4']);
    const b = await collector(url, hosts.map((h) => agentAddress(h)), ['--replica-id', 'replica-b', ...leaseArgs]);
    const balanced = ['replica-a', 'replica-a', 'replica-b', 'replica-b'];
    await eventually(async () => {
      const [byA, byB] = await Promise.all([ownersSeenBy(a.client), ownersSeenBy(b.client)]);
      return JSON.stringify(byA) === JSON.stringify(balanced) && JSON.stringify(byB) === JSON.stringify(balanced) ? true : undefined;
    }, `the agents to be divided ${balanced.join(', ')}`);
    // Each replica streams its own two and leaves the other two to their owner.
    for (const [replica, own] of [[a, [0, 1]], [b, [2, 3]]] as const) {
      const listed = await eventually(async () => {
        const l = (await replica.client.listHosts()).hosts.filter((h) => agentIds.includes(h.agentId));
        return l.every((h, i) => (own as readonly number[]).includes(i) ? h.state === HostState.CONNECTED || h.state === HostState.LAGGING : h.state === HostState.UNSPECIFIED)
          ? l
          : undefined;
      }, 'each replica to stream its own agents');
      expect(listed.map((h) => h.owner)).toEqual(balanced);
    }
    expect(a.program.output()).toMatch(/handed over at seq \d+ \(this replica holds more than its share\)/);
    expect(JSON.parse(await loading)).toMatchObject({ errors: 0 });
    await caughtUp(a.client, watched.slice(0, 2));
    await caughtUp(b.client, watched.slice(2));
    // Still two each a few lease periods later: nobody takes back what it handed over.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await ownersSeenBy(a.client)).toEqual(balanced);
    expectEverySeqOnce(url);

    // replica-b dies without a word: after its leases expire, replica-a takes all four.
    const reloading = hosts[0].run(nodeBin, [loadgenScript, hosts[1].ipv4, String(CLIENT_CLOSES), '--seconds', '4', '--rate', '200', '--concurrency', '4']);
    await new Promise((r) => setTimeout(r, 1000));
    await b.program.stop('SIGKILL');
    const atKill = storedEventCount(url);
    await eventually(async () => {
      const listed = (await a.client.listHosts()).hosts.filter((h) => agentIds.includes(h.agentId));
      return listed.every((h) => h.owner === 'replica-a' && (h.state === HostState.CONNECTED || h.state === HostState.LAGGING)) ? true : undefined;
    }, 'replica-a to take all four agents over');
    expect(JSON.parse(await reloading)).toMatchObject({ errors: 0 });
    await caughtUp(a.client, watched, 30_000, () => a.program.output());
    expect(storedEventCount(url)).toBeGreaterThan(atKill);
    expectEverySeqOnce(url);
  });

  it('calls agents over TLS and mTLS; a wrong CA or a missing client certificate leaves the agent CONNECTING with a clear last_error', async () => {
    const [, h1, h2, h3] = hosts;
    const tlsId = `${h2.name}-tls`;
    const mtlsId = `${h3.name}-mtls`;
    const tlsAgent = await startAgent(h2, ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey], { port: TLS_PORT, agentId: tlsId });
    const mtlsAgent = await startAgent(h3, ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.caCert], { port: TLS_PORT, agentId: mtlsId });
    agents.push(tlsAgent, mtlsAgent);
    const tlsAddress = agentAddress(h2, TLS_PORT);
    const mtlsAddress = agentAddress(h3, TLS_PORT);
    const both = [tlsAddress, mtlsAddress];
    const [good, wrongCa, noClientCert] = await Promise.all([
      collector(undefined, both, ['--agent-ca', pki.caCert, '--agent-cert', pki.clientCert, '--agent-key', pki.clientKey]),
      collector(undefined, both, ['--agent-ca', pki.otherCaCert, '--agent-cert', pki.clientCert, '--agent-key', pki.clientKey]),
      collector(undefined, both, ['--agent-ca', pki.caCert]),
    ]);

    // With the CA and a client certificate: both agents stream, and what they capture is stored.
    await hostIn(good.client, (h) => h.agentId === tlsId, HostState.CONNECTED, tlsId);
    await hostIn(good.client, (h) => h.agentId === mtlsId, HostState.CONNECTED, mtlsId);
    await curl(h2, h1, 30421);
    await curl(h3, h1, 30422);
    for (const [agentId, port] of [[tlsId, 30421], [mtlsId, 30422]] as const) {
      const c = await eventually(async () => {
        const found = (await good.client.queryTimeline({ include: [{ host: [agentId], port: [port] }] })).connections;
        return found.length === 1 && found[0].segments.some((s) => s.state === TcpState.TIME_WAIT) ? found[0] : undefined;
      }, `${agentId}'s curl connection from port ${port} to be stored`);
      expect(c).toMatchObject({ side: Side.CLIENT, localPort: port, remotePort: CLIENT_CLOSES, comm: 'curl' });
      expect(states(c).slice(0, 4)).toEqual(['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2']);
    }

    // Trusting another CA: the agents' certificates are refused, the collector keeps running and says why.
    for (const address of both) {
      const h = await hostIn(wrongCa.client, (x) => x.address === address && x.lastError !== '', HostState.CONNECTING, `${address} via the wrong CA`);
      expect(h.agentId).toBe('');
      // (OpenSSL's own words in the parentheses.)
      expect(h.lastError).toMatch(/^cannot connect to the agent over TLS: its certificate is not signed by the CA in --agent-ca \([a-z -]+\)$/);
    }
    // The right CA but no client certificate: the TLS-only agent streams, the mTLS agent refuses the collector.
    await hostIn(noClientCert.client, (h) => h.agentId === tlsId, HostState.CONNECTED, `${tlsId} without a client certificate`);
    const refused = await hostIn(noClientCert.client, (h) => h.address === mtlsAddress && h.lastError !== '', HostState.CONNECTING, `${mtlsAddress} without a client certificate`);
    expect(refused.lastError).toBe('the agent requires a client certificate (mTLS): give --agent-cert and --agent-key');
    for (const c of [good, wrongCa, noClientCert]) expect(c.program.child.exitCode).toBeNull();
  });

  it('reports an agent whose stored events fall behind as LAGGING, and CONNECTED again once they are stored', async () => {
    const url = await pg.createDatabase('lagging');
    const [h0, h1] = hosts;
    const { client, program } = await collector(url, [agentAddress(h0)], ['--replica-id', 'lagging']);
    const watched = [{ agentId: h0.name, client: agentClients[0] }];
    await hostIn(client, (h) => h.agentId === h0.name, HostState.CONNECTED, h0.name);
    await caughtUp(client, watched);

    // The database stalls: a transaction holds a SHARE lock on the event blocks
    // table, so every insert waits (reads, leases and ListHosts do not).
    const locker = holdPostgresLock(url, 'LOCK TABLE event_blocks IN SHARE MODE');
    await eventually(async () => (postgresValue(url, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'event_blocks' AND l.mode = 'ShareLock' AND l.granted") === '1' ? true : undefined), 'the lock on events');
    const storedBefore = storedEventCount(url);
    await curl(h0, h1, 30431);
    const lagging = await hostIn(client, (h) => h.agentId === h0.name, HostState.LAGGING, `${h0.name} with its writes stalled`);
    expect(Number(lagging.lag?.seconds ?? 0n)).toBeGreaterThanOrEqual(2);
    expect(storedEventCount(url)).toBe(storedBefore); // really nothing written meanwhile

    // The database answers again: the events are stored and the agent is CONNECTED.
    await locker.release();
    await hostIn(client, (h) => h.agentId === h0.name, HostState.CONNECTED, `${h0.name} after the stall`);
    await caughtUp(client, watched, 30_000, () => program.output());
    const stored = (await client.queryTimeline({ include: [{ host: [h0.name], port: [30431] }] })).connections;
    expect(stored.map((c) => states(c).slice(0, 4))).toEqual([['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2']]);
    expectEverySeqOnce(url);
  });

  it('reports a SIGKILLed agent GONE after --gone-after, and keeps its stored events queryable', async () => {
    const [, h1, , h3] = hosts;
    const goneId = `${h3.name}-gone`;
    const goneAgent = await startAgent(h3, [], { port: GONE_PORT, agentId: goneId });
    agents.push(goneAgent);
    const { client } = await collector(undefined, [agentAddress(h3, GONE_PORT)], ['--gone-after', '3s']);
    await hostIn(client, (h) => h.agentId === goneId, HostState.CONNECTED, goneId);
    await curl(h3, h1, 30441, SERVER_CLOSES);
    const query = { include: [{ host: [goneId], port: [30441] }] };
    const before = await eventually(async () => {
      const found = (await client.queryTimeline(query)).connections;
      return found.length === 1 && !found[0].open ? found[0] : undefined;
    }, `${goneId}'s closed connection from port 30441 to be stored`);
    expect(states(before)).toEqual(['SYN_SENT', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']);

    await goneAgent.stop('SIGKILL');
    const killedAt = Date.now();
    // First unreachable (CONNECTING), then GONE once --gone-after has passed.
    await hostIn(client, (h) => h.agentId === goneId, HostState.CONNECTING, `${goneId} just after SIGKILL`);
    const gone = await hostIn(client, (h) => h.agentId === goneId, HostState.GONE, `${goneId} after --gone-after`);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(3000);
    expect(gone.lastError).toBe(`unavailable: connect ECONNREFUSED ${agentAddress(h3, GONE_PORT)}`);
    // What it sent is still there.
    const after = (await client.queryTimeline(query)).connections;
    expect(after).toEqual([before]);
    const byRef = await client.getConnection({ key: { case: 'ref', value: before.ref! } });
    expect(byRef.connection).toEqual(before);
  });

  it('deletes events and connections older than --retention from the raw events and the derived rows; recent ones stay', async () => {
    const [h0, h1] = hosts;
    const retentionMs = 15_000;
    const { client, store } = await collector(undefined, [agentAddress(h0)], ['--retention', '15s']);
    const watched = [{ agentId: h0.name, client: agentClients[0] }];
    await hostIn(client, (h) => h.agentId === h0.name, HostState.CONNECTED, h0.name);
    // The server closes first, so the client's side (all this agent sees) is closed at once: no TIME_WAIT to wait for.
    const oldPorts = [30451, 30452, 30453];
    const newPorts = [30461, 30462, 30463];
    for (const port of oldPorts) await curl(h0, h1, port, SERVER_CLOSES);
    const oldMadeAt = Date.now();
    const window = { start: { seconds: BigInt(Math.floor(oldMadeAt / 1000) - 60) } };
    const ports = (cs: ConnectionTimeline[]) => cs.map((c) => c.localPort).sort();
    const inTimeline = async () => (await client.queryTimeline({ ...window, include: [{ host: [h0.name], port: [...oldPorts, ...newPorts] }] })).connections;
    // Stored and closed (the agent may still hold the last events in its ring when curl returns).
    const closedPorts = async (expected: number[]) => {
      const cs = await inTimeline();
      return cs.every((c) => !c.open) && ports(cs).join() === expected.join() ? cs : undefined;
    };
    await eventually(() => closedPorts(oldPorts), 'the old connections, closed, in QueryTimeline');
    await caughtUp(client, watched);
    const rowsOf = (table: 'events' | 'connections', portList: number[]) =>
      table === 'events'
        ? storedEvents(store).filter(({ event }) => portList.includes(event.localPort)).length
        : sqliteCount(store, `SELECT count(*) FROM connections WHERE local_port IN (${portList.join(',')})`);
    const oldEvents = rowsOf('events', oldPorts);
    // Five transitions each: CLOSE->SYN_SENT->ESTABLISHED->CLOSE_WAIT->LAST_ACK->CLOSE.
    expect([oldEvents, rowsOf('connections', oldPorts)]).toEqual([oldPorts.length * 5, oldPorts.length]);

    // Shortly before the old ones reach the retention, new ones are made.
    await new Promise((r) => setTimeout(r, Math.max(0, oldMadeAt + retentionMs - 3000 - Date.now())));
    for (const port of newPorts) await curl(h0, h1, port, SERVER_CLOSES);
    const gone = await eventually(() => closedPorts(newPorts), 'the old connections to leave QueryTimeline and the new ones to arrive', 20_000);
    await caughtUp(client, watched);
    for (const c of gone) expect(states(c)).toEqual(['SYN_SENT', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']);
    // Removed from the raw events and from the derived rows; the new ones are all there.
    expect([rowsOf('events', oldPorts), rowsOf('connections', oldPorts)]).toEqual([0, 0]);
    expect([rowsOf('events', newPorts), rowsOf('connections', newPorts)]).toEqual([newPorts.length * 5, newPorts.length]);
  });
});

/** Runs one SQL statement in its own transaction and holds it (and its locks) until release(). */
function holdPostgresLock(url: string, statement: string): { release(): Promise<void> } {
  const psql: ChildProcess = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url], { stdio: ['pipe', 'ignore', 'inherit'] });
  psql.stdin!.write(`BEGIN;\n${statement};\n`);
  return {
    release: async () => {
      const exited = new Promise((r) => psql.once('exit', r));
      psql.stdin!.end('COMMIT;\n');
      await exited;
    },
  };
}

/** One value from PostgreSQL, as text. */
function postgresValue(url: string, query: string): string {
  return execFileSync('psql', ['-X', '-At', url, '-c', query], { encoding: 'utf8' }).trim();
}

/** A count from the collector's SQLite file. */
function sqliteCount(dataDir: string, query: string): number {
  return Number(execFileSync('sqlite3', [join(dataDir, 'tcpstate.db'), query], { encoding: 'utf8' }).trim());
}
