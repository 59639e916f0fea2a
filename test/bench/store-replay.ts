// Storage benchmark (issue 5): ingest rate into SQLite and PostgreSQL, then
// GetConnection and one-hour QueryTimeline latency p50/p99 with everything
// stored, and database size per million events. The events are a replay of
// recorded real ones (fixtures/real-events.binpb.gz, see record-events.ts and
// store-replay-stream.ts), spread over several agents and hours.
//
//   npm run bench:store -- [--events 10000000] [--agents 8] [--hours 6] [--backends sqlite,postgres]
//     [--batch 1000] [--samples 1000] [--grpc-samples 300] [--baseline-events 1000000] [--fixture FILE]
//   (--samples 0 / --grpc-samples 0: no latencies through the store / over gRPC, the ingest alone)
//
// Needs the built libs and collector (scripts/node24 npx nx run-many -t build).
// Per back-end, in order:
// 1. baseline: the first --baseline-events events as plain rows into a bare
//    events table (same columns, same primary key, nothing derived), in the
//    same batches: the floor any store pays for writing the rows;
// 2. the store's own ingest (EventStore.ingest, batches of 1000 as the
//    collector writes them, one batch in flight per agent, agents concurrent),
//    with progress every 10 s, timed by the wall clock: SQLite in its own
//    thread as the collector runs it, PostgreSQL in its own processes. Then
//    the time until every connection row is written (SQLite writes them
//    after ingest: a query waits for what is pending);
// 3. latencies through the store API: GetConnection (+ the peer lookup the
//    collector's GetConnection does) of random stored connections, and
//    QueryTimeline's first page of random one-hour windows, without and with
//    a host filter;
// 4. the same two calls through a collector process over gRPC;
// 5. size on disk.
// PostgreSQL (libs/testbed's startPostgres) keeps fsync and synchronous commit on.
//
// Node runs this file by stripping types: erasable TypeScript only, local imports name the .ts file.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  ConnectionFilterSchema,
  GetConnectionRequestSchema,
  GetConnectionResponseSchema,
  QueryTimelineRequestSchema,
  QueryTimelineResponseSchema,
  type StateChange,
} from '@tcpstate/proto';
import { type EventStore, openStore, SQLITE_FILE } from '@tcpstate/store';
import { startPostgres, startProgram, type TestPostgres } from '@tcpstate/testbed';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  machineDescription,
} from './harness.ts';
import {
  AgentReplay,
  loadRecording,
  type Recording,
  type ReplayPlan,
} from './store-replay-stream.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    agents: { type: 'string', default: '8' },
    hours: { type: 'string', default: '6' },
    backends: { type: 'string', default: 'sqlite,postgres' },
    batch: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '1000' },
    'grpc-samples': { type: 'string', default: '300' },
    'baseline-events': { type: 'string', default: '1000000' },
    fixture: { type: 'string', default: new URL('./fixtures/real-events.binpb.gz', import.meta.url).pathname },
  },
});
const EVENTS = Number(values.events);
const AGENTS = Number(values.agents);
const SPAN_NS = BigInt(Math.round(Number(values.hours) * 3600)) * 1_000_000_000n;
/** The collector's batch size (apps/collector DEFAULT_BATCH_OPTIONS.maxItems). */
const BATCH = Number(values.batch);
const SAMPLES = Number(values.samples);
const GRPC_SAMPLES = Number(values['grpc-samples']);
const BASELINE_EVENTS = Math.min(Number(values['baseline-events']), EVENTS);
const HOUR_NS = 3_600_000_000_000n;
/** The agent's capture rate at this machine's maximum connection rate (BENCHMARKS.md, kernel capture on a quiet machine, e0b4cbe). */
const AGENT_MAX_EVENTS_PER_SECOND = 127_839;

interface BackendResult {
  name: string;
  baselineRate: number;
  ingestRate: number;
  ingestSeconds: number;
  /** Events per second until their connection rows were all written (ingest included). */
  rowsRate: number;
  /** SQLite: CPU seconds of the store's thread from the first batch until the rows were written. */
  storeThreadSeconds?: number;
  latencies: Record<string, Latency>;
  bytes: number;
  tables: [string, number][];
}

