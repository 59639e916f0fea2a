// Schema version 3 on a database written by versions 1-2: segments move from
// their table into the connection rows, the events index by connection goes,
// and ingest carries on from the migrated rows, a rebuild included.
// Schema version 5 on a database written by version 4: the event rows become
// event blocks, and stats, ingest (dedup and rebuild) and retention work from them.
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { AddressFamily, Observation, Side, type StateChange, StateChangeSchema, TcpState } from '@tcpstate/proto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { applyEvents, type Segment } from './connection-builder.js';
import { openStore } from './open-store.js';
import { CONNECTION_COLUMN_NAMES, connectionValues, deriveConnection } from './ingest-plan.js';
import { storedEventOf } from './row-mapping.js';
import { conversionProgress, type Migration, postgresMigrations, sqliteMigrations } from './schema.js';
import { SQLITE_FILE } from './sqlite-store.js';
import { decodeEventBlock } from './event-block.js';
import { pgRows, sqliteRows, testDatabases } from './test-support/databases.js';
import { toNs } from './time.js';

const T0 = 1_700_000_000_000;
const { CLOSE, SYN_SENT, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, TIME_WAIT } = TcpState;

function event(seq: number, ms: number, oldState: TcpState, newState: TcpState, timeInOldMs?: number, cookie = 7n): StateChange {
  return create(StateChangeSchema, {
    agentId: 'agent-a',
    bootId: 'boot-a',
    seq: BigInt(seq),
    time: timestampFromMs(T0 + ms),
    monotonicNs: BigInt(ms) * 1_000_000n,
    cookie,
    family: AddressFamily.INET,
    localAddress: '10.0.0.1',
    localPort: 40000,
    remoteAddress: '10.0.0.2',
    remotePort: 80,
    oldState,
    newState,
    side: Side.CLIENT,
    timeInOldState: timeInOldMs === undefined ? undefined : durationFromMs(timeInOldMs),
    pid: 4242,
    comm: 'curl',
    netns: 4026531840,
    observedBy: Observation.TRACEPOINT,
  });
}

// A client connection; seq 3 (ESTABLISHED -> FIN_WAIT1) arrives late, after the migration.
const EVENTS = [
  event(1, 1000, CLOSE, SYN_SENT),
  event(2, 1001, SYN_SENT, ESTABLISHED, 1),
  event(3, 1500, ESTABLISHED, FIN_WAIT1, 499),
  event(4, 1501, FIN_WAIT1, FIN_WAIT2, 1),
  event(5, 1502, FIN_WAIT2, TIME_WAIT, 1),
];
const STORED_BEFORE = [EVENTS[0], EVENTS[1], EVENTS[3]];

/** Segments as the tests compare them: [state, start ms, end ms or null, approximate]. */
const plain = (segments: readonly Segment[]) =>
  segments.map((s) => [s.state, Number(s.startNs / 1_000_000n) - T0, s.endNs === null ? null : Number(s.endNs / 1_000_000n) - T0, s.approximate]);
const plainTimeline = (segments: { state: number; start?: { seconds: bigint; nanos: number }; end?: { seconds: bigint; nanos: number }; approximate: boolean }[]) =>
  segments.map((s) => [s.state, Number(toNs(s.start!) / 1_000_000n) - T0, s.end ? Number(toNs(s.end) / 1_000_000n) - T0 : null, s.approximate]);

/** What versions 1-2 stored for STORED_BEFORE, as SQL: the run, the events, the connection row and its segment rows. */
function versionTwoRows(bool: (b: boolean) => string): string[] {
  const applied = applyEvents(undefined, undefined, STORED_BEFORE.map(storedEventOf));
  const s = applied.state;
  const n = (v: bigint | number | null) => (v === null ? 'NULL' : String(v));
  return [
    `INSERT INTO runs (agent_id, boot_id, last_seq, first_time_ns, last_time_ns) VALUES ('agent-a', 'boot-a', 4, ${s.firstSeenNs}, ${s.lastSeenNs})`,
    ...STORED_BEFORE.map((e) => {
      const d = storedEventOf(e);
      return `INSERT INTO events VALUES (1, ${e.seq}, ${d.timeNs}, ${e.monotonicNs}, 7, 2, '10.0.0.1', 40000, '10.0.0.2', 80,
        ${e.oldState}, ${e.newState}, ${e.side}, ${n(d.timeInOldStateNs)}, 4242, 'curl', 0, 4026531840, 1, NULL)`;
    }),
    `INSERT INTO connections (run_id, cookie, family, local_address, local_port, remote_address, remote_port, local_key, remote_key,
      side, pid, comm, netns, first_seen_ns, last_seen_ns, open, time_wait_observed_by, entered_states, left_states, last_seq, segment_count)
      VALUES (1, 7, 2, '10.0.0.1', 40000, '10.0.0.2', 80, NULL, NULL, ${s.side}, 4242, 'curl', 4026531840, ${s.firstSeenNs}, ${s.lastSeenNs},
      ${bool(s.open)}, 0, ${s.enteredStates}, ${s.leftStates}, ${s.lastSeq}, ${s.segmentCount})`,
    ...applied.segments.map(
      (g) => `INSERT INTO segments VALUES (1, 7, ${g.idx}, ${g.state}, ${g.startNs}, ${n(g.endNs)}, ${g.startObservedBy}, ${g.endObservedBy}, ${bool(g.approximate)})`,
    ),
  ];
}

