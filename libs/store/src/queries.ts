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
import type { ConnectionKey, EndpointSpec, PeerLookup, StatsQuery, TimelineQuery, TimeWindow } from './event-store.js';
import { filtersAreEmpty, filtersToSql, hostsOf } from './filter-sql.js';
import { decodePageToken, encodePageToken, filtersFingerprint } from './page-token.js';
import {
  big,
  CONNECTION_COLUMNS,
  type ConnectionRecord,
  connectionRecordOfRow,
  gapOfRow,
  int,
  segmentOfRow,
  stateSegmentOf,
} from './row-mapping.js';
import { join, list, raw, type Sql, sql, type SqlRunner } from './sql.js';
import { durationOfNs, nowNs, type TimeInput, timestampOfNs, toNs } from './time.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Most points a concurrency series may have. */
export const MAX_STEPS = 10_000;

const FROM_CONNECTIONS = raw(
  `SELECT ${CONNECTION_COLUMNS} FROM connections c JOIN runs r ON r.run_id = c.run_id LEFT JOIN hosts h ON h.agent_id = r.agent_id`,
);
const CONNECTION_ORDER = raw('ORDER BY c.first_seen_ns, c.run_id, c.cookie');
/** Joins a table aliased s or e to its connection row c. */
const joinConnection = (alias: string) => raw(`JOIN connections c ON c.run_id = ${alias}.run_id AND c.cookie = ${alias}.cookie`);

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
    // began before it and was last seen inside it or is still open. Three
    // disjoint parts, each an index range, so the work follows the window,
    // not the whole history: the first walks connections_first_seen in page
    // order and stops at the page's end; the others (long-lived connections)
    // come from connections_last_seen and the partial index connections_open.
    // MATERIALIZED plans each part on its own (merged into one ordered query,
    // SQLite would walk all of connections_first_seen for the last two); the
    // unary + keeps first_seen's index out of the second part's plan. Parts
    // carry keys only; the page's rows are joined at the end.
    const limit = pageSize + 1;
    const part = (overlap: Sql) => sql`SELECT c.first_seen_ns, c.run_id, c.cookie FROM connections c WHERE ${overlap} AND ${where} ${keyset}`;
    const rows = await this.db.all(sql`WITH
        began_inside AS MATERIALIZED (${part(sql`c.first_seen_ns >= ${start} AND c.first_seen_ns < ${end}`)} ${CONNECTION_ORDER} LIMIT ${limit}),
        seen_inside AS MATERIALIZED (${part(sql`+c.first_seen_ns < ${start} AND c.last_seen_ns >= ${start}`)}),
        still_open AS MATERIALIZED (${part(sql`c.open AND c.first_seen_ns < ${start} AND c.last_seen_ns < ${start}`)}),
        page AS (SELECT * FROM began_inside UNION ALL SELECT * FROM seen_inside UNION ALL SELECT * FROM still_open
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

    const transitionRows = await this.db.all(sql`SELECT e.old_state AS old_state, e.new_state AS new_state, COUNT(*) AS n
      FROM events e ${filtersAreEmpty(include, exclude) ? raw('') : joinConnection('e')}
      WHERE e.time_ns >= ${start} AND e.time_ns < ${end} AND ${where}
      GROUP BY e.old_state, e.new_state ORDER BY e.old_state, e.new_state`);

    // Nearest rank: the p-th percentile of n values is the ceil(p * n / 100)-th smallest.
    const durationRows = await this.db.all(sql`WITH d AS (
        SELECT s.state AS state, s.end_ns - s.start_ns AS dur FROM segments s ${joinConnection('s')}
        WHERE s.end_ns >= ${start} AND s.end_ns < ${end} AND ${where}
      ), r AS (
        SELECT state, dur, ROW_NUMBER() OVER (PARTITION BY state ORDER BY dur) AS rn, COUNT(*) OVER (PARTITION BY state) AS n FROM d
      )
      SELECT state, n,
        MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN dur END) AS p50,
        MAX(CASE WHEN rn = (n * 90 + 99) / 100 THEN dur END) AS p90,
        MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN dur END) AS p99,
        MAX(dur) AS max
      FROM r GROUP BY state, n ORDER BY state`);

    const piledUp = [TcpState.TIME_WAIT, TcpState.CLOSE_WAIT];
    const segmentRows = await this.db.all(sql`SELECT s.state AS state, s.start_ns AS start_ns, s.end_ns AS end_ns
      FROM segments s ${joinConnection('s')}
      WHERE s.state IN ${list(piledUp)} AND s.start_ns < ${end} AND (s.end_ns IS NULL OR s.end_ns > ${start}) AND ${where}`);
    const timeWait = new Coverage();
    const closeWait = new Coverage();
    for (const r of segmentRows) {
      const coverage = int(r.state) === TcpState.TIME_WAIT ? timeWait : closeWait;
      coverage.add(big(r.start_ns), r.end_ns === null ? null : big(r.end_ns));
    }
    timeWait.seal();
    closeWait.seal();
    const concurrency = [];
    for (let t = start; t < end; t += stepNs) {
      concurrency.push({ time: timestampOfNs(t), timeWait: timeWait.at(t), closeWait: closeWait.at(t) });
    }

    return create(GetStatsResponseSchema, {
      transitions: transitionRows.map((r) => ({ oldState: int(r.old_state), newState: int(r.new_state), count: big(r.n) })),
      durations: durationRows.map((r) => ({
        state: int(r.state),
        count: big(r.n),
        p50: durationOfNs(big(r.p50)),
        p90: durationOfNs(big(r.p90)),
        p99: durationOfNs(big(r.p99)),
        max: durationOfNs(big(r.max)),
      })),
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

  /** Adds segments and peer refs to selected connections (two queries for the lot). */
  private async complete(records: ConnectionRecord[]): Promise<ConnectionTimeline[]> {
    if (records.length === 0) return [];
    const byRun = new Map<bigint, bigint[]>();
    for (const r of records) byRun.set(r.runId, [...(byRun.get(r.runId) ?? []), r.cookie]);
    const owners = [...byRun].map(([runId, cookies]) => sql`(run_id = ${runId} AND cookie IN ${list(cookies)})`);
    const segmentRows = await this.db.all(sql`SELECT * FROM segments WHERE ${join(owners, ' OR ')} ORDER BY run_id, cookie, idx`);
    const now = nowNs();
    const byRunKey = new Map(records.map((r) => [`${r.runId}/${r.cookie}`, r]));
    for (const row of segmentRows) {
      const record = byRunKey.get(`${big(row.run_id)}/${big(row.cookie)}`);
      record?.timeline.segments.push(stateSegmentOf(segmentOfRow(row), now));
    }

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

/** Finds sockets whose time in TIME_WAIT or CLOSE_WAIT covers a time: starts at or before it, minus ends at or before it. */
class Coverage {
  private starts: bigint[] = [];
  private ends: bigint[] = [];

  add(start: bigint, end: bigint | null): void {
    this.starts.push(start);
    if (end !== null) this.ends.push(end);
  }

  seal(): void {
    const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
    this.starts.sort(ascending);
    this.ends.sort(ascending);
  }

  at(t: bigint): bigint {
    return BigInt(countAtOrBefore(this.starts, t) - countAtOrBefore(this.ends, t));
  }
}

/** How many values of a sorted list are <= t. */
function countAtOrBefore(sorted: bigint[], t: bigint): number {
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
  const matches = candidates.filter(
    (c) =>
      !sameRecord(c, self) &&
      c.localPort === self.remotePort &&
      c.remotePort === self.localPort &&
      c.localKey !== null &&
      c.remoteKey !== null &&
      self.remoteKey !== null &&
      self.localKey !== null &&
      c.localKey.equals(self.remoteKey) &&
      c.remoteKey.equals(self.localKey) &&
      overlaps(self, c),
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

function overlaps(a: ConnectionRecord, b: ConnectionRecord): boolean {
  const aEndsBeforeB = a.endNs !== null && a.endNs < b.firstSeenNs;
  const bEndsBeforeA = b.endNs !== null && b.endNs < a.firstSeenNs;
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
    timeline: t,
  };
}

function endpointKey(endpoint: EndpointSpec, which: string): Buffer {
  const key = addressKey(endpoint.address);
  if (!key) throw new InvalidQueryError(`the ${which} address "${endpoint.address}" is not an IP address`);
  return key;
}
