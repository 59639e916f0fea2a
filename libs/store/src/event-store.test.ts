// One suite, run against both back-ends on real databases: SQLite in a
// temporary directory, PostgreSQL started for the suite (test/support).
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import {
  AddressFamily,
  CaptureStrategySchema,
  ConnectionFilterSchema,
  type ConnectionTimeline,
  type Gap,
  GapReason,
  GapSchema,
  Observation,
  Side,
  type StateChange,
  StateChangeSchema,
  TcpState,
} from '@tcpstate/proto';
import { afterEach, describe, expect, it } from 'vitest';
// The PostgreSQL helper is shared with the end-to-end tests (test/support is no library to import by name).
import { InvalidQueryError, SchemaVersionError, StoreUnavailableError } from './errors.js';
import type { EventStore, StoreOpenOptions } from './event-store.js';
import { openStore } from './open-store.js';
import { pgRows, sqliteRows, testDatabases } from './test-support/databases.js';

/** Base of every time in the suite (ms since the epoch). */
const T0 = 1_700_000_000_000;
const at = (ms: number) => timestampFromMs(T0 + ms);
const WHOLE = { start: at(0), end: at(1_000_000) };

const { ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN } = TcpState;
const { TRACEPOINT, HANDOVER, SWEEP } = Observation;

interface EventSpec {
  seq: number;
  ms: number;
  old: TcpState;
  new: TcpState;
  cookie?: number;
  observedBy?: Observation;
  local?: [string, number];
  remote?: [string, number];
  side?: Side;
  pid?: number;
  comm?: string;
  timeInOldMs?: number;
}

/** An event of `agent`/`boot` with endpoints and process taken from `base` unless the spec says otherwise. */
function event(agent: string, boot: string, base: Partial<EventSpec>, spec: EventSpec): StateChange {
  const s = { ...base, ...spec };
  const local = s.local ?? ['10.0.0.1', 40000];
  const remote = s.remote ?? ['10.0.0.2', 80];
  return create(StateChangeSchema, {
    agentId: agent,
    bootId: boot,
    seq: BigInt(s.seq),
    time: at(s.ms),
    monotonicNs: BigInt(s.ms) * 1_000_000n,
    cookie: BigInt(s.cookie ?? 1),
    family: local[0].includes(':') ? AddressFamily.INET6 : AddressFamily.INET,
    localAddress: local[0],
    localPort: local[1],
    remoteAddress: remote[0],
    remotePort: remote[1],
    oldState: s.old,
    newState: s.new,
    side: s.side ?? Side.UNSPECIFIED,
    timeInOldState: s.timeInOldMs === undefined ? undefined : durationFromMs(s.timeInOldMs),
    pid: s.pid ?? 0,
    comm: s.comm ?? '',
    netns: 4026531840,
    observedBy: s.observedBy ?? TRACEPOINT,
    timeUncertainty: s.observedBy === SWEEP ? durationFromMs(1000) : undefined,
  });
}

/** curl on host A (10.0.0.1) closes first: its socket goes through TIME_WAIT, ended by a sweep. */
function clientClosesFirst(agent = 'agent-a', boot = 'boot-a', cookie = 11, firstSeq = 1): StateChange[] {
  const base = { cookie, side: Side.CLIENT };
  const n = (i: number) => firstSeq + i;
  return [
    // connect(): the kernel has not picked the local port yet.
    event(agent, boot, base, { seq: n(0), ms: 1000, old: CLOSE, new: SYN_SENT, local: ['10.0.0.1', 0], pid: 4242, comm: 'curl' }),
    event(agent, boot, base, { seq: n(1), ms: 1001, old: SYN_SENT, new: ESTABLISHED, timeInOldMs: 1 }),
    event(agent, boot, base, { seq: n(2), ms: 1500, old: ESTABLISHED, new: FIN_WAIT1, pid: 4242, comm: 'curl', timeInOldMs: 499 }),
    event(agent, boot, base, { seq: n(3), ms: 1501, old: FIN_WAIT1, new: FIN_WAIT2, timeInOldMs: 1 }),
    event(agent, boot, base, { seq: n(4), ms: 1502, old: FIN_WAIT2, new: TIME_WAIT, observedBy: HANDOVER, timeInOldMs: 1 }),
    event(agent, boot, base, { seq: n(5), ms: 62000, old: TIME_WAIT, new: CLOSE, observedBy: SWEEP }),
  ];
}

/** nginx on host B (10.0.0.2, a dual-stack socket: the peer shows IPv4-mapped) answers, sees the FIN, closes. */
function serverSide(agent = 'agent-b', boot = 'boot-b', cookie = 21): StateChange[] {
  const base = { cookie, side: Side.SERVER, local: ['::ffff:10.0.0.2', 80] as [string, number], remote: ['::ffff:10.0.0.1', 40000] as [string, number], pid: 777, comm: 'nginx' };
  return [
    event(agent, boot, base, { seq: 1, ms: 1000, old: LISTEN, new: SYN_RECV }),
    event(agent, boot, base, { seq: 2, ms: 1001, old: SYN_RECV, new: ESTABLISHED, timeInOldMs: 1 }),
    event(agent, boot, base, { seq: 3, ms: 1500, old: ESTABLISHED, new: CLOSE_WAIT, timeInOldMs: 499 }),
    event(agent, boot, base, { seq: 4, ms: 1700, old: CLOSE_WAIT, new: LAST_ACK, timeInOldMs: 200 }),
    event(agent, boot, base, { seq: 5, ms: 1701, old: LAST_ACK, new: CLOSE, timeInOldMs: 1 }),
  ];
}

/** A second client connection from A, still in TIME_WAIT. */
function clientInTimeWait(): StateChange[] {
  const base = { cookie: 12, side: Side.CLIENT, local: ['10.0.0.1', 40001] as [string, number] };
  const a = (spec: EventSpec) => event('agent-a', 'boot-a', base, spec);
  return [
    a({ seq: 7, ms: 2000, old: CLOSE, new: SYN_SENT, local: ['10.0.0.1', 0], pid: 4243, comm: 'curl' }),
    a({ seq: 8, ms: 2003, old: SYN_SENT, new: ESTABLISHED }),
    a({ seq: 9, ms: 3000, old: ESTABLISHED, new: FIN_WAIT1 }),
    a({ seq: 10, ms: 3001, old: FIN_WAIT1, new: FIN_WAIT2 }),
    a({ seq: 11, ms: 3004, old: FIN_WAIT2, new: TIME_WAIT, observedBy: HANDOVER }),
  ];
}