// Version 4 holds seqs 1-7: cookie 7's connection, closed by seq 6 45 s later,
// and seq 7 (cookie 8) 39.99 s in. Seq 8 comes after the migration.
const V4_EVENTS = [...EVENTS, event(6, 45_000, TIME_WAIT, CLOSE), event(7, 39_990, CLOSE, SYN_SENT, undefined, 8n)];
const LATER = event(8, 39_995, SYN_SENT, ESTABLISHED, 5, 8n);

/** What versions 3-4 stored for V4_EVENTS, as SQL: the run, the events, and the connection rows with their segments BLOBs. */
function versionFourRows(literal: (value: unknown) => string): string[] {
  const derived = [7n, 8n].map((cookie) => deriveConnection(undefined, V4_EVENTS.filter((e) => e.cookie === cookie).map(storedEventOf)));
  return [
    `INSERT INTO runs (agent_id, boot_id, last_seq, first_time_ns, last_time_ns) VALUES ('agent-a', 'boot-a', 7, ${toNs(timestampFromMs(T0 + 1000))}, ${toNs(timestampFromMs(T0 + 45_000))})`,
    ...V4_EVENTS.map((e) => {
      const d = storedEventOf(e);
      return `INSERT INTO events VALUES (1, ${e.seq}, ${d.timeNs}, ${e.monotonicNs}, ${d.cookie}, 2, '10.0.0.1', 40000, '10.0.0.2', 80,
        ${e.oldState}, ${e.newState}, ${e.side}, ${literal(d.timeInOldStateNs)}, 4242, 'curl', 0, 4026531840, 1, NULL)`;
    }),
    ...derived.map((d) => `INSERT INTO connections (${CONNECTION_COLUMN_NAMES.join(', ')}) VALUES (${connectionValues(1n, d, (b) => b).map(literal).join(', ')})`),
  ];
}

/** Creates the tables of the migrations up to `version` on an empty database (no data step has data to convert). */
function schemaUpTo(migrations: readonly Migration[], version: number): string[] {
  return migrations
    .filter((m) => m.version <= version)
    .flatMap((m) => [m.sql, ...(m.finish ? [m.finish] : []), `INSERT INTO schema_migrations VALUES (${m.version}, '${m.name}', 0)`]);
}

interface Backend {
  name: string;
  /** A database at schema version 2 holding versionTwoRows; returns the store target. */
  versionTwo(): Promise<string>;
  /** A database at schema version 4 holding versionFourRows; returns the store target. */
  versionFour(): Promise<string>;
  query(target: string, text: string): Promise<Record<string, unknown>[]>;
}

const databases = testDatabases('tcpstate-migration-');

const sqlite: Backend = {
  name: 'sqlite',
  async versionTwo() {
    const dir = await databases.tempDir();
    const db = new Database(join(dir, SQLITE_FILE));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)');
    for (const m of sqliteMigrations.filter((m) => m.version <= 2)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    }
    for (const text of versionTwoRows((b) => (b ? '1' : '0'))) db.exec(text);
    db.close();
    return dir;
  },
  async versionFour() {
    const dir = await databases.tempDir();
    const db = new Database(join(dir, SQLITE_FILE));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)');
    for (const text of schemaUpTo(sqliteMigrations, 4)) db.exec(text);
    const literal = (v: unknown) =>
      v === null ? 'NULL' : typeof v === 'boolean' ? (v ? '1' : '0') : Buffer.isBuffer(v) ? `X'${v.toString('hex')}'` : typeof v === 'string' ? `'${v}'` : String(v);
    for (const text of versionFourRows(literal)) db.exec(text);
    db.close();
    return dir;
  },
  query: async (target, text) => sqliteRows(target, text),
};

