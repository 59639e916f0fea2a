// The read side, written once in SQL both back-ends run: timelines with
// keyset paging, single connections, peer pairing, gaps, stats and hosts.
import { create, fromJson, type JsonValue } from '@bufbuild/protobuf';
import {
  CaptureStrategySchema,
  type ConnectionTimeline,
  type Gap,
  type GetStatsResponse,
  GetStatsResponseSchema,
  type Host,
  HostSchema,
  type QueryTimelineResponse,
  QueryTimelineResponseSchema,
  Side,
  TcpState,
} from '@tcpstate/proto';
import { formatEndpoint } from '@tcpstate/model';
import { addressKey, toInt64 } from './address-key.js';
import { InvalidQueryError } from './errors.js';
import { countTransitions, decodeEventBlock, MAX_BLOCK_SPAN_NS } from './event-block.js';
import type { ConnectionKey, EndpointSpec, PeerLookup, StatsQuery, TimelineQuery, TimeWindow } from './event-store.js';
import { filtersAreEmpty, filtersToSql, hostsOf } from './filter-sql.js';
import { decodeSegments } from './segment-codec.js';
import { decodePageToken, encodePageToken, filtersFingerprint } from './page-token.js';
import {
  big,
  CONNECTION_COLUMNS,
  type ConnectionRecord,
  connectionRecordOfRow,
  gapOfRow,
  stateSegmentOf,
} from './row-mapping.js';
import { join, list, raw, type Sql, sql, type SqlRunner } from './sql.js';
import { durationOfNs, nowNs, type TimeInput, timestampOfNs, toNs } from './time.js';

/**
 * A connection that lived longer than this (last - first seen) is in the
 * partial index connections_long (schema.ts, same condition as
 * LONG_CONNECTION_SQL, written out as a constant so both databases match the
 * index to the query).
 */
export const LONG_CONNECTION_NS = 120_000_000_000n;
export const LONG_CONNECTION_SQL = 'c.last_seen_ns - c.first_seen_ns > 120000000000';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Most points a concurrency series may have. */
export const MAX_STEPS = 10_000;

const FROM_CONNECTIONS = raw(
  `SELECT ${CONNECTION_COLUMNS} FROM connections c JOIN runs r ON r.run_id = c.run_id LEFT JOIN hosts h ON h.agent_id = r.agent_id`,
);
const CONNECTION_ORDER = raw('ORDER BY c.first_seen_ns, c.run_id, c.cookie');
/** Joins a table aliased s or e to its connection row c. */

/** [start, end) in ns, validated. */
export function windowNs(window: TimeWindow): [bigint, bigint] {
  const start = toNs(window.start);
  const end = toNs(window.end);
  if (start >= end) throw new InvalidQueryError('the window is empty or inverted: its start must be before its end');
  return [start, end];
}

/** Queries shared by the SQLite and PostgreSQL stores. */
export class StoreQueries {
  constructor(
    private readonly db: SqlRunner,
    /** Signs page tokens; kept in store_meta so every replica accepts every token. */
    private readonly tokenKey: Buffer,
  ) {}