const results: BackendResult[] = [];


// ---------------------------------------------------------------- back-ends

async function runSqlite(): Promise<BackendResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-bench-store-'));
  try {
    const baselineRate = sqliteBaseline(join(dir, 'baseline.db'));
    const dataDir = join(dir, 'data');
    const store = await openStore(dataDir, { ownThread: true });
    const { rate, seconds, rowsRate, storeThreadSeconds, replays } = await ingestAll('sqlite', store);
    const latencies = SAMPLES > 0 ? await storeLatencies(store, replays) : {};
    await store.close();
    const tables = sqliteTables(join(dataDir, SQLITE_FILE));
    const bytes = await directorySize(dataDir);
    if (GRPC_SAMPLES > 0) Object.assign(latencies, await grpcLatencies(dataDir, replays));
    return { name: 'sqlite', baselineRate, ingestRate: rate, ingestSeconds: seconds, rowsRate, storeThreadSeconds, latencies, bytes, tables };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runPostgres(): Promise<BackendResult> {
  const postgres = await startPostgres({ durable: true });
  try {
    const baselineRate = await postgresBaseline(await postgres.createDatabase('baseline'));
    const url = await postgres.createDatabase('bench');
    const store = await openStore(url);
    const { rate, seconds, rowsRate, replays } = await ingestAll('postgres', store);
    const latencies = SAMPLES > 0 ? await storeLatencies(store, replays) : {};
    await store.close();
    const { bytes, tables } = await postgresSize(url);
    if (GRPC_SAMPLES > 0) Object.assign(latencies, await grpcLatencies(url, replays));
    return { name: 'postgres', baselineRate, ingestRate: rate, ingestSeconds: seconds, rowsRate, latencies, bytes, tables };
  } finally {
    await stopQuietly(postgres);
  }
}

async function stopQuietly(postgres: TestPostgres): Promise<void> {
  await postgres.stop().catch((error: Error) => console.error(`PostgreSQL did not stop cleanly: ${error.message}`));
}

// ---------------------------------------------------------------- ingest

function replays(): AgentReplay[] {
  return Array.from({ length: AGENTS }, (_, a) => new AgentReplay(recording, a, plan));
}

/** Events per second the generator makes on its own (a tenth of a million events, or all if fewer). */
function measureGenerator(): number {
  const replay = new AgentReplay(recording, 0, { ...plan, agents: 1, events: Math.min(EVENTS, 100_000) });
  const started = performance.now();
  let n = 0;
  for (let batch = replay.nextBatch(BATCH); batch.length > 0; batch = replay.nextBatch(BATCH)) n += batch.length;
  return n / ((performance.now() - started) / 1000);
}

/**
 * Ingests the whole replay through EventStore.ingest, each agent one batch at
 * a time, agents concurrently, timed by the wall clock (the store works in its
 * own thread or processes while this one generates the next batches), then
 * until the connection rows are all written (an empty query waits for them).
 */
async function ingestAll(
  name: string,
  store: EventStore,
): Promise<{ rate: number; seconds: number; rowsRate: number; storeThreadSeconds?: number; replays: AgentReplay[] }> {
  const agents = replays();
  let inserted = 0;
  const started = performance.now();
  const threadAtStart = storeThreadSeconds();
  let lastReport = { at: started, inserted: 0 };
  const progress = setInterval(() => {
    const now = performance.now();
    const rate = ((inserted - lastReport.inserted) / (now - lastReport.at)) * 1000;
    console.log(
      `  ${name}: ${fmt(inserted)} of ${fmt(EVENTS)} events (${((inserted / EVENTS) * 100).toFixed(0)}%) after ${((now - started) / 1000).toFixed(0)} s, ` +
        `${fmt(rate)} events/s now`,
    );
    lastReport = { at: now, inserted };
  }, 10_000);
  try {
    await Promise.all(
      agents.map(async (agent) => {
        for (let batch = agent.nextBatch(BATCH); batch.length > 0; batch = agent.nextBatch(BATCH)) {
          const result = await store.ingest(agent.agentId, agent.bootId, { events: batch, gaps: [] }, `host-${agent.agentId}`);
          // A turn of the event loop for the progress timer (the store may answer without one).
          await new Promise((resolve) => setImmediate(resolve));
          if (result.inserted !== batch.length) throw new Error(`${name}: ${result.inserted} of a batch of ${batch.length} inserted`);
          inserted += result.inserted;
        }
      }),
    );
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = inserted / seconds;
  const pending = await store.rowsPending();
  await store.queryTimeline({ start: new Date(0), end: new Date(1) });
  const rowsSeconds = (performance.now() - started) / 1000;
  const threadSeconds = store.kind === 'sqlite' ? storeThreadSeconds() - threadAtStart : undefined;
  console.log(
    `${name} ingest: ${fmt(inserted)} events in ${seconds.toFixed(1)} s (wall clock, generator included): ${fmt(rate)} events/s; ` +
      `${fmt(pending)} events then waited for their connection rows, ` +
      `all written ${(rowsSeconds - seconds).toFixed(1)} s later: ${fmt(inserted / rowsSeconds)} events/s with the rows` +
      (threadSeconds === undefined ? '' : `; the store's thread used ${threadSeconds.toFixed(1)} s of CPU: ${((threadSeconds / inserted) * 1e6).toFixed(1)} µs an event`),
  );
  return { rate, seconds, rowsRate: inserted / rowsSeconds, storeThreadSeconds: threadSeconds, replays: agents };
}

/** CPU seconds of this process's worker threads (the SQLite store's thread), from /proc. */
function storeThreadSeconds(): number {
  let seconds = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'WorkerThread') continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    seconds += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return seconds;
}

// ---------------------------------------------------------------- baselines: the same rows, nothing derived

const RAW_COLUMNS = [
  'run_id', 'seq', 'time_ns', 'monotonic_ns', 'cookie', 'family', 'local_address', 'local_port', 'remote_address', 'remote_port',
  'old_state', 'new_state', 'side', 'time_in_old_state_ns', 'pid', 'comm', 'cgroup_id', 'netns', 'observed_by', 'time_uncertainty_ns',
];
const RAW_TYPES = [
  'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'smallint', 'text', 'integer', 'text', 'integer',
  'smallint', 'smallint', 'smallint', 'bigint', 'bigint', 'text', 'bigint', 'bigint', 'smallint', 'bigint',
];
const durationNs = (d: { seconds: bigint; nanos: number } | undefined) => (d ? d.seconds * 1_000_000_000n + BigInt(d.nanos) : null);

/** An event as the row of a plain events table, as the stores write it. */
function rawRow(runId: number, e: StateChange): unknown[] {
  return [
    BigInt(runId), e.seq, durationNs(e.time)!, BigInt.asIntN(64, e.monotonicNs), BigInt.asIntN(64, e.cookie), e.family, e.localAddress, e.localPort,
    e.remoteAddress, e.remotePort, e.oldState, e.newState, e.side, durationNs(e.timeInOldState), e.pid, e.comm,
    BigInt.asIntN(64, e.cgroupId), e.netns, e.observedBy, durationNs(e.timeUncertainty),
  ];
}

/** The baseline's share of the replay: the first events of each agent. */
function* baselineBatches(): Generator<{ run: number; batch: StateChange[] }> {
  const agents = replays();
  const perAgent = Math.ceil(BASELINE_EVENTS / AGENTS);
  for (let done = false; !done; ) {
    done = true;
    for (const [run, agent] of agents.entries()) {
      const batch = agent.nextBatch(Math.min(BATCH, perAgent - agent.sent));
      if (batch.length > 0) {
        done = false;
        yield { run: run + 1, batch };
      }
    }
  }
}

function sqliteBaseline(file: string): number {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.defaultSafeIntegers(true);
    db.exec(`CREATE TABLE events (${RAW_COLUMNS.map((c, i) => `${c} ${i === 6 || i === 8 || i === 15 ? 'TEXT' : 'INTEGER'}`).join(', ')},
      PRIMARY KEY (run_id, seq)) WITHOUT ROWID`);
    const insert = db.prepare(`INSERT INTO events VALUES (${RAW_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`);
    const write = db.transaction((run: number, batch: StateChange[]) => {
      for (const e of batch) insert.run(rawRow(run, e));
    });
    let n = 0;
    const started = performance.now();
    for (const { run, batch } of baselineBatches()) {
      write(run, batch);
      n += batch.length;
    }
    const rate = n / ((performance.now() - started) / 1000);
    console.log(`sqlite baseline: ${fmt(n)} events as plain rows (one prepared INSERT per row, a transaction per batch): ${fmt(rate)} events/s`);
    return rate;
  } finally {
    db.close();
  }
}

