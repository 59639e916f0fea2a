// The embedded store: one SQLite file (WAL) in a data directory, written by
// one collector. better-sqlite3 is synchronous, so each method runs to its end
// without interleaving with another: a transaction never sees a half-written
// batch of another caller.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join as joinPath, resolve } from 'node:path';
import { toJson } from '@bufbuild/protobuf';
import { CaptureStrategySchema, type ConnectionTimeline, type Gap, type GetStatsResponse, type Host, type QueryTimelineResponse } from '@tcpstate/proto';
import Database from 'better-sqlite3';
import type { ConnectionEvent } from './connection-builder.js';
import { SchemaVersionError, StoreError, StoreUnavailableError } from './errors.js';
import type {
  ConnectionKey,
  EndpointSpec,
  EventStore,
  HostUpdate,
  IngestBatch,
  IngestResult,
  PeerLookup,
  ReplicaView,
  RetentionResult,
  StatsQuery,
  StoreCursor,
  StoreOpenOptions,
  TimelineQuery,
  TimeWindow,
} from './event-store.js';
import {
  blockValues,
  CONNECTION_COLUMN_NAMES,
  connectionValues,
  BLOCK_COLUMNS,
  blockBatch,
  type DerivedConnection,
  deriveConnection,
  eventsOfConnections,
  GAP_COLUMNS,
  gapValues,
  groupByConnection,
  INSERT_BLOCK_SQL,
  needsRebuild,
  notStoredYet,
  OVERLAPPING_BLOCKS_SQL,
  PROGRESS_COLUMN_NAMES,
  progressValues,
  rebuildRange,
  runProgressOfBlocks,
} from './ingest-plan.js';
import { decodeEventBlock, encodeEventBlocks, type EventBlock, type StoredEvent } from './event-block.js';
import { StoreQueries } from './queries.js';
import { retentionStatements } from './retention.js';
import { replicaViewOfRows } from './replica-view.js';
import { big, eventBlocksOfRows, segmentOfRow, storedConnectionOfRow } from './row-mapping.js';
import { encodeSegments } from './segment-codec.js';
import { conversionProgress, createdMessage, migrationDoneMessage, migrationStartMessage, newerSchemaMessage, sqliteMigrations } from './schema.js';
import { type Row, type Sql, sql, type SqlRunner } from './sql.js';
import { nowNs, type TimeInput, toNs } from './time.js';

/** The database file inside the data directory. */
export const SQLITE_FILE = 'tcpstate.db';

const sqliteBool = (b: boolean) => (b ? 1 : 0);
const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

// Statements of ingest, written once (the statement cache is keyed by text).
// One row per statement: multi-row INSERT ... RETURNING measured no faster in better-sqlite3.
const INSERT_GAP = `INSERT INTO gaps (${GAP_COLUMNS.join(', ')}) VALUES (${placeholders(GAP_COLUMNS.length)}) ON CONFLICT DO NOTHING`;
const SELECT_RUN = 'SELECT run_id FROM runs WHERE agent_id = ? AND boot_id = ?';
// A new run starts with an empty time range (first > last); its first insert sets it.
const INSERT_RUN = 'INSERT INTO runs (agent_id, boot_id, last_seq, first_time_ns, last_time_ns) VALUES (?, ?, 0, 9223372036854775807, 0)';
// A batch's existing connection rows in one statement: the cookies as a JSON array (SQLite reads its integers as int64).
const SELECT_CONNECTIONS = 'SELECT * FROM connections WHERE run_id = ? AND cookie IN (SELECT value FROM json_each(?))';
const INSERT_CONNECTION = `INSERT INTO connections (${CONNECTION_COLUMN_NAMES.join(', ')}) VALUES (${placeholders(CONNECTION_COLUMN_NAMES.length)})`;
const UPDATE_CONNECTION = `UPDATE connections SET ${CONNECTION_COLUMN_NAMES.slice(2).map((c) => `${c} = ?`).join(', ')} WHERE run_id = ? AND cookie = ?`;
// SQLite rewrites only the indexes holding a column that an UPDATE sets: this one leaves first_seen and endpoints alone.
const UPDATE_PROGRESS = `UPDATE connections SET ${PROGRESS_COLUMN_NAMES.map((c) => `${c} = ?`).join(', ')} WHERE run_id = ? AND cookie = ?`;
// Deriving connection rows (schema version 6): ingest stores blocks as not derived yet; the derivation
// pass reads them in (run, seq) order through the partial index event_blocks_underived.
const INSERT_UNDERIVED_BLOCK = `INSERT INTO event_blocks (${BLOCK_COLUMNS.join(', ')}, derived) VALUES (${placeholders(BLOCK_COLUMNS.length)}, 0)`;
const SELECT_UNDERIVED = 'SELECT run_id, first_seq, count, events FROM event_blocks WHERE derived = 0 ORDER BY run_id, first_seq';
const MARK_DERIVED = 'UPDATE event_blocks SET derived = 1 WHERE run_id = ? AND first_seq = ?';
const COUNT_UNDERIVED = 'SELECT coalesce(sum(count), 0) AS n FROM event_blocks WHERE derived = 0';
const ANY_UNDERIVED = 'SELECT 1 FROM event_blocks WHERE derived = 0 LIMIT 1';
const ADVANCE_RUN = `UPDATE runs SET last_seq = max(last_seq, ?), first_time_ns = min(first_time_ns, ?), last_time_ns = max(last_time_ns, ?)
  WHERE run_id = ?`;