  async queryTimeline(q: TimelineQuery): Promise<QueryTimelineResponse> {
    const [start, end] = windowNs(q);
    const include = q.include ?? [];
    const exclude = q.exclude ?? [];
    const where = filtersToSql(include, exclude);
    const fingerprint = filtersFingerprint(include, exclude);
    const pageSize = Math.min(q.pageSize && q.pageSize > 0 ? q.pageSize : DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const after = q.pageToken ? decodePageToken(this.tokenKey, fingerprint, q.pageToken) : undefined;
    const keyset = after
      ? sql`AND (c.first_seen_ns, c.run_id, c.cookie) > (${after.firstSeenNs}, ${after.runId}, ${after.cookie})`
      : raw('');
    // A connection overlaps [start, end) when it began inside the window, or
    // began before it and was last seen after its start or is still open.
    // Disjoint parts, each an index range, so the work follows the window,
    // not the whole history (overlapParts).
    // MATERIALIZED plans each part on its own (merged into one ordered query,
    // SQLite would walk all of connections_first_seen for the last two); the
    // unary + keeps first_seen's index out of the second part's plan. Parts
    // carry keys only; the page's rows are joined at the end.
    const limit = pageSize + 1;
    const part = (overlap: Sql) => sql`SELECT c.first_seen_ns, c.run_id, c.cookie FROM connections c WHERE ${overlap} AND ${where} ${keyset}`;
    const [beganInside, ...before] = overlapParts(start, end, this.db.dialect);
    const rows = await this.db.all(sql`WITH
        began_inside AS MATERIALIZED (${part(beganInside)} ${CONNECTION_ORDER} LIMIT ${limit}),
        ${join(before.map((p, i) => sql`before_${raw(String(i))} AS MATERIALIZED (${part(p)})`), ', ')},
        page AS (SELECT * FROM began_inside ${join(before.map((_, i) => raw(`UNION ALL SELECT * FROM before_${i}`)), ' ')}
          ORDER BY first_seen_ns, run_id, cookie LIMIT ${limit})
      ${FROM_CONNECTIONS} JOIN page ON page.run_id = c.run_id AND page.cookie = c.cookie ${CONNECTION_ORDER}`);
    const records = rows.slice(0, pageSize).map(connectionRecordOfRow);
    const last = records.at(-1);
    const nextPageToken =
      rows.length > pageSize && last
        ? encodePageToken(this.tokenKey, fingerprint, { firstSeenNs: last.firstSeenNs, runId: last.runId, cookie: last.cookie })
        : '';
    return create(QueryTimelineResponseSchema, {
      connections: await this.complete(records),
      nextPageToken,
      gaps: q.pageToken ? [] : await this.gaps(q, hostsOf(include)),
    });
  }

  async getConnection(ref: ConnectionKey): Promise<ConnectionTimeline | undefined> {
    const boot = ref.bootId ? sql`AND r.boot_id = ${ref.bootId}` : raw('');
    const rows = await this.db.all(sql`${FROM_CONNECTIONS}
      WHERE r.agent_id = ${ref.agentId} AND c.cookie = ${toInt64(ref.cookie)} ${boot}
      ORDER BY c.first_seen_ns DESC LIMIT 1`);
    const [timeline] = await this.complete(rows.map(connectionRecordOfRow));
    return timeline;
  }

  async findConnectionByEndpoints(local: EndpointSpec, remote: EndpointSpec, at: TimeInput): Promise<ConnectionTimeline | undefined> {
    const localKey = endpointKey(local, 'local');
    const remoteKey = endpointKey(remote, 'remote');
    const atNs = toNs(at);
    const rows = await this.db.all(sql`${FROM_CONNECTIONS}
      WHERE c.local_key = ${localKey} AND c.local_port = ${local.port}
        AND c.remote_key = ${remoteKey} AND c.remote_port = ${remote.port} AND c.first_seen_ns <= ${atNs}
      ORDER BY c.first_seen_ns DESC, c.run_id, c.cookie LIMIT 100`);
    const records = rows.map(connectionRecordOfRow);
    const chosen = records.find((r) => r.endNs === null || r.endNs >= atNs) ?? records[0];
    if (!chosen) return undefined;
    const [timeline] = await this.complete([chosen]);
    return timeline;
  }

  async findPeer(connection: ConnectionTimeline): Promise<PeerLookup> {
    const self = recordOfTimeline(connection);
    const local = formatEndpoint(connection.localAddress || '?', connection.localPort);
    const remote = formatEndpoint(connection.remoteAddress || '?', connection.remotePort);
    if (!hasEndpoints(self)) {
      return { reason: `its endpoints are not fully known (${local} -> ${remote}), so no peer can be matched` };
    }
    const candidates = (await this.db.all(sql`${FROM_CONNECTIONS} WHERE ${mirroredSql([self])}`)).map(connectionRecordOfRow);
    const peer = pickPeer(self, candidates);
    if (peer) {
      const [timeline] = await this.complete([peer]);
      return { peer: timeline };
    }
    if (candidates.some((c) => !sameRecord(c, self))) {
      return {
        reason: `connections ${remote} -> ${local} were recorded, but none at the same time as this one (the ports were reused)`,
      };
    }
    const agentThere = await this.db.all(
      sql`SELECT r.agent_id FROM connections c JOIN runs r ON r.run_id = c.run_id WHERE c.local_key = ${self.remoteKey} LIMIT 1`,
    );
    if (agentThere.length > 0) {
      return {
        reason:
          `the host at ${connection.remoteAddress} (agent ${String(agentThere[0].agent_id)}) recorded no connection ${remote} -> ${local}: ` +
          'address translation (NAT, a proxy or a load balancer) may sit between the two ends, or its events were lost',
      };
    }
    return {
      reason:
        `no agent recorded any connection on ${connection.remoteAddress}: the peer host may run no agent, ` +
        'or address translation (NAT) hides its real address',
    };
  }

  async gaps(window: TimeWindow, hosts?: readonly string[]): Promise<Gap[]> {
    const [start, end] = windowNs(window);
    const byHost =
      hosts && hosts.length > 0
        ? sql`AND (r.agent_id IN ${list(hosts)} OR r.agent_id IN (SELECT h.agent_id FROM hosts h WHERE h.hostname IN ${list(hosts)}))`
        : raw('');
    const rows = await this.db.all(sql`SELECT g.*, r.agent_id, r.boot_id FROM gaps g JOIN runs r ON r.run_id = g.run_id
      WHERE g.time_ns >= ${start} AND g.time_ns < ${end} ${byHost}
      ORDER BY g.time_ns, r.agent_id, r.boot_id, g.first_seq`);
    return rows.map(gapOfRow);
  }

  async stats(q: StatsQuery): Promise<GetStatsResponse> {
    const [start, end] = windowNs(q);
    const include = q.include ?? [];
    const exclude = q.exclude ?? [];
    const where = filtersToSql(include, exclude);
    const stepNs = q.stepMs && q.stepMs > 0 ? BigInt(Math.round(q.stepMs * 1e6)) : (end - start) / 60n || 1n;
    const points = (end - start + stepNs - 1n) / stepNs;
    if (points > BigInt(MAX_STEPS)) {
      throw new InvalidQueryError(`the step is too small for the window: ${points} points, at most ${MAX_STEPS}`);
    }

    // Segments live inside their connection rows: read the rows of every
    // connection alive in the window (the three parts of queryTimeline, no
    // page) and pick the segments here. A segment that ended in the window, or
    // a TIME_WAIT/CLOSE_WAIT segment that overlaps it, belongs to a connection
    // seen in it (segments end at events, and an open segment means an open
    // connection).
    const part = (overlap: Sql) => sql`SELECT c.run_id AS run_id, c.cookie AS cookie, c.segments AS segments FROM connections c WHERE ${overlap} AND ${where}`;
    const segmentRows = await this.db.all(join(overlapParts(start, end, this.db.dialect).map(part), ' UNION ALL '));
    // The transitions are the raw events in the window (event-block.ts), of these connections when filtered.
    const blocks = await this.db.all(sql`SELECT run_id, first_time_ns, last_time_ns, events FROM event_blocks
      WHERE last_time_ns >= ${start} AND last_time_ns < ${end + MAX_BLOCK_SPAN_NS} AND first_time_ns < ${end}`);
    const chosen = filtersAreEmpty(include, exclude) ? undefined : new Set(segmentRows.map((r) => `${r.run_id}/${r.cookie}`));
    const transitions = new Map<number, number>(); // old_state * 256 + new_state -> count
    for (const block of blocks) {
      const blob = block.events as Uint8Array;
      // Nearly every block lies wholly inside the window (a block spans at most a second): count it without building events.
      if (!chosen && big(block.first_time_ns) >= start && big(block.last_time_ns) < end) {
        countTransitions(blob, transitions);
        continue;
      }
      for (const e of decodeEventBlock(blob)) {
        if (e.timeNs < start || e.timeNs >= end || (chosen && !chosen.has(`${block.run_id}/${e.cookie}`))) continue;
        const key = e.oldState * 256 + e.newState;
        transitions.set(key, (transitions.get(key) ?? 0) + 1);
      }
    }
    // Durations and times as numbers (ns, times relative to the window's start): exact below 104 days, and
    // sorted natively instead of by a bigint comparator.
    const durationsByState = new Map<number, number[]>();
    const timeWait = new Coverage(start);
    const closeWait = new Coverage(start);
    for (const row of segmentRows) {
      for (const s of decodeSegments(row.segments as Uint8Array | null)) {
        if (s.endNs !== null && s.endNs >= start && s.endNs < end) {
          const bucket = durationsByState.get(s.state);
          if (bucket) bucket.push(Number(s.endNs - s.startNs));
          else durationsByState.set(s.state, [Number(s.endNs - s.startNs)]);
        }
        if ((s.state === TcpState.TIME_WAIT || s.state === TcpState.CLOSE_WAIT) && s.startNs < end && (s.endNs === null || s.endNs > start)) {
          (s.state === TcpState.TIME_WAIT ? timeWait : closeWait).add(s.startNs, s.endNs);
        }
      }
    }
    timeWait.seal();
    closeWait.seal();
    const concurrency = [];
    for (let t = start; t < end; t += stepNs) {
      concurrency.push({ time: timestampOfNs(t), timeWait: timeWait.at(t), closeWait: closeWait.at(t) });
    }

    return create(GetStatsResponseSchema, {
      transitions: [...transitions]
        .sort(([a], [b]) => a - b)
        .map(([key, count]) => ({ oldState: Math.floor(key / 256), newState: key % 256, count: BigInt(count) })),
      durations: [...durationsByState].sort(([a], [b]) => a - b).map(([state, list]) => {
        const durations = Float64Array.from(list).sort();
        // Nearest rank: the p-th percentile of n values is the ceil(p * n / 100)-th smallest.
        const ns = (i: number) => durationOfNs(BigInt(durations[i]));
        const rank = (p: number) => ns(Math.floor((durations.length * p + 99) / 100) - 1);
        return { state, count: BigInt(durations.length), p50: rank(50), p90: rank(90), p99: rank(99), max: ns(durations.length - 1) };
      }),
      concurrency,
    });
  }

  async cursor(agentId: string): Promise<{ bootId: string; seq: bigint } | undefined> {
    const rows = await this.db.all(sql`SELECT boot_id, last_seq FROM runs WHERE agent_id = ${agentId}
      ORDER BY last_time_ns DESC, run_id DESC LIMIT 1`);
    return rows.length > 0 ? { bootId: String(rows[0].boot_id), seq: big(rows[0].last_seq) } : undefined;
  }

  async listHosts(): Promise<Host[]> {
    const hosts = await this.db.all(sql`SELECT agent_id, hostname, address, boot_id, strategies FROM hosts`);
    const runs = await this.db.all(sql`SELECT agent_id, boot_id, last_seq, last_time_ns FROM runs`);
    const lost = await this.db.all(sql`SELECT r.agent_id AS agent_id, SUM(g.count) AS lost FROM gaps g JOIN runs r ON r.run_id = g.run_id GROUP BY r.agent_id`);
    const leases = await this.db.all(sql`SELECT agent_id, replica_id FROM leases WHERE expires_ns > ${this.db.nowNs()}`);

    const agentIds = [...new Set([...hosts, ...runs].map((r) => String(r.agent_id)))].sort();
    return agentIds.map((agentId) => {
      const h = hosts.find((r) => r.agent_id === agentId);
      const own = runs.filter((r) => r.agent_id === agentId).map((r) => ({ bootId: String(r.boot_id), lastSeq: big(r.last_seq), lastTime: big(r.last_time_ns) }));
      const newest = own.reduce<(typeof own)[number] | undefined>((best, b) => (!best || b.lastTime > best.lastTime ? b : best), undefined);
      const bootId = h && h.boot_id !== '' ? String(h.boot_id) : (newest?.bootId ?? '');
      const lostRow = lost.find((r) => r.agent_id === agentId);
      return create(HostSchema, {
        agentId,
        hostname: h ? String(h.hostname) : '',
        address: h ? String(h.address) : '',
        bootId,
        lastSeq: own.find((b) => b.bootId === bootId)?.lastSeq ?? 0n,
        lost: lostRow ? big(lostRow.lost) : 0n,
        strategies: h ? (JSON.parse(String(h.strategies)) as JsonValue[]).map((s) => fromJson(CaptureStrategySchema, s)) : [],
        lastEvent: newest && newest.lastTime > 0n ? timestampOfNs(newest.lastTime) : undefined,
        owner: String(leases.find((r) => r.agent_id === agentId)?.replica_id ?? ''),
      });
    });
  }

  /** Adds segments (stored in the rows) and peer refs (one query for the lot) to selected connections. */
  private async complete(records: ConnectionRecord[]): Promise<ConnectionTimeline[]> {
    if (records.length === 0) return [];
    const now = nowNs();
    for (const r of records) r.timeline.segments = r.segments.map((s) => stateSegmentOf(s, now));

    const pairable = records.filter(hasEndpoints);
    if (pairable.length > 0) {
      const candidates = (await this.db.all(sql`${FROM_CONNECTIONS} WHERE ${mirroredSql(pairable)}`)).map(connectionRecordOfRow);
      for (const r of pairable) {
        const peer = pickPeer(r, candidates);
        if (peer) r.timeline.peer = peer.timeline.ref;
      }
    }
    return records.map((r) => r.timeline);
  }
}

/**
 * Conditions on a connection row `c`, disjoint, whose union is "its life
 * overlaps [start, end)", each one range of an index so that the work
 * follows the window, not the history before or after it:
 * 1. began inside: connections_first_seen, in page order;
 * 2. began before, lived at most LONG_CONNECTION_NS, last seen at or after
 *    start. SQLite: a bounded range of connections_first_seen (such a
 *    connection began at most that long before start); SQLite has no index on
 *    last_seen_ns since schema version 5, so that nearly every update of a
 *    connection row at ingest leaves the indexes alone. PostgreSQL: a bounded
 *    range of connections_last_seen (which holds first_seen_ns too: no heap
 *    fetch per candidate; every update there writes every index anyway, since
 *    connections_long's predicate reads last_seen_ns);
 * 3. began before, lived longer, last seen at or after start: the small
 *    partial index connections_long (long-lived connections only); the unary
 *    + keeps first_seen's index out of the plan;
 * 4. began before, last seen before, still open: the partial index connections_open.
 */
export function overlapParts(start: bigint, end: bigint, dialect: SqlRunner['dialect']): Sql[] {
  const notLong = raw(`NOT (${LONG_CONNECTION_SQL})`);
  return [
    sql`c.first_seen_ns >= ${start} AND c.first_seen_ns < ${end}`,
    dialect === 'sqlite'
      ? sql`c.first_seen_ns >= ${start - LONG_CONNECTION_NS} AND c.first_seen_ns < ${start} AND c.last_seen_ns >= ${start} AND ${notLong}`
      : sql`+c.first_seen_ns < ${start} AND c.last_seen_ns >= ${start} AND c.last_seen_ns <= ${start + LONG_CONNECTION_NS} AND ${notLong}`,
    sql`+c.first_seen_ns < ${start} AND c.last_seen_ns >= ${start} AND ${raw(LONG_CONNECTION_SQL)}`,
    sql`c.open AND c.first_seen_ns < ${start} AND c.last_seen_ns < ${start}`,
  ];
}

/**
 * Finds sockets whose time in TIME_WAIT or CLOSE_WAIT covers a time: starts at or before it, minus ends
 * at or before it. Times are ns after `origin` (the window's start) as numbers; a time before it counts
 * as -1 (only whether it is at or before a time in the window matters).
 */
class Coverage {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private sortedStarts = new Float64Array(0);
  private sortedEnds = new Float64Array(0);