async function postgresBaseline(url: string): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(`CREATE TABLE events (${RAW_COLUMNS.map((c, i) => `${c} ${RAW_TYPES[i]}`).join(', ')}, PRIMARY KEY (run_id, seq))`);
    const unnest = RAW_COLUMNS.map((_, i) => `$${i + 1}::${RAW_TYPES[i]}[]`).join(', ');
    const text = `INSERT INTO events SELECT * FROM unnest(${unnest}) ON CONFLICT DO NOTHING`;
    let n = 0;
    const started = performance.now();
    for (const { run, batch } of baselineBatches()) {
      const rows = batch.map((e) => rawRow(run, e));
      const columns = RAW_COLUMNS.map((_, i) => `{${rows.map((r) => arrayElement(r[i])).join(',')}}`);
      await client.query(text, columns); // autocommit: one transaction per batch
      n += batch.length;
    }
    const rate = n / ((performance.now() - started) / 1000);
    console.log(`postgres baseline: ${fmt(n)} events as plain rows (one INSERT ... unnest per batch): ${fmt(rate)} events/s`);
    return rate;
  } finally {
    await client.end();
  }
}

function arrayElement(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return `"${value.replace(/["\\]/g, '\\$&')}"`;
  return String(value);
}

// ---------------------------------------------------------------- latencies