function gap(agent: string, boot: string, reason: GapReason, count: number, firstSeq: number, lastSeq: number, ms: number): Gap {
  return create(GapSchema, { agentId: agent, bootId: boot, reason, count: BigInt(count), firstSeq: BigInt(firstSeq), lastSeq: BigInt(lastSeq), time: at(ms), message: `lost ${count}` });
}

type FilterInit = Parameters<typeof create<typeof ConnectionFilterSchema>>[1];
const filter = (init: FilterInit) => create(ConnectionFilterSchema, init);

/** A segment as the tests compare it: times in ms after T0. */
function segmentsOf(c: ConnectionTimeline | undefined) {
  return (c?.segments ?? []).map((s) => ({
    state: s.state,
    start: Number(s.start!.seconds) * 1000 + s.start!.nanos / 1e6 - T0,
    end: s.end ? Number(s.end.seconds) * 1000 + s.end.nanos / 1e6 - T0 : null,
    from: s.startObservedBy,
    to: s.endObservedBy,
    approximate: s.approximate,
  }));
}

const ms = (t: { seconds: bigint; nanos: number } | undefined) => (t ? Number(t.seconds) * 1000 + t.nanos / 1e6 - T0 : undefined);

const CLIENT_SEGMENTS = [
  { state: SYN_SENT, start: 1000, end: 1001, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
  { state: ESTABLISHED, start: 1001, end: 1500, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
  { state: FIN_WAIT1, start: 1500, end: 1501, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
  { state: FIN_WAIT2, start: 1501, end: 1502, from: TRACEPOINT, to: HANDOVER, approximate: false },
  { state: TIME_WAIT, start: 1502, end: 62000, from: HANDOVER, to: SWEEP, approximate: true },
];

/** Opens stores of one back-end on fresh databases, and reaches under the store for what the API does not show. */
interface Backend {
  name: 'sqlite' | 'sqlite in its own thread' | 'postgres';
  /** How the suite opens its stores. */
  options?: StoreOpenOptions;
  /** A new empty database's target (directory or URL). */
  newTarget(): Promise<string>;
  /** Runs SQL directly on a target's database. */
  exec(target: string, text: string): Promise<Record<string, unknown>[]>;
}

const databases = testDatabases('tcpstate-store-');
let databaseCount = 0;

const sqliteBackend: Backend = {
  name: 'sqlite',
  async newTarget() {
    return join(await databases.tempDir(), 'data'); // not created yet: the store creates it
  },
  exec: async (target, text) => sqliteRows(target, text),
};

// The collector's way: the same SQLite store behind a worker thread (SqliteThreadStore, the built worker script).
const sqliteThreadBackend: Backend = { ...sqliteBackend, name: 'sqlite in its own thread', options: { ownThread: true } };

const postgresBackend: Backend = {
  name: 'postgres',
  newTarget: () => databases.postgres().createDatabase(`store_test_${++databaseCount}`),
  exec: pgRows,
};

describe.each([sqliteBackend, sqliteThreadBackend, postgresBackend])('EventStore on $name', (backend) => {
  const opened: EventStore[] = [];
  const open = async (target?: string) => {
    const store = await openStore(target ?? (await backend.newTarget()), backend.options);
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  /** Every stored event counted through the API: transitions over all time. */
  const storedEvents = async (store: EventStore) =>
    (await store.stats({ ...WHOLE, stepMs: 100_000 })).transitions.reduce((n, t) => n + Number(t.count), 0);

  it('stores each seq once when the same batch comes twice', async () => {
    const store = await open();
    const batch = { events: clientClosesFirst(), gaps: [] };
    expect(await store.ingest('agent-a', 'boot-a', batch)).toEqual({ inserted: 6, duplicates: 0, gapsInserted: 0 });
    expect(await store.ingest('agent-a', 'boot-a', batch)).toEqual({ inserted: 0, duplicates: 6, gapsInserted: 0 });
    expect(await storedEvents(store)).toBe(6);
    const [connection] = (await store.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(connection)).toEqual(CLIENT_SEGMENTS);
  });

  it('stores each seq once from overlapping batches and a batch repeating an event', async () => {
    const store = await open();
    const events = clientClosesFirst();
    expect(await store.ingest('agent-a', 'boot-a', { events: events.slice(0, 4), gaps: [] })).toMatchObject({ inserted: 4, duplicates: 0 });
    expect(await store.ingest('agent-a', 'boot-a', { events: events.slice(2), gaps: [] })).toMatchObject({ inserted: 2, duplicates: 2 });
    expect(await store.ingest('agent-a', 'boot-a', { events: [events[5], events[5]], gaps: [] })).toMatchObject({ inserted: 0, duplicates: 2 });
    expect(await storedEvents(store)).toBe(6);
    const [connection] = (await store.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(connection)).toEqual(CLIENT_SEGMENTS);
  });

  it('derives the client-closes-first row exactly', async () => {
    const store = await open();
    await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] }, 'host-a');
    const c = await store.getConnection({ agentId: 'agent-a', bootId: 'boot-a', cookie: 11n });
    expect(c).toBeDefined();
    expect({
      ref: { agentId: c!.ref!.agentId, bootId: c!.ref!.bootId, cookie: c!.ref!.cookie },
      hostname: c!.hostname,
      family: c!.family,
      local: [c!.localAddress, c!.localPort],
      remote: [c!.remoteAddress, c!.remotePort],
      side: c!.side,
      pid: c!.pid,
      comm: c!.comm,
      netns: c!.netns,
      firstSeen: ms(c!.firstSeen),
      lastSeen: ms(c!.lastSeen),
      timeWaitObservedBy: c!.timeWaitObservedBy,
      open: c!.open,
    }).toEqual({
      ref: { agentId: 'agent-a', bootId: 'boot-a', cookie: 11n },
      hostname: 'host-a',
      family: AddressFamily.INET,
      local: ['10.0.0.1', 40000],
      remote: ['10.0.0.2', 80],
      side: Side.CLIENT,
      pid: 4242,
      comm: 'curl',
      netns: 4026531840,
      firstSeen: 1000,
      lastSeen: 62000,
      timeWaitObservedBy: HANDOVER,
      open: false,
    });
    expect(segmentsOf(c)).toEqual(CLIENT_SEGMENTS);
    expect(c!.segments.map((s) => Number(s.duration!.seconds) * 1000 + s.duration!.nanos / 1e6)).toEqual([1, 499, 1, 1, 60498]);
  });

  it('derives the server side exactly', async () => {
    const store = await open();
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [] }, 'host-b');
    const [c] = (await store.queryTimeline(WHOLE)).connections;
    expect([c.localAddress, c.localPort, c.remoteAddress, c.remotePort, c.side, c.pid, c.comm, c.open, c.timeWaitObservedBy]).toEqual([
      '::ffff:10.0.0.2', 80, '::ffff:10.0.0.1', 40000, Side.SERVER, 777, 'nginx', false, Observation.UNSPECIFIED,
    ]);
    expect(segmentsOf(c)).toEqual([
      { state: SYN_RECV, start: 1000, end: 1001, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
      { state: ESTABLISHED, start: 1001, end: 1500, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
      { state: CLOSE_WAIT, start: 1500, end: 1700, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
      { state: LAST_ACK, start: 1700, end: 1701, from: TRACEPOINT, to: TRACEPOINT, approximate: false },
    ]);
  });

  it('derives the same row when a connection is split across batches', async () => {
    const store = await open();
    const events = clientClosesFirst();
    for (const part of [events.slice(0, 1), events.slice(1, 3), events.slice(3, 5), events.slice(5)]) {
      await store.ingest('agent-a', 'boot-a', { events: part, gaps: [] });
    }
    const [c] = (await store.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(c)).toEqual(CLIENT_SEGMENTS);
    expect([c.localPort, c.pid, c.open]).toEqual([40000, 4242, false]);
  });

  it('rebuilds the row when a connection\'s events arrive out of seq order (two replicas overlapping)', async () => {
    const store = await open();
    const events = clientClosesFirst();
    await store.ingest('agent-a', 'boot-a', { events: [events[0], events[1], events[4], events[5]], gaps: [] });
    await store.ingest('agent-a', 'boot-a', { events: [events[2], events[3]], gaps: [] });
    const [c] = (await store.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(c)).toEqual(CLIENT_SEGMENTS);
  });

  it('rebuilds two interleaved connections from one late batch, each from its own events only', async () => {
    const late = await open();
    // a's seqs become 1, 3, ..., 11 and b's 2, 4, ..., 10; each one's ESTABLISHED -> FIN_WAIT1 (5 and 6) arrives last.
    const a = clientClosesFirst().map((e) => ({ ...e, seq: e.seq * 2n - 1n }) as StateChange);
    const b = clientInTimeWait().map((e) => ({ ...e, seq: (e.seq - 6n) * 2n }) as StateChange);
    const all = [...a, ...b].sort((x, y) => Number(x.seq - y.seq));
    const first = all.filter((e) => e.seq !== 5n && e.seq !== 6n);
    await late.ingest('agent-a', 'boot-a', { events: first, gaps: [] });
    expect(await late.ingest('agent-a', 'boot-a', { events: all.filter((e) => !first.includes(e)), gaps: [] })).toMatchObject({ inserted: 2 });
    const inOrder = await open();
    await inOrder.ingest('agent-a', 'boot-a', { events: all, gaps: [] });
    const timelines = async (store: EventStore) => (await store.queryTimeline(WHOLE)).connections.map((t) => [Number(t.ref!.cookie), segmentsOf(t)]);
    expect(await timelines(late)).toEqual(await timelines(inOrder));
    expect((await timelines(late)).map(([cookie]) => cookie)).toEqual([11, 12]);
  });

  it('marks the segment before a lost transition approximate', async () => {
    const store = await open();
    const events = clientClosesFirst();
    // FIN_WAIT1 and FIN_WAIT2 were lost: ESTABLISHED ends where FIN_WAIT2 began (the kernel's time in state says when).
    await store.ingest('agent-a', 'boot-a', { events: [events[0], events[1], events[4]], gaps: [] });
    const [c] = (await store.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(c)).toEqual([
      CLIENT_SEGMENTS[0],
      { state: ESTABLISHED, start: 1001, end: 1501, from: TRACEPOINT, to: HANDOVER, approximate: true },
      { state: FIN_WAIT2, start: 1501, end: 1502, from: HANDOVER, to: HANDOVER, approximate: true },
      { state: TIME_WAIT, start: 1502, end: null, from: HANDOVER, to: Observation.UNSPECIFIED, approximate: false },
    ]);
    expect(c.open).toBe(true);
  });

  it('starts a new sequence with a new boot id and resumes from the newest boot', async () => {
    const store = await open();
    expect(await store.cursor('agent-a')).toBeUndefined();
    await store.ingest('agent-a', 'boot-1', { events: clientClosesFirst('agent-a', 'boot-1').slice(0, 3), gaps: [] });
    expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-1', seq: 3n });
    // The agent restarted: seq starts at 1 again, cookies are a new run's.
    const later = clientClosesFirst('agent-a', 'boot-2').map((e) => ({ ...e, time: timestampFromMs(T0 + 100_000 + ms(e.time)!) }) as StateChange);
    expect(await store.ingest('agent-a', 'boot-2', { events: later.slice(0, 2), gaps: [] })).toMatchObject({ inserted: 2, duplicates: 0 });
    expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-2', seq: 2n });
    const { connections } = await store.queryTimeline({ start: at(0), end: at(1_000_000) });
    expect(connections.map((c) => [c.ref!.bootId, c.ref!.cookie, c.segments.length])).toEqual([
      ['boot-1', 11n, 3],
      ['boot-2', 11n, 2],
    ]);
    expect(await storedEvents(store)).toBe(5);
  });

  it('stores gaps once, returns them by window and host, and resumes after an evicted range', async () => {
    const store = await open();
    const gaps = [
      gap('agent-a', 'boot-a', GapReason.KERNEL, 5, 0, 0, 1200),
      gap('agent-a', 'boot-a', GapReason.REPLAY_EVICTED, 3, 7, 9, 1300),
    ];
    expect(await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps }, 'host-a')).toMatchObject({ inserted: 6, gapsInserted: 2 });
    expect(await store.ingest('agent-a', 'boot-a', { events: [], gaps })).toMatchObject({ inserted: 0, gapsInserted: 0 });
    await store.ingest('agent-b', 'boot-b', { events: [], gaps: [gap('agent-b', 'boot-b', GapReason.SLOW_SUBSCRIBER, 2, 4, 5, 1250)] }, 'host-b');
    const summary = (g: Gap[]) => g.map((x) => [x.agentId, x.reason, Number(x.count), Number(x.firstSeq), Number(x.lastSeq), ms(x.time), x.message]);
    expect(summary(await store.gaps(WHOLE))).toEqual([
      ['agent-a', GapReason.KERNEL, 5, 0, 0, 1200, 'lost 5'],
      ['agent-b', GapReason.SLOW_SUBSCRIBER, 2, 4, 5, 1250, 'lost 2'],
      ['agent-a', GapReason.REPLAY_EVICTED, 3, 7, 9, 1300, 'lost 3'],
    ]);
    expect(summary(await store.gaps({ start: at(1250), end: at(1300) }))).toEqual([['agent-b', GapReason.SLOW_SUBSCRIBER, 2, 4, 5, 1250, 'lost 2']]);
    expect((await store.gaps(WHOLE, ['host-a'])).map((g) => g.reason)).toEqual([GapReason.KERNEL, GapReason.REPLAY_EVICTED]);
    // The evicted range 7..9 is behind the cursor: resuming does not ask for it again.
    expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 9n });
    const timeline = await store.queryTimeline({ ...WHOLE, include: [filter({ host: ['agent-b'] })] });
    expect(timeline.gaps.map((g) => g.agentId)).toEqual(['agent-b']);
    const hosts = await store.listHosts();
    expect(hosts.map((h) => [h.agentId, h.hostname, h.bootId, Number(h.lastSeq), Number(h.lost), ms(h.lastEvent)])).toEqual([
      ['agent-a', 'host-a', 'boot-a', 9, 8, 62000],
      ['agent-b', 'host-b', 'boot-b', 5, 2, 1250],
    ]);
  });

  it('records hosts from discovery and status', async () => {
    const store = await open();
    const strategies = [create(CaptureStrategySchema, { concern: 'time_wait', name: 'sweep', active: true })];
    await store.upsertHost({ agentId: 'agent-a', hostname: 'host-a', address: '10.0.0.1:50051', bootId: 'boot-a', strategies });
    await store.upsertHost({ agentId: 'agent-a', address: '10.0.0.9:50051' });
    await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst().slice(0, 2), gaps: [] });
    await store.acquireLeases('replica-1', ['agent-a'], 60_000);
    const [h] = await store.listHosts();
    expect([h.agentId, h.hostname, h.address, h.bootId, Number(h.lastSeq), Number(h.lost), h.owner]).toEqual([
      'agent-a', 'host-a', '10.0.0.9:50051', 'boot-a', 2, 0, 'replica-1',
    ]);
    expect(h.strategies.map((s) => [s.concern, s.name, s.active])).toEqual([['time_wait', 'sweep', true]]);
  });

  it('pages through 250 connections 100 at a time, each exactly once, in order', async () => {
    const store = await open();
    const events: StateChange[] = [];
    for (let i = 0; i < 250; i++) {
      // Pairs of connections share a first_seen: the stable key breaks the tie.
      events.push(event('agent-a', 'boot-a', {}, { seq: i + 1, ms: 10_000 + Math.floor(i / 2), cookie: 1000 + i, old: CLOSE, new: SYN_SENT }));
    }
    for (let i = 0; i < events.length; i += 50) await store.ingest('agent-a', 'boot-a', { events: events.slice(i, i + 50), gaps: [] });
    const seen: bigint[] = [];
    const sizes: number[] = [];
    let pageToken = '';
    do {
      const page = await store.queryTimeline({ ...WHOLE, pageSize: 100, pageToken });
      sizes.push(page.connections.length);
      seen.push(...page.connections.map((c) => c.ref!.cookie));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    expect(sizes).toEqual([100, 100, 50]);
    expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => BigInt(1000 + i)));
  });

  it('rejects a tampered page token and a token from other filters', async () => {
    const store = await open();
    const events = Array.from({ length: 3 }, (_, i) => event('agent-a', 'boot-a', {}, { seq: i + 1, ms: 100 + i, cookie: i + 1, old: CLOSE, new: SYN_SENT }));
    await store.ingest('agent-a', 'boot-a', { events, gaps: [] });
    const { nextPageToken } = await store.queryTimeline({ ...WHOLE, pageSize: 1 });
    expect(nextPageToken).not.toBe('');
    const [payload, signature] = nextPageToken.split('.');
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString());
    decoded.k[0] = '0';
    const tampered = `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}.${signature}`;
    await expect(store.queryTimeline({ ...WHOLE, pageSize: 1, pageToken: tampered })).rejects.toThrow(InvalidQueryError);
    await expect(store.queryTimeline({ ...WHOLE, pageSize: 1, pageToken: tampered })).rejects.toThrow(/page_token is not valid: it was altered/);
    await expect(store.queryTimeline({ ...WHOLE, pageSize: 1, pageToken: 'garbage' })).rejects.toThrow(/page_token is not valid/);
    await expect(store.queryTimeline({ ...WHOLE, pageSize: 1, pageToken: nextPageToken, include: [filter({ port: [80] })] })).rejects.toThrow(
      /other filters/,
    );
    expect((await store.queryTimeline({ ...WHOLE, pageSize: 1, pageToken: nextPageToken })).connections.map((c) => c.ref!.cookie)).toEqual([2n]);
  });

  it('rejects an inverted window and bad filter values with messages naming them', async () => {
    const store = await open();
    await expect(store.queryTimeline({ start: at(10), end: at(5) })).rejects.toThrow(/start must be before its end/);
    await expect(store.queryTimeline({ ...WHOLE, include: [filter({ address: ['10.0.0.300'] })] })).rejects.toThrow(
      /include\[0\]\.address\[0\]: "10\.0\.0\.300" is not an IP address/,
    );
    await expect(store.stats({ ...WHOLE, stepMs: 1 })).rejects.toThrow(/step is too small/);
  });

  it('returns the connections whose life overlaps the window: begun inside, seen inside, or still open', async () => {
    const store = await open();
    await store.ingest('agent-a', 'boot-a', { events: [...clientClosesFirst(), ...clientInTimeWait()], gaps: [] });
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [] });
    // c31 lives five minutes (1000..300000): longer than the two minutes after which a connection counts as long-lived.
    const long = { cookie: 31, side: Side.CLIENT, local: ['10.0.0.3', 40003] as [string, number] };
    await store.ingest('agent-c', 'boot-c', {
      events: [
        event('agent-c', 'boot-c', long, { seq: 1, ms: 1000, old: CLOSE, new: SYN_SENT }),
        event('agent-c', 'boot-c', long, { seq: 2, ms: 1001, old: SYN_SENT, new: ESTABLISHED }),
        event('agent-c', 'boot-c', long, { seq: 3, ms: 300_000, old: ESTABLISHED, new: CLOSE }),
      ],
      gaps: [],
    });
    const cookies = async (startMs: number, endMs: number, pageSize = 100) => {
      const found: number[] = [];
      let pageToken = '';
      do {
        const page = await store.queryTimeline({ start: at(startMs), end: at(endMs), pageSize, pageToken });
        found.push(...page.connections.map((c) => Number(c.ref!.cookie)));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      return found;
    };
    // c11 lives 1000..62000, s21 1000..1701, c12 2000..3004 and is still in TIME_WAIT, c31 1000..300000.
    expect(await cookies(0, 1000)).toEqual([]);
    expect(await cookies(1000, 1001)).toEqual([11, 21, 31]);
    expect(await cookies(1800, 2500)).toEqual([11, 31, 12]);
    expect(await cookies(5000, 6000)).toEqual([11, 31, 12]);
    expect(await cookies(62001, 70000)).toEqual([31, 12]);
    expect(await cookies(200_000, 210_000)).toEqual([31, 12]);
    expect(await cookies(300_001, 400_000)).toEqual([12]);
    expect(await cookies(0, 100_000, 1)).toEqual([11, 21, 31, 12]);
    // Stats read segments from the same parts: c31's ESTABLISHED ended inside the window.
    const established = (await store.stats({ start: at(200_000), end: at(400_000), stepMs: 10_000 })).durations.find((d) => d.state === ESTABLISHED);
    expect(established && Number(established.count)).toBe(1);
  });

  it('finds a connection that began before the window on either side of the two-minute line, and none twice', async () => {
    const store = await open();
    // c41 lives exactly two minutes (10000..130000), c42 a millisecond longer (a long-lived connection), c43 a second.
    const lives: [number, number][] = [[41, 130_000], [42, 130_001], [43, 11_000]];
    let seq = 0;
    const events = lives.flatMap(([cookie, endMs]) => {
      const c = { cookie, side: Side.CLIENT, local: ['10.0.0.4', 40000 + cookie] as [string, number] };
      return [
        event('agent-d', 'boot-d', c, { seq: ++seq, ms: 10_000, old: CLOSE, new: SYN_SENT }),
        event('agent-d', 'boot-d', c, { seq: ++seq, ms: 10_001, old: SYN_SENT, new: ESTABLISHED }),
        event('agent-d', 'boot-d', c, { seq: ++seq, ms: endMs, old: ESTABLISHED, new: CLOSE }),
      ];
    });
    await store.ingest('agent-d', 'boot-d', { events: events.sort((a, b) => Number(a.seq - b.seq)), gaps: [] });
    const cookies = async (startMs: number, endMs: number) =>
      (await store.queryTimeline({ start: at(startMs), end: at(endMs) })).connections.map((c) => Number(c.ref!.cookie));
    expect(await cookies(130_000, 131_000)).toEqual([41, 42]);
    expect(await cookies(130_001, 131_000)).toEqual([42]);
    expect(await cookies(130_002, 131_000)).toEqual([]);
    expect(await cookies(11_000, 11_001)).toEqual([41, 42, 43]);
    expect(await cookies(11_001, 130_000)).toEqual([41, 42]);
  });

  it('filters connections by host, endpoint, CIDR, side, state and process', async () => {
    const store = await open();
    await store.ingest('agent-a', 'boot-a', { events: [...clientClosesFirst(), ...clientInTimeWait()], gaps: [] }, 'host-a');
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [] }, 'host-b');
    const cookies = async (include: FilterInit[], exclude: FilterInit[] = []) =>
      (await store.queryTimeline({ ...WHOLE, include: include.map(filter), exclude: exclude.map(filter) })).connections.map((c) => Number(c.ref!.cookie));
    expect(await cookies([])).toEqual([11, 21, 12]);
    expect(await cookies([{ host: ['host-b'] }])).toEqual([21]);
    expect(await cookies([{ host: ['agent-a'] }])).toEqual([11, 12]);
    expect(await cookies([{ serverEndpoint: ['10.0.0.2:80'] }])).toEqual([11, 21, 12]);
    expect(await cookies([{ serverEndpoint: ['0.0.0.0:80'], side: [Side.SERVER] }])).toEqual([21]);
    expect(await cookies([{ address: ['10.0.0.0/24'] }])).toEqual([11, 21, 12]);
    expect(await cookies([{ address: ['10.0.0.0/31'], port: [40001] }])).toEqual([12]);
    expect(await cookies([{ address: ['192.168.0.0/16'] }])).toEqual([]);
    expect(await cookies([{ address: ['::ffff:10.0.0.2'] }])).toEqual([11, 21, 12]);
    expect(await cookies([{ newState: [CLOSE_WAIT] }, { oldState: [TIME_WAIT] }])).toEqual([11, 21]);
    expect(await cookies([{ comm: ['curl'] }], [{ pid: [4243] }])).toEqual([11]);
    expect(await cookies([], [{ side: [Side.CLIENT] }])).toEqual([21]);
    expect(await cookies([{ cookie: [12n] }])).toEqual([12]);
  });

  it('pairs both sides across two agents by mirrored endpoints', async () => {
    const store = await open();
    await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] }, 'host-a');
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [] }, 'host-b');
    const client = await store.getConnection({ agentId: 'agent-a', bootId: '', cookie: 11n });
    expect([client!.peer?.agentId, client!.peer?.bootId, client!.peer?.cookie]).toEqual(['agent-b', 'boot-b', 21n]);
    const { peer, reason } = await store.findPeer(client!);
    expect(reason).toBeUndefined();
    expect([peer!.ref!.agentId, peer!.ref!.cookie, peer!.hostname, peer!.side]).toEqual(['agent-b', 21n, 'host-b', Side.SERVER]);
    expect([peer!.peer?.agentId, peer!.peer?.cookie]).toEqual(['agent-a', 11n]);
    const server = await store.findConnectionByEndpoints({ address: '10.0.0.2', port: 80 }, { address: '10.0.0.1', port: 40000 }, at(1200));
    expect([server!.ref!.agentId, server!.ref!.cookie]).toEqual(['agent-b', 21n]);
    const { connections } = await store.queryTimeline(WHOLE);
    expect(connections.map((c) => [Number(c.ref!.cookie), c.peer ? Number(c.peer.cookie) : null])).toEqual([
      [11, 21],
      [21, 11],
    ]);
  });

  it('pairs the sides of hosts whose clocks differ: within a second, and not beyond', async () => {
    // Host B's clock runs behind A's (each agent turns kernel time into wall time on its own): as B's
    // clock has it, its side ended before A's side began.
    const behind = (ms: number, boot: string) =>
      serverSide('agent-b', boot, 21).map((e) => ({ ...e, time: timestampFromMs(timestampMs(e.time!) - ms) }) as StateChange);
    const store = await open();
    await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] });
    await store.ingest('agent-b', 'boot-b', { events: behind(1400, 'boot-b'), gaps: [] }); // ends 699 ms before
    const client = await store.getConnection({ agentId: 'agent-a', bootId: 'boot-a', cookie: 11n });
    expect([client!.peer?.bootId, client!.peer?.cookie]).toEqual(['boot-b', 21n]);
    // 2 s apart: another connection on those ports, not this one's other side.
    const far = await open();
    await far.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] });
    await far.ingest('agent-b', 'boot-c', { events: behind(2700, 'boot-c'), gaps: [] }); // ends 1,999 ms before
    expect((await far.getConnection({ agentId: 'agent-a', bootId: 'boot-a', cookie: 11n }))!.peer).toBeUndefined();
  });

  it('says why no peer was found', async () => {
    const store = await open();
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [] });
    const toInternet = clientClosesFirst('agent-a', 'boot-a', 31).map((e) => ({ ...e, remoteAddress: '203.0.113.9', remotePort: 443 }) as StateChange);
    const toB = clientClosesFirst('agent-a', 'boot-a', 32, 7).map((e) => ({ ...e, remotePort: 8080 }) as StateChange);
    await store.ingest('agent-a', 'boot-a', { events: [...toInternet, ...toB], gaps: [] });
    const internet = await store.getConnection({ agentId: 'agent-a', bootId: 'boot-a', cookie: 31n });
    const nat = await store.getConnection({ agentId: 'agent-a', bootId: 'boot-a', cookie: 32n });
    expect(internet!.peer).toBeUndefined();
    expect(await store.findPeer(internet!)).toEqual({
      reason: 'no agent recorded any connection on 203.0.113.9: the peer host may run no agent, or address translation (NAT) hides its real address',
    });
    expect((await store.findPeer(nat!)).reason).toBe(
      'the host at 10.0.0.2 (agent agent-b) recorded no connection 10.0.0.2:8080 -> 10.0.0.1:40000: address translation (NAT, a proxy or a load balancer) may sit between the two ends, or its events were lost',
    );
  });

  it('computes stats exactly on a small data set', async () => {
    const store = await open();
    await store.ingest('agent-a', 'boot-a', { events: [...clientClosesFirst(), ...clientInTimeWait()], gaps: [] });
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [] });
    const stats = await store.stats({ start: at(0), end: at(100_000), stepMs: 500 });
    expect(stats.transitions.map((t) => [t.oldState, t.newState, Number(t.count)])).toEqual([
      [ESTABLISHED, FIN_WAIT1, 2],
      [ESTABLISHED, CLOSE_WAIT, 1],
      [SYN_SENT, ESTABLISHED, 2],
      [SYN_RECV, ESTABLISHED, 1],
      [FIN_WAIT1, FIN_WAIT2, 2],
      [FIN_WAIT2, TIME_WAIT, 2],
      [TIME_WAIT, CLOSE, 1],
      [CLOSE, SYN_SENT, 2],
      [CLOSE_WAIT, LAST_ACK, 1],
      [LAST_ACK, CLOSE, 1],
      [LISTEN, SYN_RECV, 1],
    ]);
    const d = (x: { seconds: bigint; nanos: number } | undefined) => Number(x!.seconds) * 1000 + x!.nanos / 1e6;
    expect(stats.durations.map((s) => [s.state, Number(s.count), d(s.p50), d(s.p90), d(s.p99), d(s.max)])).toEqual([
      [ESTABLISHED, 3, 499, 997, 997, 997],
      [SYN_SENT, 2, 1, 3, 3, 3],
      [SYN_RECV, 1, 1, 1, 1, 1],
      [FIN_WAIT1, 2, 1, 1, 1, 1],
      [FIN_WAIT2, 2, 1, 3, 3, 3],
      [TIME_WAIT, 1, 60498, 60498, 60498, 60498],
      [CLOSE_WAIT, 1, 200, 200, 200, 200],
      [LAST_ACK, 1, 1, 1, 1, 1],
    ]);
    expect(stats.concurrency).toHaveLength(200);
    const point = (t: number) => {
      const p = stats.concurrency.find((c) => ms(c.time) === t)!;
      return [Number(p.timeWait), Number(p.closeWait)];
    };
    expect([0, 1000, 1500, 2000, 3000, 3500, 61500, 62000, 99500].map(point)).toEqual([
      [0, 0], [0, 0], [0, 1], [1, 0], [1, 0], [2, 0], [2, 0], [1, 0], [1, 0],
    ]);
    const servers = await store.stats({ start: at(0), end: at(100_000), stepMs: 500, include: [filter({ side: [Side.SERVER] })] });
    expect(servers.transitions.map((t) => Number(t.count))).toEqual([1, 1, 1, 1, 1]);
    expect(servers.durations.map((s) => s.state)).toEqual([SYN_RECV, ESTABLISHED, CLOSE_WAIT, LAST_ACK].sort((a, b) => a - b));
    expect(servers.concurrency.filter((p) => p.timeWait > 0n)).toEqual([]);
  });

  it('deletes only rows older than the retention cut-off', async () => {
    const store = await open();
    // An old run of agent A whose socket never closed: its boot was replaced.
    await store.ingest('agent-a', 'boot-0', { events: clientClosesFirst('agent-a', 'boot-0', 5).slice(0, 2).map((e) => ({ ...e, time: at(ms(e.time)! - 900) }) as StateChange), gaps: [] });
    await store.ingest('agent-a', 'boot-a', { events: [...clientClosesFirst(), ...clientInTimeWait()], gaps: [gap('agent-a', 'boot-a', GapReason.KERNEL, 1, 0, 0, 500)] });
    await store.ingest('agent-b', 'boot-b', { events: serverSide(), gaps: [gap('agent-b', 'boot-b', GapReason.KERNEL, 1, 0, 0, 60000)] });
    const result = await store.deleteOlderThan(at(50_000));
    // Events before 50 s: 2 (boot-0) + 5 of cookie 11 + 5 of cookie 12 + 5 of the server; connections: boot-0's and the closed server's.
    expect(result).toEqual({ events: 17, connections: 2, segments: 2 + 4, gaps: 1 });
    const left = (await store.queryTimeline(WHOLE)).connections.map((c) => [c.ref!.bootId, Number(c.ref!.cookie)]);
    expect(left).toEqual([['boot-a', 11], ['boot-a', 12]]);
    expect(segmentsOf((await store.queryTimeline(WHOLE)).connections[0])).toEqual(CLIENT_SEGMENTS);
    expect(await storedEvents(store)).toBe(1);
    expect((await store.gaps(WHOLE)).map((g) => g.agentId)).toEqual(['agent-b']);
  });

  it('applies migrations once: reopening keeps the data and the schema version', async () => {
    const target = await backend.newTarget();
    const first = await open(target);
    await first.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] });
    await first.close();
    const again = await open(target);
    expect(await storedEvents(again)).toBe(6);
    expect(await again.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 6n });
    await again.close();
    const versions = await backend.exec(target, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.map((r) => Number(r.version))).toEqual([1, 2, 3, 4, 5, 6]);
    // A store written by a newer tcpstate is refused with a message saying so.
    await backend.exec(target, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (99, 'from the future', 0)");
    await expect(openStore(target, backend.options)).rejects.toThrow(SchemaVersionError);
    await expect(openStore(target, backend.options)).rejects.toThrow(/has schema version 99, newer than this tcpstate understands \(6\)/);
  });

  it('shares agents between replicas through leases', async () => {
    const target = await backend.newTarget();
    const r1 = await open(target);
    const r2 = await open(target);
    const agents = ['agent-a', 'agent-b', 'agent-c', 'agent-d'];
    if (backend.name !== 'postgres') {
      // One collector per SQLite file: it is granted every agent, always.
      expect(r1.shared).toBe(false);
      expect(await r1.acquireLeases('replica-1', agents, 60_000)).toEqual(agents);
      expect(await r1.acquireLeases('replica-2', agents, 60_000)).toEqual(agents);
      return;
    }
    expect(r1.shared).toBe(true);
    // Racing for free leases, over and over: never both, never neither.
    for (let round = 0; round < 20; round++) {
      const [got1, got2] = await Promise.all([r1.acquireLeases('replica-1', agents, 60_000), r2.acquireLeases('replica-2', agents, 60_000)]);
      expect(got1.filter((a) => got2.includes(a))).toEqual([]);
      expect([...got1, ...got2].sort()).toEqual(agents);
      // Renewal keeps what each has; the other gets nothing of it.
      expect(await r1.acquireLeases('replica-1', agents, 60_000)).toEqual(got1);
      expect(await r2.acquireLeases('replica-2', agents, 60_000)).toEqual(got2);
      await Promise.all([r1.releaseLeases('replica-1'), r2.releaseLeases('replica-2')]);
    }
    // A replica that stops renewing loses its agents once the lease expires.
    expect(await r1.acquireLeases('replica-1', ['agent-x'], 1)).toEqual(['agent-x']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await r2.acquireLeases('replica-2', ['agent-x'], 60_000)).toEqual(['agent-x']);
    expect(await r1.acquireLeases('replica-1', ['agent-x'], 60_000)).toEqual([]);
    await r2.releaseLeases('replica-2', ['agent-x']);
    expect(await r1.acquireLeases('replica-1', ['agent-x'], 60_000)).toEqual(['agent-x']);
  });

  it('tells a heartbeating replica which replicas are alive and who holds which lease', async () => {
    const target = await backend.newTarget();
    const r1 = await open(target);
    const r2 = await open(target);
    expect(await r1.heartbeat('replica-1', 60_000)).toEqual({ replicas: ['replica-1'], leases: [] });
    await r1.acquireLeases('replica-1', ['agent-b', 'agent-a'], 60_000);
    expect(await r2.heartbeat('replica-2', 60_000)).toEqual({
      replicas: ['replica-1', 'replica-2'],
      leases: [{ agentId: 'agent-a', replicaId: 'replica-1' }, { agentId: 'agent-b', replicaId: 'replica-1' }],
    });
    // A replica that stops heartbeating is no longer alive once its heartbeat expires.
    await r2.heartbeat('replica-2', 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await r1.heartbeat('replica-1', 60_000)).replicas).toEqual(['replica-1']);
    // Leaving removes the heartbeat and the leases at once.
    await r2.heartbeat('replica-2', 60_000);
    await r1.leave('replica-1');
    expect(await r2.heartbeat('replica-2', 60_000)).toEqual({ replicas: ['replica-2'], leases: [] });
  });

  it('stores concurrent batches of one agent from two replicas exactly once', async () => {
    const target = await backend.newTarget();
    const r1 = await open(target);
    const r2 = await open(target);
    // The same stream delivered to both (a takeover overlapping), in batches of 3.
    const events: StateChange[] = [];
    for (let i = 0; i < 20; i++) events.push(...clientClosesFirst('agent-a', 'boot-a', 100 + i, i * 6 + 1));
    const batches = Array.from({ length: events.length / 3 }, (_, i) => ({ events: events.slice(i * 3, i * 3 + 3), gaps: [] }));
    const results = await Promise.all([
      (async () => { let n = 0; for (const b of batches) n += (await r1.ingest('agent-a', 'boot-a', b)).inserted; return n; })(),
      (async () => { let n = 0; for (const b of batches) n += (await r2.ingest('agent-a', 'boot-a', b)).inserted; return n; })(),
    ]);
    expect(results[0] + results[1]).toBe(120);
    expect(await storedEvents(r1)).toBe(120);
    const { connections } = await r1.queryTimeline({ ...WHOLE, pageSize: 1000 });
    expect(connections).toHaveLength(20);
    for (const c of connections) expect(segmentsOf(c)).toEqual(CLIENT_SEGMENTS);
  });
});