  constructor(private readonly origin: bigint) {}

  private offset(t: bigint): number {
    return t < this.origin ? -1 : Number(t - this.origin);
  }

  add(start: bigint, end: bigint | null): void {
    this.starts.push(this.offset(start));
    if (end !== null) this.ends.push(this.offset(end));
  }

  seal(): void {
    this.sortedStarts = Float64Array.from(this.starts).sort();
    this.sortedEnds = Float64Array.from(this.ends).sort();
  }

  at(t: bigint): bigint {
    const x = this.offset(t);
    return BigInt(countAtOrBefore(this.sortedStarts, x) - countAtOrBefore(this.sortedEnds, x));
  }
}

/** How many values of a sorted list are <= t. */
function countAtOrBefore(sorted: Float64Array, t: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid] <= t) low = mid + 1;
    else high = mid;
  }
  return low;
}

function recordKey(r: { agentId: string; bootId: string; cookie: bigint }): string {
  return `${r.agentId}\u0000${r.bootId}\u0000${r.cookie}`;
}

function sameRecord(a: ConnectionRecord, b: ConnectionRecord): boolean {
  return recordKey(a) === recordKey(b);
}

function hasEndpoints(r: ConnectionRecord): boolean {
  return r.localKey !== null && r.remoteKey !== null && r.localPort !== 0 && r.remotePort !== 0;
}