interface Latency {
  p50: number;
  p99: number;
  samples: number;
}

const random = mulberry32(5);

/** A random stored connection. */
function randomConnection(agents: AgentReplay[]): { agentId: string; bootId: string; cookie: bigint } {
  const agent = agents[Math.floor(random() * agents.length)];
  return { agentId: agent.agentId, bootId: agent.bootId, cookie: agent.cookies[Math.floor(random() * agent.cookies.length)] };
}

/** A random one-hour window inside the span ([start, end) in ns). */
function randomHour(): [bigint, bigint] {
  const room = SPAN_NS > HOUR_NS ? SPAN_NS - HOUR_NS : 0n;
  const start = plan.startNs + BigInt(Math.floor(random() * Number(room)));
  return [start, start + HOUR_NS];
}

const timestamp = (ns: bigint) => ({ $typeName: 'google.protobuf.Timestamp' as const, seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });

async function storeLatencies(store: EventStore, agents: AgentReplay[]): Promise<Record<string, Latency>> {
  const out: Record<string, Latency> = {};
  out['GetConnection + peer (store)'] = await latency('GetConnection + peer (store)', SAMPLES, async () => {
    const connection = await store.getConnection(randomConnection(agents));
    if (!connection) throw new Error('a stored connection was not found');
    await store.findPeer(connection);
  });
  let answered = 0;
  out['QueryTimeline 1 h (store)'] = await latency('QueryTimeline 1 h, first page (store)', SAMPLES, async () => {
    const [start, end] = randomHour();
    answered += (await store.queryTimeline({ start: timestamp(start), end: timestamp(end), pageSize: 100 })).connections.length;
  });
  if (answered === 0) throw new Error('QueryTimeline found no connections in any window');
  out['QueryTimeline 1 h, host filter (store)'] = await latency('QueryTimeline 1 h, host filter (store)', SAMPLES, async () => {
    const [start, end] = randomHour();
    const host = agents[Math.floor(random() * agents.length)].agentId;
    await store.queryTimeline({ start: timestamp(start), end: timestamp(end), pageSize: 100, include: [create(ConnectionFilterSchema, { host: [host] })] });
  });
  // GetStats reads every connection and every raw event of its window (the events in blocks): fewer calls.
  let transitions = 0n;
  out['GetStats 1 h (store)'] = await latency('GetStats 1 h, 1 min steps (store)', Math.min(SAMPLES, 20), async () => {
    const [start, end] = randomHour();
    transitions += (await store.stats({ start: timestamp(start), end: timestamp(end), stepMs: 60_000 })).transitions.reduce((n, t) => n + t.count, 0n);
  });
  if (transitions === 0n) throw new Error('GetStats counted no transitions in any window');
  return out;
}

