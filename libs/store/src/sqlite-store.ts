// The embedded store: one SQLite file (WAL) in a data directory, written by
// one collector. better-sqlite3 is synchronous, so each method runs to its end
// without interleaving with another: a transaction never sees a half-written
// batch of another caller.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import { toJson } from '@bufbuild/protobuf';
import { CaptureStrategySchema, type ConnectionTimeline, type Gap, type GetStatsResponse, type Host, type QueryTimelineResponse } from '@tcpstate/proto';
import Database from 'better-sqlite3';
import { applyEvents, type ConnectionEvent } from './connection-builder.js';
import { SchemaVersionError, StoreError, StoreUnavailableError } from './errors.js';
import type {
  ConnectionKey,
  EndpointSpec,
  EventStore,
  HostUpdate,
  IngestBatch,
  IngestResult,
  PeerLookup,
  RetentionResult,
  StatsQuery,
  StoreCursor,
  TimelineQuery,
  TimeWindow,
} from './event-store.js';
import {
  type BatchEvent,
  runProgress,
  CONNECTION_COLUMN_NAMES,
  connectionValues,
  EVENT_COLUMNS,
  eventValues,
  GAP_COLUMNS,
  gapValues,
  groupByConnection,
  needsRebuild,
  prepareBatch,
  SEGMENT_COLUMNS,
  segmentValues,
} from './ingest-plan.js';
import { StoreQueries } from './queries.js';
import { retentionStatements } from './retention.js';
import { big, connectionEventOfRow, connectionStateOfRow, segmentOfRow } from './row-mapping.js';
import { newerSchemaMessage, sqliteMigrations } from './schema.js';
import { type Row, type Sql, sql, type SqlRunner } from './sql.js';
import { nowNs, type TimeInput, toNs } from './time.js';

/** The database file inside the data directory. */
export const SQLITE_FILE = 'tcpstate.db';

const sqliteBool = (b: boolean) => (b ? 1 : 0);
const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

// Statements of ingest, written once (the statement cache is keyed by text).
const INSERT_EVENT = `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES (${placeholders(EVENT_COLUMNS.length)}) ON CONFLICT DO NOTHING`;
const INSERT_GAP = `INSERT INTO gaps (${GAP_COLUMNS.join(', ')}) VALUES (${placeholders(GAP_COLUMNS.length)}) ON CONFLICT DO NOTHING`;
const SELECT_RUN = 'SELECT run_id FROM runs WHERE agent_id = ? AND boot_id = ?';
// A new run starts with an empty time range (first > last); its first insert sets it.
const INSERT_RUN = 'INSERT INTO runs (agent_id, boot_id, last_seq, first_time_ns, last_time_ns) VALUES (?, ?, 0, 9223372036854775807, 0)';
const SELECT_CONNECTION = 'SELECT * FROM connections WHERE run_id = ? AND cookie = ?';
const SELECT_SEGMENT = 'SELECT * FROM segments WHERE run_id = ? AND cookie = ? AND idx = ?';
const SELECT_CONNECTION_EVENTS = 'SELECT * FROM events WHERE run_id = ? AND cookie = ? ORDER BY seq';
const DELETE_SEGMENTS = 'DELETE FROM segments WHERE run_id = ? AND cookie = ?';
const UPSERT_CONNECTION = `INSERT INTO connections (${CONNECTION_COLUMN_NAMES.join(', ')}) VALUES (${placeholders(CONNECTION_COLUMN_NAMES.length)})
  ON CONFLICT (run_id, cookie) DO UPDATE SET ${CONNECTION_COLUMN_NAMES.slice(2).map((c) => `${c} = excluded.${c}`).join(', ')}`;
const UPSERT_SEGMENT = `INSERT OR REPLACE INTO segments (${SEGMENT_COLUMNS.join(', ')}) VALUES (${placeholders(SEGMENT_COLUMNS.length)})`;
const ADVANCE_RUN = `UPDATE runs SET last_seq = max(last_seq, ?), first_time_ns = min(first_time_ns, ?), last_time_ns = max(last_time_ns, ?)
  WHERE run_id = ?`;