const UPSERT_HOST_FROM_INGEST = `INSERT INTO hosts (agent_id, hostname, address, boot_id, strategies, updated_ns) VALUES (?, ?, '', '', '[]', ?)
  ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname WHERE excluded.hostname <> ''`;

/**
 * Events that may wait for their connection rows (derivation trails ingest by at most this many): a
 * query waits for the rest to be derived first, 7-10 µs an event here, so about 4 s at most.
 */
export const DEFAULT_DERIVATION_TRAIL = 500_000;
/** Events derived in one transaction when ingest or a query waits for them (1,000-20,000 measured alike). */
const DERIVATION_CHUNK = 5_000;
/** Past the trail, ingest derives down to this many events below it (~0.2 s of work). */
const TRAIL_SLACK = 4 * DERIVATION_CHUNK;
/** Events derived in one transaction of the background pass: an ingest arriving meanwhile waits behind one (~10 ms). */
const BACKGROUND_CHUNK = 1_000;
/** The background pass starts once no ingest came for this long: during a burst, receiving comes first. */
const IDLE_MS = 10;

/** SQLite behind EventStore. Open with SqliteStore.open(dir) or openStore(dir). */
export class SqliteStore implements EventStore {
  readonly kind = 'sqlite' as const;
  readonly shared = false;
  private readonly queries: StoreQueries;
  private readonly cache = new Map<string, Database.Statement>();
  /** run_id by agent_id + NUL + boot_id: runs are never removed, so a run's id never changes. */
  private readonly runIds = new Map<string, bigint>();
  /** Agent id + NUL + host name already recorded by ingest (repeated every batch otherwise). */
  private readonly hostsRecorded = new Set<string>();
  private readonly ingestTransaction: (agentId: string, bootId: string, blocks: EventBlock[], gaps: readonly Gap[], repeatedInBatch: number, hostname: string) => IngestResult;
  private readonly deriveTransaction: (maxEvents: number) => number;
  /** Events stored whose connection rows are not written yet (as this store knows: another on the same file may derive some). */
  private underived = 0;
  /** The wait for a quiet moment before the background derivation, and its next step. */
  private idleTimer: NodeJS.Timeout | undefined;
  private step: NodeJS.Immediate | undefined;

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
    private readonly derivationTrail: number,
    private readonly backgroundDerivation: boolean,
  ) {
    const runner: SqlRunner = {
      dialect: 'sqlite',
      all: async (query: Sql) => this.all(query),
      nowNs: () => sql`${nowNs()}`,
    };
    this.queries = new StoreQueries(runner, pageTokenKey(db));
    // IMMEDIATE: the write lock from the start. A transaction that reads first and writes later cannot wait for
    // another writer (SQLite answers "database is locked" at once), and two stores can share a file from two threads.
    this.ingestTransaction = db.transaction(this.ingestNow.bind(this)).immediate;
    this.deriveTransaction = db.transaction(this.deriveNow.bind(this)).immediate;
    // What a previous process stored and did not derive (it stopped, or was killed, mid-burst).
    this.underived = Number((db.prepare(COUNT_UNDERIVED).get() as Row).n);
    this.scheduleDerivation();
  }

  /** Opens (creating when needed) the store in `dir`, applying pending migrations. */
  static open(dir: string, options: StoreOpenOptions = {}): SqliteStore {
    const location = resolve(dir);
    let db: Database.Database;
    try {
      makeDirectories(location);
      db = new Database(joinPath(location, SQLITE_FILE), { timeout: 5000 });
    } catch (error) {
      throw new StoreUnavailableError(`cannot open the SQLite store in ${location}: ${(error as Error).message}`);
    }
    try {
      db.pragma('journal_mode = WAL');
      // With WAL, NORMAL survives a crash of the process (a SIGKILL); only an OS crash may lose the newest commits.
      db.pragma('synchronous = NORMAL');
      db.pragma('cache_size = -65536'); // 64 MiB of pages: index updates at ingest stay in memory
      // Checkpoint every 40,000 pages (160 MiB of WAL, the file stays that large) rather than SQLite's 1,000:
      // index pages that every batch touches (endpoints, last seen) are copied back to the database once per
      // checkpoint, not per batch. 10,000 pages: +12% ingest over 1,000; 40,000: +5-10% more at 3 million
      // events (BENCHMARKS.md). The WAL file grows to ~160 MB between checkpoints (docs/collector.md).
      db.pragma('wal_autocheckpoint = 40000');

      db.defaultSafeIntegers(true);
      migrate(db, location, options.onProgress ?? (() => undefined));
      return new SqliteStore(db, location, options.derivationTrail ?? DEFAULT_DERIVATION_TRAIL, options.backgroundDerivation ?? true);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async ingest(agentId: string, bootId: string, batch: IngestBatch, hostname?: string): Promise<IngestResult> {
    const { blocks, gaps, repeatedInBatch } = blockBatch(agentId, bootId, batch);
    return this.ingestBlocks(agentId, bootId, blocks, gaps, repeatedInBatch, hostname);
  }

  /**
   * ingest() of a batch blockBatch() has checked, ordered and encoded as
   * blocks, which are stored as they are
   * unless some of their events were stored before. The connection rows
   * follow (deriving connection rows, below).
   */
  ingestBlocks(agentId: string, bootId: string, blocks: EventBlock[], gaps: readonly Gap[], repeatedInBatch: number, hostname?: string): IngestResult {
    const result = this.ingestTransaction(agentId, bootId, blocks, gaps, repeatedInBatch, hostname ?? '');
    this.underived += result.inserted;
    // Past the trail, ingest waits for the rows (the caller slows down, as it did when ingest wrote them):
    // a few chunks below it, so that ingest stops for a fifth of a second now and then, not at every batch.
    if (this.underived > this.derivationTrail) this.deriveDownTo(this.derivationTrail - TRAIL_SLACK);
    this.scheduleDerivation();
    return result;
  }

  /** The body of ingest; runs inside one SQLite transaction. */
  private ingestNow(agentId: string, bootId: string, blocks: EventBlock[], gaps: readonly Gap[], repeatedInBatch: number, hostname: string): IngestResult {
    this.recordHost(agentId, hostname);
    const count = blocks.reduce((n, b) => n + b.count, 0);
    if (count === 0 && gaps.length === 0) return { inserted: 0, duplicates: 0, gapsInserted: 0 };
    const runId = this.runId(agentId, bootId);
    const stored = this.insertBlocks(runId, blocks);
    const inserted = stored.reduce((n, b) => n + b.count, 0);
    const insertGap = this.statement(INSERT_GAP);
    const insertedGaps: Gap[] = gaps.filter((g) => insertGap.run(gapValues(runId, g)).changes === 1);
    const progress = runProgressOfBlocks(stored, insertedGaps);
    if (progress) this.statement(ADVANCE_RUN).run(progress.lastSeq, progress.firstTimeNs, progress.lastTimeNs, runId);
    return { inserted, duplicates: count - inserted + repeatedInBatch, gapsInserted: insertedGaps.length };
  }

  /** Makes sure the agent has a hosts row (ListHosts shows it) and records its host name, once per store and name. */
  private recordHost(agentId: string, hostname: string): void {
    const key = `${agentId}\u0000${hostname}`;
    if (this.hostsRecorded.has(key)) return;
    this.statement(UPSERT_HOST_FROM_INGEST).run(agentId, hostname, nowNs());
    this.hostsRecorded.add(key);
  }

  /**
   * Stores the blocks (in seq order) as not derived yet; should some of their events be stored already
   * (a replay), only the others, in blocks of their own. Returns the blocks stored.
   */
  private insertBlocks(runId: bigint, blocks: EventBlock[]): EventBlock[] {
    if (blocks.length === 0) return blocks;
    const overlapping = this.statement(OVERLAPPING_BLOCKS_SQL).pluck().all(runId, blocks[0].firstSeq, blocks[blocks.length - 1].lastSeq) as Uint8Array[];
    let fresh = blocks;
    if (overlapping.length > 0) {
      const events = blocks.flatMap((b) => decodeEventBlock(b.events));
      fresh = encodeEventBlocks(notStoredYet(events, overlapping));
    }
    const insert = this.statement(INSERT_UNDERIVED_BLOCK);
    for (const block of fresh) insert.run(...blockValues(runId, block));
    return fresh;
  }

  // Deriving connection rows. Ingest stores events only (~1.5 µs an event here, the rows 7-10); the rows are
  // written by a pass of their own, a chunk per transaction, in (run, seq) order, that starts when no
  // ingest came for IDLE_MS and gives way to the next one: during a burst the thread receives, and the
  // rows follow when it is over, or when the trail is full (ingest then derives before it returns).
  // Queries derive what is pending first, so they answer as if the rows had been written at ingest. A
  // crash loses nothing: a block and its rows are marked derived in one transaction, and the next start
  // derives what was not.

  /** (Re)starts the wait for a quiet moment, after which the background pass derives until nothing is pending or an ingest comes. */
  private scheduleDerivation(): void {
    clearTimeout(this.idleTimer);
    clearImmediate(this.step);
    this.step = undefined;
    const due = this.backgroundDerivation && this.underived > 0 && this.db.open;
    this.idleTimer = due ? setTimeout(() => this.deriveInBackground(), IDLE_MS) : undefined;
  }

  private deriveInBackground(): void {
    this.idleTimer = undefined;
    this.step = undefined;
    try {
      if (this.deriveTransaction(BACKGROUND_CHUNK) === 0) this.underived = 0;
    } catch {
      // Left pending: the next ingest tries again, and a query derives it or fails with the reason.
      return;
    }
    // setImmediate: a call that came meanwhile runs first (the thread store's messages); an ingest cancels this step.
    if (this.underived > 0) this.step = setImmediate(() => this.deriveInBackground());
  }

  /** Derives until at most `events` are pending (or nothing is). */
  private deriveDownTo(events: number): void {
    while (this.underived > Math.max(events, 0)) {
      if (this.deriveTransaction(DERIVATION_CHUNK) === 0) this.underived = 0;
    }
  }

  /** Derives everything pending, also what another store on this file stored: what a query waits for. */
  private deriveAll(): void {
    if (this.underived <= 0 && this.statement(ANY_UNDERIVED).get() === undefined) return;
    while (this.deriveTransaction(DERIVATION_CHUNK) > 0);
    this.underived = 0;
  }

  /** Writes the connection rows of about `maxEvents` pending events (whole blocks); runs inside one transaction. Returns the events derived. */
  private deriveNow(maxEvents: number): number {
    const chunk: Row[] = [];
    let events = 0;
    // Collected first: better-sqlite3 runs nothing else on the connection while a statement iterates.
    for (const row of this.statement(SELECT_UNDERIVED).iterate() as IterableIterator<Row>) {
      chunk.push(row);
      events += Number(row.count);
      if (events >= maxEvents) break;
    }
    const markDerived = this.statement(MARK_DERIVED);
    for (let i = 0; i < chunk.length; ) {
      const runId = big(chunk[i].run_id);
      const runEvents: StoredEvent[] = [];
      for (; i < chunk.length && big(chunk[i].run_id) === runId; i++) {
        for (const e of decodeEventBlock(chunk[i].events as Uint8Array)) runEvents.push(e);
        markDerived.run(runId, chunk[i].first_seq);
      }
      // Blocks are in first_seq order, their events in seq order; blocks whose ranges interleave (a late batch) are not.
      if (!ascending(runEvents)) runEvents.sort((a, b) => (a.seq < b.seq ? -1 : 1));
      this.deriveConnections(runId, runEvents);
    }
    this.underived = Math.max(0, this.underived - events);
    return events;
  }

  /** Brings the connection rows of one run's events (in seq order) up to date. */
  private deriveConnections(runId: bigint, events: readonly StoredEvent[]): void {
    const groups = groupByConnection(events);
    if (groups.size === 0) return;
    const rows = this.statement(SELECT_CONNECTIONS).all(runId, `[${[...groups.keys()].join(',')}]`) as Row[];
    const stored = new Map<bigint, Row>(rows.map((r) => [big(r.cookie), r]));
    for (const [cookie, connectionEvents] of groups) this.updateConnection(runId, cookie, stored.get(cookie), connectionEvents);
  }

  /** The run_id of an agent run, created on its first batch. */
  private runId(agentId: string, bootId: string): bigint {
    const key = `${agentId}\u0000${bootId}`;
    let runId = this.runIds.get(key);
    if (runId === undefined) {
      const row = this.statement(SELECT_RUN).get(agentId, bootId) as Row | undefined;
      runId = row ? big(row.run_id) : BigInt(this.statement(INSERT_RUN).run(agentId, bootId).lastInsertRowid);
      this.runIds.set(key, runId);
    }
    return runId;
  }

  /** Brings one connection's derived row (segments included; `row` as stored, if it is) up to date with its newly inserted events. */
  private updateConnection(runId: bigint, cookie: bigint, row: Row | undefined, events: ConnectionEvent[]): void {
    const stored = row ? storedConnectionOfRow(row) : undefined;
    let derived: DerivedConnection;
    if (stored && needsRebuild(stored.state, events)) {
      const [low, high] = rebuildRange(stored.state, events);
      const blocks = this.statement(OVERLAPPING_BLOCKS_SQL).pluck().all(runId, low, high) as Uint8Array[];
      derived = deriveConnection(undefined, eventsOfConnections(blocks, new Map([[cookie, [low, high] as const]])).get(cookie)!);
    } else {
      derived = deriveConnection(stored, events);
    }
    if (!row) this.statement(INSERT_CONNECTION).run(connectionValues(runId, derived, sqliteBool));
    else if (derived.wholeRow) this.statement(UPDATE_CONNECTION).run(...connectionValues(runId, derived, sqliteBool).slice(2), runId, cookie);
    else this.statement(UPDATE_PROGRESS).run(...progressValues(derived, sqliteBool), runId, cookie);
  }

  async cursor(agentId: string): Promise<StoreCursor | undefined> {
    return this.queries.cursor(agentId);
  }

  async upsertHost(host: HostUpdate): Promise<void> {
    // The next ingest records the agent's own host name again, whatever this sets.
    for (const key of this.hostsRecorded) if (key.startsWith(`${host.agentId}\u0000`)) this.hostsRecorded.delete(key);
    this.statement(`INSERT INTO hosts (agent_id, hostname, address, boot_id, strategies, updated_ns) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (agent_id) DO UPDATE SET
        hostname = coalesce(?, hostname), address = coalesce(?, address), boot_id = coalesce(?, boot_id),
        strategies = coalesce(?, strategies), updated_ns = excluded.updated_ns`).run(
      ...hostValues(host),
    );
  }

  async listHosts(): Promise<Host[]> {
    return this.queries.listHosts();
  }

  async acquireLeases(replicaId: string, agentIds: readonly string[], ttlMs: number): Promise<string[]> {
    // One collector per SQLite file: every lease is granted, and recorded so ListHosts names the owner.
    const expires = nowNs() + BigInt(Math.round(ttlMs)) * 1_000_000n;
    const grant = this.statement(`INSERT INTO leases (agent_id, replica_id, expires_ns) VALUES (?, ?, ?)
      ON CONFLICT (agent_id) DO UPDATE SET replica_id = excluded.replica_id, expires_ns = excluded.expires_ns`);
    this.db.transaction(() => {
      for (const agentId of agentIds) grant.run(agentId, replicaId, expires);
    })();
    return [...new Set(agentIds)].sort();
  }

  async releaseLeases(replicaId: string, agentIds?: readonly string[]): Promise<void> {
    if (agentIds === undefined) {
      this.statement('DELETE FROM leases WHERE replica_id = ?').run(replicaId);
      return;
    }
    const release = this.statement('DELETE FROM leases WHERE replica_id = ? AND agent_id = ?');
    this.db.transaction(() => {
      for (const agentId of agentIds) release.run(replicaId, agentId);
    })();
  }

  async heartbeat(replicaId: string, ttlMs: number): Promise<ReplicaView> {
    const now = nowNs();
    const rows = this.db.transaction(() => {
      this.statement(`INSERT INTO replicas (replica_id, expires_ns) VALUES (?, ?)
        ON CONFLICT (replica_id) DO UPDATE SET expires_ns = excluded.expires_ns`).run(replicaId, now + BigInt(Math.round(ttlMs)) * 1_000_000n);
      return this.statement(`SELECT replica_id AS id, NULL AS owner FROM replicas WHERE expires_ns > ?
        UNION ALL SELECT agent_id, replica_id FROM leases WHERE expires_ns > ?`).all(now, now) as Row[];
    })();
    return replicaViewOfRows(rows);
  }

  async leave(replicaId: string): Promise<void> {
    this.db.transaction(() => {
      this.statement('DELETE FROM leases WHERE replica_id = ?').run(replicaId);
      this.statement('DELETE FROM replicas WHERE replica_id = ?').run(replicaId);
    })();
  }

  async queryTimeline(query: TimelineQuery): Promise<QueryTimelineResponse> {
    this.deriveAll();
    return this.queries.queryTimeline(query);
  }

  async getConnection(ref: ConnectionKey): Promise<ConnectionTimeline | undefined> {
    this.deriveAll();
    return this.queries.getConnection(ref);
  }

  async findConnectionByEndpoints(local: EndpointSpec, remote: EndpointSpec, at: TimeInput): Promise<ConnectionTimeline | undefined> {
    this.deriveAll();
    return this.queries.findConnectionByEndpoints(local, remote, at);
  }

  async findPeer(connection: ConnectionTimeline): Promise<PeerLookup> {
    this.deriveAll();
    return this.queries.findPeer(connection);
  }

  async gaps(window: TimeWindow, hosts?: readonly string[]): Promise<Gap[]> {
    return this.queries.gaps(window, hosts);
  }

  async stats(query: StatsQuery): Promise<GetStatsResponse> {
    this.deriveAll();
    return this.queries.stats(query);
  }

  async deleteOlderThan(time: TimeInput): Promise<RetentionResult> {
    this.deriveAll();
    const result: RetentionResult = { events: 0, connections: 0, segments: 0, gaps: 0 };
    this.db.transaction(() => {
      for (const { what, statement, counts } of retentionStatements(toNs(time))) {
        const prepared = this.statement(statement.text);
        const n = counts ? Number((prepared.get(...statement.params) as Row).n) : prepared.run(...statement.params).changes;
        if (what) result[what] = n;
      }
    }).immediate();
    return result;
  }

  async rowsPending(): Promise<number> {
    return this.underived;
  }

  async close(): Promise<void> {
    // What is not derived yet stays marked so: the next open derives it.
    clearTimeout(this.idleTimer);
    clearImmediate(this.step);
    if (this.db.open) this.db.close();
  }

  private all(query: Sql): Row[] {
    return this.statement(query.text).all(...query.params) as Row[];
  }

  /** Prepared statements by text; queries built from filters vary, so the cache is bounded. */
  private statement(text: string): Database.Statement {
    if (!this.db.open) throw new StoreError(`the SQLite store in ${this.location} is closed`);
    let statement = this.cache.get(text);
    if (!statement) {
      if (this.cache.size >= 500) this.cache.clear();
      statement = this.db.prepare(text);
      this.cache.set(text, statement);
    }
    return statement;
  }
}

/**
 * mkdir -p, one level at a time from the deepest directory that exists: Node's recursive mkdirSync
 * never returns for a path under /proc (it retries the parent forever), and a typo in --store must fail.
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let at = dir; !existsSync(at) && dirname(at) !== at; at = dirname(at)) missing.unshift(at);
  for (const at of missing) mkdirSync(at);
}

/** Whether events are in ascending seq order. */
function ascending(events: readonly StoredEvent[]): boolean {
  for (let i = 1; i < events.length; i++) if (events[i].seq <= events[i - 1].seq) return false;
  return true;
}

/** Values for upsertHost's statement: the insert row, then the updates (null keeps the stored value). */
function hostValues(host: HostUpdate): unknown[] {
  const strategies = host.strategies ? JSON.stringify(host.strategies.map((s) => toJson(CaptureStrategySchema, s))) : undefined;
  return [
    host.agentId, host.hostname ?? '', host.address ?? '', host.bootId ?? '', strategies ?? '[]', nowNs(),
    host.hostname ?? null, host.address ?? null, host.bootId ?? null, strategies ?? null,
  ];
}

function migrate(db: Database.Database, location: string, progress: (message: string) => void): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)');
  const latest = Math.max(...sqliteMigrations.map((m) => m.version));
  const current = () => Number((db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get() as Row).v);
  if (current() > latest) throw new SchemaVersionError(newerSchemaMessage(location, current(), latest));
  // A new store is created in one line; an existing one is told each step of its upgrade.
  const creating = current() === 0;
  const say = creating ? () => undefined : progress;
  for (const migration of sqliteMigrations) {
    db.transaction(() => {
      if (current() >= migration.version) return;
      const started = performance.now();
      say(migrationStartMessage(location, migration));
      db.exec(migration.sql);
      if (migration.convert === 'inline-segments') inlineSegments(db);
      if (migration.convert === 'event-blocks') eventBlocks(db, say);
      if (migration.finish) db.exec(migration.finish);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)').run(migration.version, migration.name, nowNs());
      say(migrationDoneMessage(migration, started));
    }).immediate();
  }
  if (creating) progress(createdMessage(location, latest));
}