/** The same calls through a collector process (no agents to ingest from) over gRPC. */
async function grpcLatencies(storeTarget: string, agents: AgentReplay[]): Promise<Record<string, Latency>> {
  const collector = await startProgram('collector', ['--store', storeTarget, '--replica-id', 'bench']);
  const client = new grpc.Client(collector.grpcAddress, grpc.credentials.createInsecure());
  const unary = <T>(method: string, request: Uint8Array, decode: (b: Buffer) => T) =>
    new Promise<T>((resolve, reject) =>
      client.makeUnaryRequest(`/tcpstate.v1.CollectorService/${method}`, (r: Uint8Array) => Buffer.from(r), decode, request, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, value) =>
        err ? reject(new Error(`${method}: ${err.message}`)) : resolve(value!),
      ),
    );
  try {
    const out: Record<string, Latency> = {};
    out['GetConnection (gRPC)'] = await latency('GetConnection (gRPC, with the peer)', GRPC_SAMPLES, async () => {
      const ref = randomConnection(agents);
      const answer = await unary('GetConnection', toBinary(GetConnectionRequestSchema, create(GetConnectionRequestSchema, { key: { case: 'ref', value: ref } })), (b) => fromBinary(GetConnectionResponseSchema, b));
      if (!answer.connection) throw new Error('GetConnection found no stored connection');
    });
    out['QueryTimeline 1 h (gRPC)'] = await latency('QueryTimeline 1 h, first page (gRPC)', GRPC_SAMPLES, async () => {
      const [start, end] = randomHour();
      const request = create(QueryTimelineRequestSchema, { start: timestamp(start), end: timestamp(end), pageSize: 100 });
      await unary('QueryTimeline', toBinary(QueryTimelineRequestSchema, request), (b) => fromBinary(QueryTimelineResponseSchema, b));
    });
    return out;
  } finally {
    client.close();
    await collector.stop();
  }
}

/** p50/p99 (nearest rank) of `runs` sequential calls, in ms; a few warm-up calls first. */
async function latency(name: string, runs: number, call: () => Promise<unknown>): Promise<Latency> {
  for (let i = 0; i < Math.min(10, runs); i++) await call();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const rank = (p: number) => times[Math.ceil((p / 100) * times.length) - 1];
  const result = { p50: rank(50), p99: rank(99), samples: runs };
  console.log(`  ${name.padEnd(42)} p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms (${runs} calls)`);
  return result;
}

// ---------------------------------------------------------------- size

async function directorySize(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir)) bytes += (await stat(join(dir, name))).size;
  return bytes;
}

function sqliteTables(file: string): [string, number][] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as { name: string; bytes: number }[];
    return rows.filter((r) => r.bytes > 65_536).map((r) => [r.name, r.bytes]);
  } finally {
    db.close();
  }
}

