// Ingest throughput of @tcpstate/store into SQLite and PostgreSQL, then query
// latencies on what was stored.
//
//   npx nx run @tcpstate/store:build && scripts/node24 node test/bench/store-ingest.ts [events-per-agent] [agents]
//
// Each agent streams connections the way a busy host does: clients that
// close first (6 transitions, TIME_WAIT ended by a sweep) and served
// connections (5 transitions), ~64 in flight at once so their events
// interleave, in batches of 500 as the collector writes them. Agents ingest
// concurrently (one batch in flight each), as the collector does. PostgreSQL
// runs with its durability settings on (fsync, synchronous commit).
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { AddressFamily, ConnectionFilterSchema, Observation, Side, type StateChange, StateChangeSchema, TcpState } from '@tcpstate/proto';
import { type EventStore, openStore } from '@tcpstate/store';

// Node runs this file by stripping types, which needs the helper's real file name.
import { startPostgres } from '@tcpstate/testbed';

const EVENTS_PER_AGENT = Number(process.argv[2] ?? 50_000);
const AGENTS = Number(process.argv[3] ?? 4);
const BATCH = 500;
const IN_FLIGHT = 64;

/** One connection's transitions as [ms offset, old, new, observation]. */
const CLIENT: [number, TcpState, TcpState, Observation][] = [
  [0, TcpState.CLOSE, TcpState.SYN_SENT, Observation.TRACEPOINT],
  [1, TcpState.SYN_SENT, TcpState.ESTABLISHED, Observation.TRACEPOINT],
  [40, TcpState.ESTABLISHED, TcpState.FIN_WAIT1, Observation.TRACEPOINT],
  [41, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, Observation.TRACEPOINT],
  [42, TcpState.FIN_WAIT2, TcpState.TIME_WAIT, Observation.HANDOVER],
  [61_000, TcpState.TIME_WAIT, TcpState.CLOSE, Observation.SWEEP],
];
const SERVER: [number, TcpState, TcpState, Observation][] = [
  [0, TcpState.LISTEN, TcpState.SYN_RECV, Observation.TRACEPOINT],
  [1, TcpState.SYN_RECV, TcpState.ESTABLISHED, Observation.TRACEPOINT],
  [30, TcpState.ESTABLISHED, TcpState.CLOSE_WAIT, Observation.TRACEPOINT],
  [31, TcpState.CLOSE_WAIT, TcpState.LAST_ACK, Observation.TRACEPOINT],
  [32, TcpState.LAST_ACK, TcpState.CLOSE, Observation.TRACEPOINT],
];

/** An agent's stream in seq order: connections started every 2 ms, their events merged by time. */
function stream(agent: number, total: number): StateChange[] {
  // Inside the last hour, where the QueryTimeline latency below looks.
  const start = Date.now() - 1_800_000;
  const pending: { ms: number; cookie: number; step: [number, TcpState, TcpState, Observation]; server: boolean; port: number; previousMs: number }[] = [];
  for (let c = 0; pending.length < total + IN_FLIGHT * 6; c++) {
    const server = c % 2 === 1;
    const steps = server ? SERVER : CLIENT;
    steps.forEach((step, i) =>
      pending.push({ ms: c * 2 + step[0], cookie: c + 1, step, server, port: 10_000 + (c % 50_000), previousMs: i === 0 ? -1 : c * 2 + steps[i - 1][0] }),
    );
  }
  pending.sort((a, b) => a.ms - b.ms || a.cookie - b.cookie);
  return pending.slice(0, total).map((p, i) => {
    const [, oldState, newState, observedBy] = p.step;
    const me = `10.1.${agent}.1`;
    const peer = `10.2.${p.cookie % 200}.${1 + (p.cookie % 250)}`;
    return create(StateChangeSchema, {
      agentId: `agent-${agent}`,
      bootId: `boot-${agent}`,
      seq: BigInt(i + 1),
      time: timestampFromMs(start + p.ms),
      monotonicNs: BigInt(p.ms) * 1_000_000n,
      cookie: BigInt(p.cookie),
      family: AddressFamily.INET,
      localAddress: me,
      localPort: p.server ? 443 : newState === TcpState.SYN_SENT ? 0 : p.port,
      remoteAddress: peer,
      remotePort: p.server ? p.port : 443,
      oldState,
      newState,
      side: p.server ? Side.SERVER : Side.CLIENT,
      timeInOldState: p.previousMs < 0 ? undefined : durationFromMs(p.ms - p.previousMs),
      pid: p.server ? 700 : 4000 + (p.cookie % 100),
      comm: p.server ? 'nginx' : 'curl',
      netns: 4026531840,
      observedBy,
      timeUncertainty: observedBy === Observation.SWEEP ? durationFromMs(1000) : undefined,
    });
  });
}

