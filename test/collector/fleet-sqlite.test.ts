// A collector (SQLite) and three namespace hosts, each with its own agent
// running inside it and restricted to its network namespace. curl between the
// hosts shows up in QueryTimeline and GetConnection pairs the client's record
// (one host) with the server's (another), segment by segment. Then faults:
// after each one, every seq of every agent run is stored exactly once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionTimeline, GapReason, HostState, Side, TcpState } from '@tcpstate/proto';
import { loadgenScript, type NetnsHost, type Nginx, nodeBin, type RunningProgram, setLink, startNginx } from '@tcpstate/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, CollectorClient } from './support/collector-client.js';
import { agentAddress, agentProgress, createFleetNetwork, type FleetNetwork, GrpcJsAgent, startAgent, startCollector } from './support/fleet.js';
import { startProgram } from '@tcpstate/testbed';
import { caughtUp as waitCaughtUp, eventually, expectEverySeqOnce as expectEverySeqStoredOnce, storedEventCount } from './support/ingest-checks.js';

const INVALID_ARGUMENT = 3;
const REPLICA = 'sqlite-replica';

let net: FleetNetwork;
let hosts: NetnsHost[];
let nginx: Nginx[] = [];
const agents: RunningProgram[] = [];
let agentClients: GrpcJsAgent[] = [];
let collector: RunningProgram;
let client: CollectorClient;
let dataDir: string;

const collectorArgs = ['--replica-id', REPLICA, '--heartbeat', '500ms', '--agent-keepalive', '1s'];

async function restartCollector(signal: NodeJS.Signals): Promise<void> {
  client?.close();
  await collector.stop(signal);
  collector = await startCollector(dataDir, hosts, collectorArgs);
  client = new CollectorClient(collector.grpcAddress);
}

/** curl from `from` to `to`:80 from a fixed local port; the server answers "ok". */
async function curl(from: NetnsHost, to: NetnsHost, localPort: number): Promise<void> {
  expect(await from.run('curl', ['-sS', '--local-port', String(localPort), `http://${to.ipv4}/`])).toBe('ok\n');
}

const watched = () => hosts.map((h, i) => ({ agentId: h.name, client: agentClients[i] }));
const caughtUp = (timeoutMs = 30_000) => waitCaughtUp(client, watched(), timeoutMs, () => collector.output());
const expectEverySeqOnce = () => expectEverySeqStoredOnce(dataDir);

/** Opens connections from `from` to `to`:80 at about `rate` per second for `seconds`. */
function load(from: NetnsHost, target: string, seconds: number, rate: number): Promise<string> {
  return from.run(nodeBin, [loadgenScript, target, '80', '--seconds', String(seconds), '--rate', String(rate), '--concurrency', '4']);
}

/** A timeline without the durations of open segments, which grow with the time of asking. */
const settled = (c: ConnectionTimeline | undefined) =>
  c && { ...c, segments: c.segments.map((seg) => (seg.end ? seg : { ...seg, duration: undefined })) };
const states = (c: ConnectionTimeline) => c.segments.map((s) => TcpState[s.state]);
const refKey = (c: { agentId: string; bootId: string; cookie: bigint } | undefined) => (c ? `${c.agentId}/${c.bootId}/${c.cookie}` : 'none');