const UPSERT_HOST_FROM_INGEST = `INSERT INTO hosts (agent_id, hostname, address, boot_id, strategies, updated_ns) VALUES (?, ?, '', '', '[]', ?)
  ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname WHERE excluded.hostname <> ''`;

/** SQLite behind EventStore. Open with SqliteStore.open(dir) or openStore(dir). */
export class SqliteStore implements EventStore {
  readonly kind = 'sqlite' as const;
  readonly shared = false;
  private readonly queries: StoreQueries;
  private readonly cache = new Map<string, Database.Statement>();
  private readonly ingestTransaction: (agentId: string, bootId: string, batch: IngestBatch, hostname?: string) => IngestResult;

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    const runner: SqlRunner = {
      dialect: 'sqlite',
      all: async (query: Sql) => this.all(query),
      nowNs: () => sql`${nowNs()}`,
    };
    this.queries = new StoreQueries(runner, pageTokenKey(db));
    this.ingestTransaction = db.transaction(this.ingestNow.bind(this));
  }

  /** Opens (creating when needed) the store in `dir`, applying pending migrations. */
  static open(dir: string): SqliteStore {
    const location = resolve(dir);
    let db: Database.Database;
    try {
      mkdirSync(location, { recursive: true });
      db = new Database(joinPath(location, SQLITE_FILE), { timeout: 5000 });
    } catch (error) {
      throw new StoreUnavailableError(`cannot open the SQLite store in ${location}: ${(error as Error).message}`);
    }
    try {
      db.pragma('journal_mode = WAL');
      // With WAL, NORMAL survives a crash of the process (a SIGKILL); only an OS crash may lose the newest commits.
      db.pragma('synchronous = NORMAL');
      db.pragma('cache_size = -65536'); // 64 MiB of pages: index updates at ingest stay in memory

      db.defaultSafeIntegers(true);
      migrate(db, location);
      return new SqliteStore(db, location);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async ingest(agentId: string, bootId: string, batch: IngestBatch, hostname?: string): Promise<IngestResult> {
    return this.ingestTransaction(agentId, bootId, batch, hostname);
  }

  /** The body of ingest; runs inside one SQLite transaction. */
  private ingestNow(agentId: string, bootId: string, batch: IngestBatch, hostname?: string): IngestResult {
    const prepared = prepareBatch(agentId, bootId, batch);
    this.statement(UPSERT_HOST_FROM_INGEST).run(agentId, hostname ?? '', nowNs());
    if (prepared.events.length === 0 && prepared.gaps.length === 0) return { inserted: 0, duplicates: 0, gapsInserted: 0 };
    const runId = this.runId(agentId, bootId);
    const insertEvent = this.statement(INSERT_EVENT);
    const inserted: BatchEvent[] = prepared.events.filter((e) => insertEvent.run(eventValues(runId, e)).changes === 1);
    const insertGap = this.statement(INSERT_GAP);
    const insertedGaps: Gap[] = prepared.gaps.filter((g) => insertGap.run(gapValues(runId, g)).changes === 1);

    for (const [cookie, events] of groupByConnection(inserted)) this.deriveConnection(runId, cookie, events);

    const progress = runProgress(inserted, insertedGaps);
    if (progress) this.statement(ADVANCE_RUN).run(progress.lastSeq, progress.firstTimeNs, progress.lastTimeNs, runId);
    return {
      inserted: inserted.length,
      duplicates: prepared.events.length - inserted.length + prepared.repeatedInBatch,
      gapsInserted: insertedGaps.length,
    };
  }

  /** The run_id of an agent run, created on its first batch. */
  private runId(agentId: string, bootId: string): bigint {
    const row = this.statement(SELECT_RUN).get(agentId, bootId) as Row | undefined;
    return row ? big(row.run_id) : BigInt(this.statement(INSERT_RUN).run(agentId, bootId).lastInsertRowid);
  }

  /** Brings one connection's derived row and segments up to date with its newly inserted events. */
  private deriveConnection(runId: bigint, cookie: bigint, events: ConnectionEvent[]): void {
    const row = this.statement(SELECT_CONNECTION).get(runId, cookie) as Row | undefined;
    const state = row ? connectionStateOfRow(row) : undefined;
    let applied;
    if (needsRebuild(state, events)) {
      const all = (this.statement(SELECT_CONNECTION_EVENTS).all(runId, cookie) as Row[]).map(connectionEventOfRow);
      this.statement(DELETE_SEGMENTS).run(runId, cookie);
      applied = applyEvents(undefined, undefined, all);
    } else {
      const lastRow = state
        ? (this.statement(SELECT_SEGMENT).get(runId, cookie, state.segmentCount - 1) as Row | undefined)
        : undefined;
      applied = applyEvents(state, lastRow ? segmentOfRow(lastRow) : undefined, events);
    }
    this.statement(UPSERT_CONNECTION).run(connectionValues(runId, applied.state, sqliteBool));
    const upsertSegment = this.statement(UPSERT_SEGMENT);
    for (const segment of applied.segments) upsertSegment.run(segmentValues(runId, cookie, segment, sqliteBool));
  }

  async cursor(agentId: string): Promise<StoreCursor | undefined> {
    return this.queries.cursor(agentId);
  }

  async upsertHost(host: HostUpdate): Promise<void> {
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

  async queryTimeline(query: TimelineQuery): Promise<QueryTimelineResponse> {
    return this.queries.queryTimeline(query);
  }

  async getConnection(ref: ConnectionKey): Promise<ConnectionTimeline | undefined> {
    return this.queries.getConnection(ref);
  }

  async findConnectionByEndpoints(local: EndpointSpec, remote: EndpointSpec, at: TimeInput): Promise<ConnectionTimeline | undefined> {
    return this.queries.findConnectionByEndpoints(local, remote, at);
  }

  async findPeer(connection: ConnectionTimeline): Promise<PeerLookup> {
    return this.queries.findPeer(connection);
  }

  async gaps(window: TimeWindow, hosts?: readonly string[]): Promise<Gap[]> {
    return this.queries.gaps(window, hosts);
  }

  async stats(query: StatsQuery): Promise<GetStatsResponse> {
    return this.queries.stats(query);
  }

  async deleteOlderThan(time: TimeInput): Promise<RetentionResult> {
    const result: RetentionResult = { events: 0, connections: 0, segments: 0, gaps: 0 };
    this.db.transaction(() => {
      for (const { what, statement } of retentionStatements(toNs(time))) {
        result[what] = this.statement(statement.text).run(...statement.params).changes;
      }
    })();
    return result;
  }

  async close(): Promise<void> {
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

/** Values for upsertHost's statement: the insert row, then the updates (null keeps the stored value). */
function hostValues(host: HostUpdate): unknown[] {
  const strategies = host.strategies ? JSON.stringify(host.strategies.map((s) => toJson(CaptureStrategySchema, s))) : undefined;
  return [
    host.agentId, host.hostname ?? '', host.address ?? '', host.bootId ?? '', strategies ?? '[]', nowNs(),
    host.hostname ?? null, host.address ?? null, host.bootId ?? null, strategies ?? null,
  ];
}

function migrate(db: Database.Database, location: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)');
  const latest = Math.max(...sqliteMigrations.map((m) => m.version));
  const current = () => Number((db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get() as Row).v);
  if (current() > latest) throw new SchemaVersionError(newerSchemaMessage(location, current(), latest));
  for (const migration of sqliteMigrations) {
    db.transaction(() => {
      if (current() >= migration.version) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)').run(migration.version, migration.name, nowNs());
    }).immediate();
  }
}

/** The key that signs page tokens, created once per store. */
function pageTokenKey(db: Database.Database): Buffer {
  db.prepare("INSERT INTO store_meta (key, value) VALUES ('page_token_key', ?) ON CONFLICT DO NOTHING").run(randomBytes(32).toString('hex'));
  const row = db.prepare("SELECT value FROM store_meta WHERE key = 'page_token_key'").get() as Row;
  return Buffer.from(String(row.value), 'hex');
}