/** Schema version 3's data step: each connection's rows of the segments table become its segments BLOB. */
function inlineSegments(db: Database.Database): void {
  const nextKeys = db.prepare('SELECT run_id, cookie FROM connections WHERE (run_id, cookie) > (?, ?) ORDER BY run_id, cookie LIMIT 1000');
  const segmentsOf = db.prepare('SELECT * FROM segments WHERE run_id = ? AND cookie = ? ORDER BY idx');
  const update = db.prepare('UPDATE connections SET segments = ?, segment_count = ? WHERE run_id = ? AND cookie = ?');
  let after: [unknown, unknown] = [-(2n ** 63n), -(2n ** 63n)];
  for (;;) {
    const keys = nextKeys.all(...after) as Row[];
    if (keys.length === 0) return;
    for (const k of keys) {
      const segments = (segmentsOf.all(k.run_id, k.cookie) as Row[]).map(segmentOfRow);
      update.run(encodeSegments(segments), segments.length, k.run_id, k.cookie);
    }
    after = [keys.at(-1)!.run_id, keys.at(-1)!.cookie];
  }
}

/** Schema version 5's data step: the rows of the events table become blocks (of at most 1,000 events). */
function eventBlocks(db: Database.Database, progress: (message: string) => void): void {
  const next = db.prepare('SELECT * FROM events WHERE (run_id, seq) > (?, ?) ORDER BY run_id, seq LIMIT 1000');
  const insert = db.prepare(INSERT_BLOCK_SQL);
  const report = conversionProgress(Number((db.prepare('SELECT count(*) AS n FROM events').get() as Row).n), progress);
  let after: [unknown, unknown] = [-(2n ** 63n), -(2n ** 63n)];
  for (;;) {
    const rows = next.all(...after) as Row[];
    if (rows.length === 0) return;
    for (const { runId, block } of eventBlocksOfRows(rows)) insert.run(...blockValues(runId, block));
    report(rows.length);
    after = [rows.at(-1)!.run_id, rows.at(-1)!.seq];
  }
}

/** The key that signs page tokens, created once per store. */
function pageTokenKey(db: Database.Database): Buffer {
  db.prepare("INSERT INTO store_meta (key, value) VALUES ('page_token_key', ?) ON CONFLICT DO NOTHING").run(randomBytes(32).toString('hex'));
  const row = db.prepare("SELECT value FROM store_meta WHERE key = 'page_token_key'").get() as Row;
  return Buffer.from(String(row.value), 'hex');
}