/** Rows whose local end is the remote end of any of `records`, and the reverse. */
function mirroredSql(records: readonly ConnectionRecord[]): Sql {
  return join(
    records.map(
      (r) =>
        sql`(c.local_key = ${r.remoteKey} AND c.local_port = ${r.remotePort} AND c.remote_key = ${r.localKey} AND c.remote_port = ${r.localPort})`,
    ),
    ' OR ',
  );
}

/** The best peer of `self` among candidates: mirrored, overlapping in time, opposite side first, closest start. */
export function pickPeer(self: ConnectionRecord, candidates: readonly ConnectionRecord[]): ConnectionRecord | undefined {
  const sideRank = (c: ConnectionRecord) => {
    if (self.side === Side.UNSPECIFIED || c.side === Side.UNSPECIFIED) return 1;
    return c.side !== self.side ? 0 : 2;
  };
  const distance = (c: ConnectionRecord) => (c.firstSeenNs > self.firstSeenNs ? c.firstSeenNs - self.firstSeenNs : self.firstSeenNs - c.firstSeenNs);
  // Cheap tests first: a page pairs 100 records against all their candidates.
  const matches = candidates.filter(
    (c) =>
      c.localPort === self.remotePort &&
      c.remotePort === self.localPort &&
      c.localKey !== null &&
      c.remoteKey !== null &&
      self.remoteKey !== null &&
      self.localKey !== null &&
      c.localKey.equals(self.remoteKey) &&
      c.remoteKey.equals(self.localKey) &&
      overlaps(self, c) &&
      !sameRecord(c, self),
  );
  matches.sort((a, b) => {
    const bySide = sideRank(a) - sideRank(b);
    if (bySide !== 0) return bySide;
    const da = distance(a);
    const db = distance(b);
    if (da !== db) return da < db ? -1 : 1;
    return recordKey(a) < recordKey(b) ? -1 : 1;
  });
  return matches[0];
}