beforeAll(async () => {
  net = createFleetNetwork('coll', 71, 3);
  hosts = net.hosts;
  for (const h of hosts) h.exec('sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
  nginx = [
    await startNginx(hosts[1], [{ listen: [`${hosts[1].ipv4}:80`] }]),
    await startNginx(hosts[2], [{ listen: [`${hosts[2].ipv4}:80`, '127.0.0.1:80'] }]),
  ];
  agents.push(...(await Promise.all(hosts.map((h) => startAgent(h)))));
  agentClients = hosts.map((h) => new GrpcJsAgent(agentAddress(h)));
  dataDir = mkdtempSync(join(tmpdir(), 'tcpstate-collector-'));
  collector = await startCollector(dataDir, hosts, collectorArgs);
  client = new CollectorClient(collector.grpcAddress);
});

afterAll(async () => {
  client?.close();
  for (const a of agentClients) a.close();
  await collector?.stop();
  await Promise.all(agents.map((a) => a.stop()));
  for (const n of nginx) n.stop();
  net?.destroy();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('collector with SQLite and three namespace hosts', () => {
  it('pairs both sides of curl connections between hosts, with exact segments', async () => {
    const [h0, h1, h2] = hosts;
    await curl(h0, h1, 40001);
    await curl(h2, h1, 40002);
    await curl(h0, h2, 40003);
    await caughtUp();

    const timeline = await client.queryTimeline({ include: [{ port: [40001, 40002, 40003] }] });
    const byEnds = (agent: NetnsHost, side: Side, localPort: number, remotePort: number) => {
      const found = timeline.connections.filter((c) => c.ref?.agentId === agent.name && c.side === side && c.localPort === localPort && c.remotePort === remotePort);
      expect(found, `${agent.name} ${Side[side]} ${localPort}->${remotePort}`).toHaveLength(1);
      return found[0];
    };
    expect(timeline.connections).toHaveLength(6);
    expect(timeline.gaps.filter((g) => g.reason !== GapReason.KERNEL)).toEqual([]);
    for (const [from, to, port] of [[h0, h1, 40001], [h2, h1, 40002], [h0, h2, 40003]] as const) {
      const c = byEnds(from, Side.CLIENT, port, 80);
      const s = byEnds(to, Side.SERVER, 80, port);
      // The agents are restricted to their own namespace: each side is recorded once, by its own host.
      expect([c.localAddress, c.remoteAddress, c.netns]).toEqual([from.ipv4, to.ipv4, from.inode]);
      expect([s.localAddress, s.remoteAddress, s.netns]).toEqual([to.ipv4, from.ipv4, to.inode]);
      expect(c.comm).toBe('curl');
      expect(c.open).toBe(true); // in TIME_WAIT until its timer ends it (60 s)
      expect([
        ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT'],
        ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'FIN_WAIT2', 'TIME_WAIT'],
      ]).toContainEqual(states(c));
      expect(c.segments.at(-1)!.end).toBeUndefined();
      expect(states(s)).toEqual(['SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']);
      expect(s.open).toBe(false);
      expect(s.segments.every((seg) => seg.end !== undefined)).toBe(true);
      // QueryTimeline names each side's peer.
      expect(refKey(c.peer)).toBe(refKey(s.ref));
      expect(refKey(s.peer)).toBe(refKey(c.ref));

      // GetConnection by ref: the client with its server, from the other host.
      const byRef = await client.getConnection({ key: { case: 'ref', value: c.ref! } });
      expect(settled(byRef.connection)).toEqual(settled(c));
      expect(settled(byRef.peer)).toEqual(settled(s));
      expect(byRef.peerMissingReason).toBe('');
      // By endpoints, as the server saw them, at a time inside its life.
      const byEndpoints = await client.getConnection({
        key: { case: 'endpoints', value: { localAddress: to.ipv4, localPort: 80, remoteAddress: from.ipv4, remotePort: port, at: s.segments[1].start } },
      });
      expect(refKey(byEndpoints.connection?.ref)).toBe(refKey(s.ref));
      expect(refKey(byEndpoints.peer?.ref)).toBe(refKey(c.ref));
    }

    // GetStats over the same connections, server sides only: each transition once per curl.
    const stats = await client.getStats({ include: [{ port: [40001, 40002, 40003], side: [Side.SERVER] }] });
    expect(stats.transitions.map((t) => `${TcpState[t.oldState]}->${TcpState[t.newState]} ${t.count}`).sort()).toEqual([
      'CLOSE_WAIT->LAST_ACK 3', 'ESTABLISHED->CLOSE_WAIT 3', 'LAST_ACK->CLOSE 3', 'LISTEN->SYN_RECV 3', 'SYN_RECV->ESTABLISHED 3',
    ]);

    // The collector's own subscription, seen by the agent: no agent runs where the collector is.
    const own = (await client.queryTimeline({ include: [{ host: [h1.name], serverEndpoint: [agentAddress(h1)], address: [net.rootAddress] }] })).connections;
    expect(own.length).toBeGreaterThan(0);
    expect(own[0]).toMatchObject({ side: Side.SERVER, localAddress: h1.ipv4, localPort: 4270, remoteAddress: net.rootAddress });
    const lonely = await client.getConnection({ key: { case: 'ref', value: own[0].ref! } });
    expect(lonely.peer).toBeUndefined();
    expect(lonely.peerMissingReason).toMatch(/no agent recorded any connection on 10\.71\.0\.254/);
    expectEverySeqOnce();
    // The queries above waited for every stored event's connection rows: none pending (docs/collector.md).
    const metrics = await (await fetch(`http://${collector.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/^tcpstate_collector_rows_pending 0$/m);
  });

  it('lists the hosts with their ingest state, seq and capture strategies', async () => {
    await caughtUp();
    const listed = (await client.listHosts()).hosts;
    expect(listed.map((h) => h.agentId)).toEqual(hosts.map((h) => h.name));
    for (const [i, h] of listed.entries()) {
      expect(h.state).toBe(HostState.CONNECTED);
      expect(h.address).toBe(agentAddress(hosts[i]));
      expect(h.owner).toBe(REPLICA);
      expect(h.lastError).toBe('');
      expect(h.lost).toBe(0n);
      expect(h.strategies[0]).toMatchObject({ concern: 'state', name: 'tp_btf/inet_sock_set_state', active: true });
      expect(h.lastSeq).toBeGreaterThan(0n);
    }
  });

  it('streams what it ingests to Watch, filtered, with heartbeats', async () => {
    const [h0, h1] = hosts;
    const watch = client.watch({ include: [{ host: [h0.name], port: [40011] }] });
    const batched = client.watch({ include: [{ host: [h0.name], port: [40011] }], maxBatch: 100 });
    await watch.until((w) => w.heartbeats.length > 0, 10_000, 'a heartbeat');
    await batched.until((w) => w.heartbeats.length > 0, 10_000, 'a heartbeat (batched)');
    expect(watch.heartbeats[0].agentId).toBe(h0.name);
    await curl(h0, h1, 40011);
    await watch.until((w) => w.events.some((e) => e.newState === TcpState.TIME_WAIT), 10_000, 'the client entering TIME_WAIT');
    const events = watch.events;
    expect(events.every((e) => e.agentId === h0.name && e.localPort === 40011 && e.side === Side.CLIENT)).toBe(true);
    expect(events.slice(0, 4).map((e) => `${TcpState[e.oldState]}->${TcpState[e.newState]}`)).toEqual([
      'CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2',
    ]);
    const seqs = events.map((e) => Number(e.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // With max_batch: the same events, in `events` batches only.
    await batched.until((w) => w.events.length >= events.length, 10_000, 'the same events, batched');
    expect(batched.events.map((e) => Number(e.seq))).toEqual(seqs);
    expect(batched.responses.some((r) => r.response.case === 'event')).toBe(false);
    watch.cancel();
    batched.cancel();
    const tooLarge = client.watch({ maxBatch: 10_001 });
    expect(await tooLarge.ended).toMatchObject({ code: INVALID_ARGUMENT, details: 'max_batch: 10001 is more than 10000 events per response' });
  });

  it('answers invalid queries with INVALID_ARGUMENT naming the problem, and {} with the last hour', async () => {
    const now = BigInt(Math.floor(Date.now() / 1000));
    expect(await callError(client.queryTimeline({ start: { seconds: now }, end: { seconds: now - 60n } }))).toMatchObject({
      code: INVALID_ARGUMENT,
      details: expect.stringMatching(/window is empty or inverted/),
    });
    expect(await callError(client.queryTimeline({ include: [{ host: ['no-such-host'] }] }))).toEqual({
      code: INVALID_ARGUMENT,
      details: 'include[0].host[0]: no agent or host named "no-such-host" is known to this collector',
    });
    expect(await callError(client.queryTimeline({ include: [{ port: [70000] }] }))).toMatchObject({
      code: INVALID_ARGUMENT,
      details: expect.stringMatching(/^include\[0\]\.port\[0\]/),
    });
    const first = await client.queryTimeline({ include: [{ port: [80] }], pageSize: 1 });
    expect(first.connections).toHaveLength(1);
    expect(first.nextPageToken).not.toBe('');
    const tampered = first.nextPageToken.slice(0, -2) + (first.nextPageToken.endsWith('AA') ? 'BB' : 'AA');
    expect(await callError(client.queryTimeline({ include: [{ port: [80] }], pageSize: 1, pageToken: tampered }))).toMatchObject({
      code: INVALID_ARGUMENT,
      details: expect.stringMatching(/page.token/i),
    });
    expect(await callError(client.getConnection({}))).toMatchObject({ code: INVALID_ARGUMENT, details: expect.stringMatching(/ref .* or endpoints/) });

    const lastHour = await client.queryTimeline({});
    expect(lastHour.connections.filter((c) => c.remotePort === 80 || c.localPort === 80).length).toBeGreaterThanOrEqual(8);
  });
});

describe('faults: afterwards every seq of every agent run is stored exactly once', () => {
  it('an agent restarted: its new boot_id starts a new sequence at 1', async () => {
    const [h0, h1] = hosts;
    await caughtUp();
    const before = await agentProgress(agentClients[1]);
    agentClients[1].close();
    await agents[1].stop();
    agents[1] = await startAgent(h1);
    agentClients[1] = new GrpcJsAgent(agentAddress(h1));
    const after = await agentProgress(agentClients[1]);
    expect(after.bootId).not.toBe(before.bootId);
    await curl(h0, h1, 40021);
    await caughtUp();

    const runs = expectEverySeqOnce().filter((r) => r.agentId === h1.name);
    expect(runs.map((r) => r.bootId).sort()).toEqual([before.bootId, after.bootId].sort());
    const old = runs.find((r) => r.bootId === before.bootId)!;
    const fresh = runs.find((r) => r.bootId === after.bootId)!;
    expect(old.seqs.at(-1)).toBeGreaterThanOrEqual(Number(before.lastSeq));
    expect(fresh.seqs[0]).toBe(1);
    const server = (await client.queryTimeline({ include: [{ host: [h1.name], port: [40021] }] })).connections;
    expect(server.map((c) => [c.ref?.bootId, c.side, states(c)])).toEqual([[after.bootId, Side.SERVER, ['SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']]]);
    const host = (await client.listHosts()).hosts.find((h) => h.agentId === h1.name)!;
    expect([host.bootId, host.state]).toEqual([after.bootId, HostState.CONNECTED]);
  });

  it('the collector killed with SIGKILL mid-ingest and restarted', async () => {
    const [h0, h1] = hosts;
    await caughtUp();
    const stored = () => storedEventCount(dataDir);
    const baseline = stored();
    const loading = load(h0, h1.ipv4, 4, 300);
    await new Promise((r) => setTimeout(r, 1500));
    await restartCollector('SIGKILL');
    const atKill = stored();
    expect(atKill).toBeGreaterThan(baseline); // it was ingesting the load when killed
    expect(JSON.parse(await loading)).toMatchObject({ errors: 0 });
    await caughtUp(60_000);
    expect(stored()).toBeGreaterThan(atKill);
    expectEverySeqOnce();
  });

  it('the link to one host cut and restored', async () => {
    const h2 = hosts[2];
    await caughtUp();
    setLink(h2, false);
    try {
      // Traffic inside the cut-off host, so that its agent has events to deliver later.
      const loading = load(h2, '127.0.0.1', 3, 200);
      const deadline = Date.now() + 15_000;
      let host;
      do {
        await new Promise((r) => setTimeout(r, 200));
        host = (await client.listHosts()).hosts.find((h) => h.agentId === h2.name)!;
      } while (host.state === HostState.CONNECTED && Date.now() < deadline);
      expect(host.state).toBe(HostState.CONNECTING);
      expect(host.lastError).not.toBe('');
      expect(JSON.parse(await loading)).toMatchObject({ errors: 0 });
    } finally {
      setLink(h2, true);
    }
    await caughtUp(60_000);
    const host = (await client.listHosts()).hosts.find((h) => h.agentId === h2.name)!;
    expect([host.state, host.lastError]).toEqual([HostState.CONNECTED, '']);
    expectEverySeqOnce();
  });
});

describe('discovery', () => {
  it('follows an agents file: agents added are subscribed, agents removed are reported GONE', async () => {
    const [h0, h1, h2] = hosts;
    const dir = mkdtempSync(join(tmpdir(), 'tcpstate-discovery-'));
    const file = join(dir, 'agents.txt');
    writeFileSync(file, `# the fleet\n${agentAddress(h0)}\n${agentAddress(h1)}\n`);
    const second = await startProgram('collector', ['--store', join(dir, 'data'), '--agents-file', file, '--discovery-interval', '200ms']);
    const other = new CollectorClient(second.grpcAddress);
    try {
      const states = async () => Object.fromEntries((await other.listHosts()).hosts.map((h) => [h.agentId, [HostState[h.state], h.lastError]]));
      await eventually(async () => {
        const now = await states();
        return now[h0.name]?.[0] === 'CONNECTED' && now[h1.name]?.[0] === 'CONNECTED' ? now : undefined;
      }, 'both listed agents connected');
      writeFileSync(file, `${agentAddress(h0)}\n${agentAddress(h2)}\n`);
      // h2 is new to this collector: it replays h2's window first (LAGGING), then is CONNECTED.
      const expected = {
        [h0.name]: ['CONNECTED', ''],
        [h1.name]: ['GONE', 'no longer listed by discovery'],
        [h2.name]: ['CONNECTED', ''],
      };
      let last = {};
      await eventually(async () => {
        last = await states();
        return JSON.stringify(last) === JSON.stringify(expected) ? last : undefined;
      }, `${h1.name} gone and ${h2.name} connected`).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(last)}`);
      });
    } finally {
      other.close();
      expect(await second.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