async function measure(name: string, store: EventStore, streams: StateChange[][]): Promise<number> {
  const started = performance.now();
  let inserted = 0;
  await Promise.all(
    streams.map(async (events, agent) => {
      for (let i = 0; i < events.length; i += BATCH) {
        const result = await store.ingest(`agent-${agent}`, `boot-${agent}`, { events: events.slice(i, i + BATCH), gaps: [] });
        inserted += result.inserted;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = streams.reduce((n, s) => n + s.length, 0);
  if (inserted !== total) throw new Error(`${name}: ${inserted} of ${total} events inserted`);
  const rate = total / seconds;
  console.log(`${name.padEnd(10)} ${total} events from ${streams.length} agents in ${seconds.toFixed(2)} s: ${Math.round(rate)} events/s`);
  return rate;
}

/** p50/p99 of a query repeated `runs` times, in ms. */
async function latency(name: string, runs: number, query: (i: number) => Promise<unknown>): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await query(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const rank = (p: number) => times[Math.ceil((p / 100) * times.length) - 1];
  console.log(`  ${name.padEnd(38)} p50 ${rank(50).toFixed(2)} ms, p99 ${rank(99).toFixed(2)} ms`);
}

/** QueryTimeline over the last hour (first page of 100, and a page deep in it) and GetConnection + its peer. */
async function queries(store: EventStore, streams: StateChange[][]): Promise<void> {
  const end = timestampFromMs(Date.now());
  const start = timestampFromMs(Date.now() - 3_600_000);
  await latency('QueryTimeline 1 h, first page', 50, () => store.queryTimeline({ start, end, pageSize: 100 }));
  let token = '';
  for (let i = 0; i < 20; i++) token = (await store.queryTimeline({ start, end, pageSize: 100, pageToken: token })).nextPageToken;
  await latency('QueryTimeline 1 h, 21st page', 50, () => store.queryTimeline({ start, end, pageSize: 100, pageToken: token }));
  await latency('QueryTimeline 1 h, port filter', 50, (i) =>
    store.queryTimeline({ start, end, pageSize: 100, include: [create(ConnectionFilterSchema, { port: [10_000 + i] })] }),
  );
  const refs = streams.flatMap((events) => events.filter((_, i) => i % 997 === 0).map((e) => ({ agentId: e.agentId, bootId: e.bootId, cookie: e.cookie })));
  await latency('GetConnection by ref + peer', 200, async (i) => {
    const connection = await store.getConnection(refs[i % refs.length]);
    if (!connection) throw new Error('a stored connection was not found');
    await store.findPeer(connection);
  });
}

async function directorySize(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir)) bytes += (await stat(join(dir, name))).size;
  return bytes;
}

const streams = Array.from({ length: AGENTS }, (_, agent) => stream(agent, EVENTS_PER_AGENT));
const total = EVENTS_PER_AGENT * AGENTS;
console.log(`store ingest: ${AGENTS} agents x ${EVENTS_PER_AGENT} events, batches of ${BATCH}`);

const dir = await mkdtemp(join(tmpdir(), 'tcpstate-bench-'));
try {
  const sqlite = await openStore(join(dir, 'data'));
  await measure('sqlite', sqlite, streams);
  await queries(sqlite, streams);
  await sqlite.close();
  const bytes = await directorySize(join(dir, 'data'));
  console.log(`sqlite     database: ${(bytes / 1e6).toFixed(1)} MB, ${((bytes / total) * 1e6 / 1e6).toFixed(0)} MB per million events`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

const postgres = await startPostgres({ durable: true });
try {
  const url = await postgres.createDatabase('bench');
  const pgStore = await openStore(url);
  await measure('postgres', pgStore, streams);
  await queries(pgStore, streams);
  await pgStore.close();
} finally {
  await postgres.stop();
}