/**
 * How far apart two hosts' clocks may be for their sides of one connection to pair. Each agent turns
 * kernel time into wall time on its own (and hosts' clocks differ by what NTP leaves): a server side that
 * ends 1 ms before the client side began, as its host's clock has it, is the same connection. Longer
 * than any such error, short against port reuse (the closest start wins among candidates anyway).
 */
export const PEER_CLOCK_SLACK_NS = 1_000_000_000n;

/** Whether two sides' lives overlap, allowing for PEER_CLOCK_SLACK_NS between their hosts' clocks. */
function overlaps(a: ConnectionRecord, b: ConnectionRecord): boolean {
  const aEndsBeforeB = a.endNs !== null && a.endNs + PEER_CLOCK_SLACK_NS < b.firstSeenNs;
  const bEndsBeforeA = b.endNs !== null && b.endNs + PEER_CLOCK_SLACK_NS < a.firstSeenNs;
  return !aEndsBeforeB && !bEndsBeforeA;
}

/** A record for pairing from a timeline the caller holds. */
function recordOfTimeline(t: ConnectionTimeline): ConnectionRecord {
  return {
    agentId: t.ref?.agentId ?? '',
    bootId: t.ref?.bootId ?? '',
    runId: 0n,
    cookie: toInt64(t.ref?.cookie ?? 0n),
    localKey: addressKey(t.localAddress),
    remoteKey: addressKey(t.remoteAddress),
    localPort: t.localPort,
    remotePort: t.remotePort,
    side: t.side,
    firstSeenNs: t.firstSeen ? toNs(t.firstSeen) : 0n,
    endNs: t.open || !t.lastSeen ? null : toNs(t.lastSeen),
    segments: [],
    timeline: t,
  };
}

function endpointKey(endpoint: EndpointSpec, which: string): Buffer {
  const key = addressKey(endpoint.address);
  if (!key) throw new InvalidQueryError(`the ${which} address "${endpoint.address}" is not an IP address`);
  return key;
}