describe('PostgreSQL outages', () => {
  it('reports an unreachable server in one sentence', async () => {
    await expect(openStore('postgres://postgres@127.0.0.1:1/nothing')).rejects.toThrow(StoreUnavailableError);
    await expect(openStore('postgres://postgres@127.0.0.1:1/nothing')).rejects.toThrow(
      /^PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/nothing is not reachable: .*ECONNREFUSED/,
    );
  });

  it('keeps working after the server restarts', async () => {
    const store = await openStore(await databases.postgres().createDatabase('store_restart'));
    try {
      const events = clientClosesFirst();
      await store.ingest('agent-a', 'boot-a', { events: events.slice(0, 3), gaps: [] });
      await databases.postgres().restart();
      // The pool drops the connections the restart closed and opens new ones.
      expect(await store.ingest('agent-a', 'boot-a', { events, gaps: [] })).toMatchObject({ inserted: 3, duplicates: 3 });
      expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 6n });
    } finally {
      await store.close();
    }
  });
});

// SQLite stores events at ingest and writes the connection rows in a pass of its own (sqlite-store.ts,
// "Deriving connection rows"): what that pass must never do is answer a query from rows behind the events,
// lose a block's rows to a crash, or apply an event twice.
describe.each([sqliteBackend, sqliteThreadBackend])('connection rows derived after ingest on $name', (backend) => {
  const opened: EventStore[] = [];
  const open = async (target: string, options: StoreOpenOptions = {}) => {
    const store = await openStore(target, { ...backend.options, ...options });
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  /** Events stored, per `derived` flag, and connection rows, read straight from the file. */
  const onDisk = (target: string) => ({
    underived: Number(sqliteRows(target, 'SELECT coalesce(sum(count), 0) AS n FROM event_blocks WHERE derived = 0')[0].n),
    derived: Number(sqliteRows(target, 'SELECT coalesce(sum(count), 0) AS n FROM event_blocks WHERE derived = 1')[0].n),
    rows: Number(sqliteRows(target, 'SELECT count(*) AS n FROM connections')[0].n),
  });
  const until = async (condition: () => boolean) => {
    for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  it('writes the rows in the background, without a query asking', async () => {
    const target = await backend.newTarget();
    const store = await open(target);
    await store.ingest('agent-a', 'boot-a', { events: [...clientClosesFirst(), ...clientInTimeWait()], gaps: [] });
    await until(() => onDisk(target).underived === 0);
    expect(onDisk(target)).toEqual({ underived: 0, derived: 11, rows: 2 });
    const [first] = (await store.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(first)).toEqual(CLIENT_SEGMENTS);
  });

  it('derives what a store stopped before deriving when it opens again, each event once', async () => {
    const target = await backend.newTarget();
    const first = await open(target);
    const events = clientClosesFirst();
    await first.ingest('agent-a', 'boot-a', { events: events.slice(0, 3), gaps: [] });
    await first.ingest('agent-a', 'boot-a', { events: events.slice(3), gaps: [] });
    await first.close(); // the thread store's close waits for its queued calls, not for the derivation
    const left = onDisk(target);
    expect(left.underived + left.derived).toBe(6);
    // Make it a stop mid-burst whatever the thread did: nothing derived, no rows.
    sqliteRows(target, 'UPDATE event_blocks SET derived = 0');
    sqliteRows(target, 'DELETE FROM connections');
    const again = await open(target);
    await until(() => onDisk(target).underived === 0);
    expect(onDisk(target)).toEqual({ underived: 0, derived: 6, rows: 1 });
    const [connection] = (await again.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(connection)).toEqual(CLIENT_SEGMENTS);
    expect(await again.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 6n });
  });

  it('answers a query with every stored event in the rows, also events stored by another store on the file', async () => {
    const target = await backend.newTarget();
    const writer = await open(target);
    await writer.ingest('agent-a', 'boot-a', { events: clientClosesFirst().slice(0, 4), gaps: [] });
    const reader = await open(target);
    await writer.ingest('agent-a', 'boot-a', { events: clientClosesFirst().slice(4), gaps: [] });
    // Whichever store derives first, each event is applied once.
    const [seen] = (await reader.queryTimeline(WHOLE)).connections;
    expect(segmentsOf(seen)).toEqual(CLIENT_SEGMENTS);
    await until(() => onDisk(target).underived === 0);
    expect(segmentsOf((await writer.queryTimeline(WHOLE)).connections[0])).toEqual(CLIENT_SEGMENTS);
    expect((await writer.stats({ ...WHOLE, stepMs: 100_000 })).transitions.reduce((n, t) => n + Number(t.count), 0)).toBe(6);
  });

  it('writes no rows between calls with backgroundDerivation false: a query writes them', async () => {
    const target = await backend.newTarget();
    const store = await open(target, { backgroundDerivation: false });
    await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(onDisk(target)).toEqual({ underived: 6, derived: 0, rows: 0 });
    expect(segmentsOf((await store.queryTimeline(WHOLE)).connections[0])).toEqual(CLIENT_SEGMENTS);
    expect(onDisk(target)).toEqual({ underived: 0, derived: 6, rows: 1 });
  });

  it('lets at most derivationTrail events wait: past it, ingest writes the rows before it returns', async () => {
    const target = await backend.newTarget();
    // No background pass: whether it ran between the two calls would depend on the machine's timing.
    const store = await open(target, { derivationTrail: 8, backgroundDerivation: false });
    const first = clientClosesFirst('agent-a', 'boot-a', 11, 1);
    const second = clientClosesFirst('agent-a', 'boot-a', 12, 7);
    await store.ingest('agent-a', 'boot-a', { events: first, gaps: [] });
    // 12 pending would pass the trail of 8: this ingest derives below it (whole blocks) before it answers.
    await store.ingest('agent-a', 'boot-a', { events: second, gaps: [] });
    // (down to the trail less 20,000: here all of it)
    expect(onDisk(target)).toEqual({ underived: 0, derived: 12, rows: 2 });
    const timelines = (await store.queryTimeline(WHOLE)).connections;
    expect(timelines.map((t) => [Number(t.ref!.cookie), segmentsOf(t)])).toEqual([[11, CLIENT_SEGMENTS], [12, CLIENT_SEGMENTS]]);
  });
});

describe('rowsPending', () => {
  it('counts the events waiting for their rows in SQLite until a query derives them, and is 0 on PostgreSQL', async () => {
    const sqlite = await openStore(await sqliteBackend.newTarget());
    const postgres = await openStore(await postgresBackend.newTarget());
    try {
      // PostgreSQL first: the SQLite store's background pass starts after 10 ms without an ingest.
      for (const store of [postgres, sqlite]) await store.ingest('agent-a', 'boot-a', { events: clientClosesFirst(), gaps: [] });
      expect(await sqlite.rowsPending()).toBe(6);
      expect(await postgres.rowsPending()).toBe(0);
      await sqlite.queryTimeline(WHOLE);
      expect(await sqlite.rowsPending()).toBe(0);
    } finally {
      await sqlite.close();
      await postgres.close();
    }
  });
});