async function postgresSize(url: string): Promise<{ bytes: number; tables: [string, number][] }> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query('CHECKPOINT');
    const total = await client.query('SELECT pg_database_size(current_database())::text AS bytes');
    // A table's size with its TOAST (large values: the event blocks live there), without its indexes, listed apart.
    const rows = await client.query(`SELECT name, bytes::text AS bytes FROM (
        SELECT c.relname AS name, CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END AS bytes
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')) s
      ORDER BY s.bytes DESC`);
    return {
      bytes: Number(total.rows[0].bytes),
      tables: (rows.rows as { name: string; bytes: string }[]).filter((r) => Number(r.bytes) > 65_536).map((r) => [r.name, Number(r.bytes)]),
    };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- report

function summary(): void {
  console.log(`\nsummary (${fmt(EVENTS)} events, ${AGENTS} agents, ${values.hours} h, batches of ${BATCH}):`);
  for (const r of results) {
    console.log(`${r.name}:`);
    console.log(
      `  ingest ${fmt(r.ingestRate)} events/s (${r.ingestSeconds.toFixed(0)} s): ` +
        (r.baselineRate > 0 ? `${pct(r.ingestRate / r.baselineRate)} of the plain-row baseline (${fmt(r.baselineRate)} events/s), ` : 'no plain-row baseline (--baseline-events 0), ') +
        `${(r.ingestRate / AGENT_MAX_EVENTS_PER_SECOND).toFixed(2)}x the agent's maximum capture rate (${fmt(AGENT_MAX_EVENTS_PER_SECOND)} events/s)`,
    );
    console.log(`  with the connection rows written: ${fmt(r.rowsRate)} events/s, ${(r.rowsRate / AGENT_MAX_EVENTS_PER_SECOND).toFixed(2)}x the agent's maximum`);
    if (r.storeThreadSeconds !== undefined) {
      const perThread = EVENTS / r.storeThreadSeconds;
      console.log(
        `  the store's thread: ${((r.storeThreadSeconds / EVENTS) * 1e6).toFixed(1)} µs of CPU an event, rows included: one thread with a core to itself takes ` +
          `${fmt(perThread)} events/s, ${(perThread / AGENT_MAX_EVENTS_PER_SECOND).toFixed(2)}x the agent's maximum`,
      );
    }
    for (const [name, l] of Object.entries(r.latencies)) console.log(`  ${name.padEnd(40)} p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms`);
    console.log(`  size ${(r.bytes / 1e6).toFixed(0)} MB: ${((r.bytes / EVENTS) * 1e6 / 1e6).toFixed(0)} MB per million events`);
    console.log(`  by table/index (MB): ${r.tables.map(([name, bytes]) => `${name} ${(bytes / 1e6).toFixed(0)}`).join(', ')}`);
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}

/** A small seeded generator: the same samples on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- main

// The run, here at the end where every declaration above exists.
const recording: Recording = await loadRecording(values.fixture);
const plan: ReplayPlan = {
  agents: AGENTS,
  events: EVENTS,
  spanNs: SPAN_NS,
  // The span ends with the newest copy's tail (the recording's length) just before now.
  startNs: BigInt(Date.now()) * 1_000_000n - SPAN_NS - recording.spanNs - 60_000_000_000n,
};
console.log(`store benchmark: ${machineDescription()}`);
console.log(
  `replay of ${recording.events.length} recorded events (${recording.connections} connections, ${(Number(recording.spanNs) / 1e9).toFixed(1)} s) ` +
    `as ${fmt(EVENTS)} events from ${AGENTS} agents over ${values.hours} h, batches of ${BATCH}`,
);
const generatorRate = measureGenerator();
console.log(`generator alone: ${fmt(generatorRate)} events/s (it runs beside the stores' own threads and processes: the ingest rates cannot exceed it)`);

for (const backend of values.backends.split(',')) {
  if (backend === 'sqlite') results.push(await runSqlite());
  else if (backend === 'postgres') results.push(await runPostgres());
  else throw new Error(`unknown back-end "${backend}" (sqlite or postgres)`);
}
summary();