const postgresBackend: Backend = {
  name: 'postgres',
  async versionTwo() {
    const url = await databases.postgres().createDatabase('migration_v2');
    const client = new pg.Client(url);
    await client.connect();
    try {
      await client.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_ns bigint NOT NULL)');
      for (const m of postgresMigrations.filter((m) => m.version <= 2)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
      }
      for (const text of versionTwoRows((b) => (b ? 'true' : 'false'))) await client.query(text);
    } finally {
      await client.end();
    }
    return url;
  },
  async versionFour() {
    const url = await databases.postgres().createDatabase('migration_v4');
    const client = new pg.Client(url);
    await client.connect();
    try {
      await client.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_ns bigint NOT NULL)');
      for (const text of schemaUpTo(postgresMigrations, 4)) await client.query(text);
      const literal = (v: unknown) =>
        v === null ? 'NULL' : typeof v === 'boolean' ? String(v) : Buffer.isBuffer(v) ? `'\\x${v.toString('hex')}'` : typeof v === 'string' ? `'${v}'` : String(v);
      for (const text of versionFourRows(literal)) await client.query(text);
    } finally {
      await client.end();
    }
    return url;
  },
  query: pgRows,
};

describe.each([sqlite, postgresBackend])('schema version 3 on $name', (backend) => {
  it('moves stored segments into their rows, and ingest carries on from them', async () => {
    const target = await backend.versionTwo();
    const before = applyEvents(undefined, undefined, STORED_BEFORE.map(storedEventOf)).segments;
    const store = await openStore(target);
    try {
      const ref = { agentId: 'agent-a', bootId: 'boot-a', cookie: 7n };
      expect(plainTimeline((await store.getConnection(ref))!.segments)).toEqual(plain(before));
      // seq 3 arrives late: the row is rebuilt from the stored events (a migrated row has no first_seq: the run from its start).
      expect(await store.ingest('agent-a', 'boot-a', { events: [EVENTS[2], EVENTS[4]], gaps: [] })).toEqual({ inserted: 2, duplicates: 0, gapsInserted: 0 });
      const all = applyEvents(undefined, undefined, EVENTS.map(storedEventOf)).segments;
      expect(plain(all).map(([state]) => state)).toEqual([SYN_SENT, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, TIME_WAIT]);
      expect(plainTimeline((await store.getConnection(ref))!.segments)).toEqual(plain(all));
      expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 5n });
    } finally {
      await store.close();
    }
    expect((await backend.query(target, 'SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version))).toEqual([1, 2, 3, 4, 5, 6]);
    const tables = backend.name === 'sqlite'
      ? "SELECT name FROM sqlite_schema WHERE name IN ('segments', 'events_connection')"
      : "SELECT relname AS name FROM pg_class WHERE relname IN ('segments', 'events_connection')";
    expect(await backend.query(target, tables)).toEqual([]);
  });
});

describe.each([sqlite, postgresBackend])('schema version 5 on $name', (backend) => {
  it('turns the event rows into blocks: stats, ingest and retention carry on from version 4', async () => {
    const target = await backend.versionFour();
    const window = (fromMs: number, toMs: number) => ({ start: timestampFromMs(T0 + fromMs), end: timestampFromMs(T0 + toMs) });
    const transitions = async (fromMs: number, toMs: number) =>
      (await store.stats({ ...window(fromMs, toMs), stepMs: 1000 })).transitions.map((t) => [t.oldState, t.newState, Number(t.count)]);
    const blocks = async () =>
      (await backend.query(target, 'SELECT run_id, first_seq, last_seq, count, events FROM event_blocks ORDER BY run_id, first_seq')).map((r) =>
        [Number(r.run_id), Number(r.first_seq), Number(r.last_seq), Number(r.count), decodeEventBlock(r.events as Uint8Array).map((e) => Number(e.seq))]);
    const said: string[] = [];
    const store = await openStore(target, { onProgress: (message) => said.push(message) });
    expect(said).toHaveLength(4);
    expect(said[2]).toMatch(/^the store at .+ moves to schema version 6 \(connection rows derived after ingest\)/);
    expect(said[0]).toMatch(/^the store at .+ moves to schema version 5 \(events as one block per ingested batch.*\); a large store takes a while/);
    expect(said[1]).toMatch(/^schema version 5 applied in \d+\.\d s$/);
    try {
      // Every field of every event survives the move; a block's events lie within a second of each other.
      const migrated = await backend.query(target, 'SELECT events FROM event_blocks ORDER BY first_seq');
      expect(migrated.flatMap((r) => decodeEventBlock(r.events as Uint8Array))).toEqual(V4_EVENTS.map(storedEventOf));
      expect(await blocks()).toEqual([[1, 1, 5, 5, [1, 2, 3, 4, 5]], [1, 6, 6, 1, [6]], [1, 7, 7, 1, [7]]]);
      expect(await transitions(0, 100_000)).toEqual([
        [ESTABLISHED, FIN_WAIT1, 1], [SYN_SENT, ESTABLISHED, 1], [FIN_WAIT1, FIN_WAIT2, 1], [FIN_WAIT2, TIME_WAIT, 1],
        [TIME_WAIT, CLOSE, 1], [CLOSE, SYN_SENT, 2],
      ]);
      expect(await transitions(40_000, 100_000)).toEqual([[TIME_WAIT, CLOSE, 1]]);
      expect(await transitions(1500, 40_000)).toEqual([[ESTABLISHED, FIN_WAIT1, 1], [FIN_WAIT1, FIN_WAIT2, 1], [FIN_WAIT2, TIME_WAIT, 1], [CLOSE, SYN_SENT, 1]]);

      // A replayed seq is not stored again; the new one is a block of its own.
      expect(await store.ingest('agent-a', 'boot-a', { events: [V4_EVENTS[6], LATER], gaps: [] })).toEqual({ inserted: 1, duplicates: 1, gapsInserted: 0 });
      expect((await blocks()).at(-1)).toEqual([1, 8, 8, 1, [8]]);
      expect(await transitions(39_990, 40_000)).toEqual([[SYN_SENT, ESTABLISHED, 1], [CLOSE, SYN_SENT, 1]]);
      expect(plainTimeline((await store.getConnection({ agentId: 'agent-a', bootId: 'boot-a', cookie: 8n }))!.segments)).toEqual([
        [SYN_SENT, 39_990, 39_995, false], [ESTABLISHED, 39_995, null, false],
      ]);
      expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 8n });

      // Retention at 40 s removes the events before it (seqs 1-5, 7, 8) and keeps seq 6 (45 s) and its open-until-then connection.
      expect(await store.deleteOlderThan(timestampFromMs(T0 + 40_000))).toEqual({ events: 7, connections: 0, segments: 0, gaps: 0 });
      expect(await blocks()).toEqual([[1, 6, 6, 1, [6]]]);
      expect(await transitions(0, 100_000)).toEqual([[TIME_WAIT, CLOSE, 1]]);
      // At 46 s seq 6 goes, and the closed connection with it; cookie 8's, still open, stays.
      expect(await store.deleteOlderThan(timestampFromMs(T0 + 46_000))).toEqual({ events: 1, connections: 1, segments: 5, gaps: 0 });
      expect(await blocks()).toEqual([]);
      expect(await transitions(0, 100_000)).toEqual([]);
    } finally {
      await store.close();
    }
    expect((await backend.query(target, 'SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version))).toEqual([1, 2, 3, 4, 5, 6]);
    const gone = backend.name === 'sqlite'
      ? "SELECT name FROM sqlite_schema WHERE name IN ('events', 'event_minutes')"
      : "SELECT relname AS name FROM pg_class WHERE relname IN ('events', 'event_minutes')";
    expect(await backend.query(target, gone)).toEqual([]);
  });
});

describe('a data step\'s progress', () => {
  it('is told about every tenth of the way, between a hundred thousand and a million rows apart, and not at the end', () => {
    const said: string[] = [];
    const report = conversionProgress(2_500_000, (m) => said.push(m));
    for (let done = 0; done < 2_500_000; done += 1000) report(1000);
    expect(said).toHaveLength(9);
    expect(said[0]).toBe('250,000 of 2,500,000 events converted');
    expect(said[8]).toBe('2,250,000 of 2,500,000 events converted');
    const small: string[] = [];
    const few = conversionProgress(50_000, (m) => small.push(m));
    for (let done = 0; done < 50_000; done += 1000) few(1000);
    expect(small).toEqual([]);
  });
});

describe.each(['sqlite', 'postgres'])('opening a new %s store', (name) => {
  it('says in one line that it created the store', async () => {
    const target = name === 'sqlite' ? await databases.tempDir() : await databases.postgres().createDatabase('fresh_store');
    const said: string[] = [];
    await (await openStore(target, { onProgress: (message) => said.push(message) })).close();
    expect(said).toEqual([expect.stringMatching(/^created a new store at .+ \(schema version 6\)$/)]);
    // Opened again: nothing to say.
    said.length = 0;
    await (await openStore(target, { onProgress: (message) => said.push(message) })).close();
    expect(said).toEqual([]);
  });
});
