// The shared store: PostgreSQL through a pg Pool, for several collector
// replicas at once. Concurrency is handled by the database: ON CONFLICT for
// idempotent inserts, row locks on the connection rows a batch derives, lease
// upserts conditioned on expiry, an advisory lock around migrations.
import { randomBytes } from 'node:crypto';
import { toJson } from '@bufbuild/protobuf';
import {
  CaptureStrategySchema,
  type ConnectionTimeline,
  type Gap,
  type GetStatsResponse,
  type Host,
  type QueryTimelineResponse,
} from '@tcpstate/proto';
import pg from 'pg';
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
  prepareBatch,
  PROGRESS_COLUMN_NAMES,
  progressValues,
  rebuildRange,
  runProgress,
  type StoredConnection,
} from './ingest-plan.js';
import { columnLiterals, type PgArrayType } from './pg-arrays.js';
import { encodeEventBlocks, type StoredEvent } from './event-block.js';
import { StoreQueries } from './queries.js';
import { retentionStatements } from './retention.js';
import { replicaViewOfRows } from './replica-view.js';
import { big, eventBlocksOfRows, segmentOfRow, storedConnectionOfRow } from './row-mapping.js';
import { encodeSegments } from './segment-codec.js';
import { conversionProgress, createdMessage, migrationDoneMessage, migrationStartMessage, newerSchemaMessage, postgresMigrations } from './schema.js';
import { numberedPlaceholders, raw, type Row, type Sql, type SqlRunner } from './sql.js';
import { nowNs, type TimeInput, toNs } from './time.js';

/** Serialises migrations of concurrent replicas (an arbitrary constant: "tcpstat" in ASCII). */
const MIGRATION_LOCK = 0x74637073746174n;
/** The database clock in ns: lease expiry is judged by one clock, not by each replica's. */
const DB_NOW_NS = '(floor(extract(epoch from clock_timestamp()) * 1000000)::bigint * 1000)';

const INSERT_BLOCK = numberedPlaceholders(INSERT_BLOCK_SQL);
const OVERLAPPING_BLOCKS = numberedPlaceholders(OVERLAPPING_BLOCKS_SQL);
/** PostgreSQL column types of the arrays a batch is sent as (unnest), per column. */
const GAP_TYPES: Record<(typeof GAP_COLUMNS)[number], PgArrayType> = {
  run_id: 'bigint', reason: 'smallint', count: 'bigint', first_seq: 'bigint', last_seq: 'bigint',
  time_ns: 'bigint', message: 'text',
};
const CONNECTION_TYPES: Record<(typeof CONNECTION_COLUMN_NAMES)[number], PgArrayType> = {
  run_id: 'bigint', cookie: 'bigint', family: 'smallint', local_address: 'text', local_port: 'integer',
  remote_address: 'text', remote_port: 'integer', local_key: 'bytea', remote_key: 'bytea', side: 'smallint', pid: 'bigint',
  comm: 'text', netns: 'bigint', first_seen_ns: 'bigint', last_seen_ns: 'bigint', open: 'boolean',
  time_wait_observed_by: 'smallint', entered_states: 'integer', left_states: 'integer', first_seq: 'bigint', last_seq: 'bigint',
  segment_count: 'integer', segments: 'bytea',
};

/** A connection row to write: its key and what was derived. */
interface ConnectionWrite {
  cookie: bigint;
  derived: DerivedConnection;
}

/** int8 as bigint (pg's default is text); everything else as pg parses it. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === pg.types.builtins.INT8) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/** A pg client or pool: both run queries. */
type Queryable = Pick<pg.PoolClient, 'query'>;

/** PostgreSQL behind EventStore. Open with PostgresStore.open(url) or openStore(url). */
export class PostgresStore implements EventStore {
  readonly kind = 'postgres' as const;
  readonly shared = true;
  private queries!: StoreQueries;
  /** run_id by agent_id + NUL + boot_id, learnt from committed transactions (runs are never removed). */
  private readonly runIds = new Map<string, bigint>();
  /** Agent id + NUL + host name already recorded by a committed ingest (repeated every batch otherwise). */
  private readonly hostsRecorded = new Set<string>();
  /** The newest error of an idle pooled connection (they come while the server restarts). */
  lastIdleError: Error | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
  ) {
    // Without a listener, an idle connection dropped by the server would crash the process.
    pool.on('error', (error) => {
      this.lastIdleError = error;
    });
  }

  /** Connects, applies pending migrations, and returns the store. */
  static async open(url: string, options: StoreOpenOptions & { maxConnections?: number } = {}): Promise<PostgresStore> {
    const location = redact(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      types,
      application_name: 'tcpstate-collector',
    });
    const store = new PostgresStore(pool, location);
    try {
      await store.migrate(options.onProgress ?? (() => undefined));
      const runner: SqlRunner = {
        dialect: 'postgres',
        all: (query: Sql) => store.run(pool, numberedPlaceholders(query.text), query.params as unknown[]),
        nowNs: () => raw(DB_NOW_NS),
      };
      store.queries = new StoreQueries(runner, await store.pageTokenKey());
      return store;
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
  }

  async ingest(agentId: string, bootId: string, batch: IngestBatch, hostname?: string): Promise<IngestResult> {
    const prepared = prepareBatch(agentId, bootId, batch);
    const hostKey = `${agentId}\u0000${hostname ?? ''}`;
    const runKey = `${agentId}\u0000${bootId}`;
    // What the transaction learns is remembered only once it has committed (a rolled-back run row never existed).
    const { result, runId } = await this.transaction(async (client) => {
      if (!this.hostsRecorded.has(hostKey)) {
        await this.run(
          client,
          `INSERT INTO hosts (agent_id, hostname, address, boot_id, strategies, updated_ns) VALUES ($1, $2, '', '', '[]', $3)
           ON CONFLICT (agent_id) DO UPDATE SET hostname = EXCLUDED.hostname
           WHERE EXCLUDED.hostname <> '' AND hosts.hostname IS DISTINCT FROM EXCLUDED.hostname`,
          [agentId, hostname ?? '', nowNs()],
        );
      }
      if (prepared.events.length === 0 && prepared.gaps.length === 0) {
        return { result: { inserted: 0, duplicates: 0, gapsInserted: 0 }, runId: undefined };
      }
      const runId = this.runIds.get(runKey) ?? (await this.runId(client, agentId, bootId));
      // 1. Events, once each, as a block (event-block.ts). The run's row is locked first: two replicas briefly
      //    ingesting one agent take turns, and the second sees the first's block among those overlapping its batch.
      let inserted: StoredEvent[] = [];
      if (prepared.events.length > 0) {
        await this.run(client, 'SELECT 1 FROM runs WHERE run_id = $1 FOR UPDATE', [runId]);
        const overlapping = await this.run(client, OVERLAPPING_BLOCKS, [runId, prepared.events[0].seq, prepared.events[prepared.events.length - 1].seq]);
        inserted = notStoredYet(prepared.events, overlapping.map((r) => r.events as Uint8Array));
        for (const block of encodeEventBlocks(inserted)) {
          await this.run(client, INSERT_BLOCK, blockValues(runId, block));
        }
      }
      // 2. Gaps, once each.
      let insertedGaps: Gap[] = [];
      if (prepared.gaps.length > 0) {
        const values = prepared.gaps.map((g) => gapValues(runId, g));
        const rows = await this.run(
          client,
          `INSERT INTO gaps (${GAP_COLUMNS.join(', ')}) ${unnestSelect(GAP_COLUMNS, GAP_TYPES)}
           ON CONFLICT DO NOTHING RETURNING reason, first_seq, last_seq, time_ns`,
          columnLiterals(values, GAP_COLUMNS.map((c) => GAP_TYPES[c])),
        );
        // values[i] follows GAP_COLUMNS: run_id, reason, count, first_seq, last_seq, time_ns, message.
        const stored = new Set(rows.map((r) => `${r.reason}/${r.first_seq}/${r.last_seq}/${r.time_ns}`));
        insertedGaps = prepared.gaps.filter((_, i) => stored.delete(`${values[i][1]}/${values[i][3]}/${values[i][4]}/${values[i][5]}`));
      }
      // 3. The derived rows of the connections those events belong to.
      const groups = groupByConnection(inserted);
      if (groups.size > 0) await this.deriveConnections(client, runId, groups);
      // 4. The resume cursor.
      const progress = runProgress(inserted, insertedGaps);
      if (progress) {
        await this.run(
          client,
          `UPDATE runs SET last_seq = GREATEST(last_seq, $1), first_time_ns = LEAST(first_time_ns, $2),
             last_time_ns = GREATEST(last_time_ns, $3) WHERE run_id = $4`,
          [progress.lastSeq, progress.firstTimeNs, progress.lastTimeNs, runId],
        );
      }
      const result: IngestResult = {
        inserted: inserted.length,
        duplicates: prepared.events.length - inserted.length + prepared.repeatedInBatch,
        gapsInserted: insertedGaps.length,
      };
      return { result, runId };
    });
    this.hostsRecorded.add(hostKey);
    if (runId !== undefined) this.runIds.set(runKey, runId);
    return result;
  }

  /**
   * The run_id of an agent run, created on its first batch. Looked up again
   * when the insert found a row: READ COMMITTED shows the other replica's
   * committed row to the next statement, not to the insert's own snapshot.
   */
  private async runId(client: pg.PoolClient, agentId: string, bootId: string): Promise<bigint> {
    const select = () => this.run(client, 'SELECT run_id FROM runs WHERE agent_id = $1 AND boot_id = $2', [agentId, bootId]);
    const found = await select();
    if (found.length > 0) return big(found[0].run_id);
    // A new run starts with an empty time range (first > last); its first insert sets it.
    const created = await this.run(
      client,
      `INSERT INTO runs (agent_id, boot_id, last_seq, first_time_ns, last_time_ns) VALUES ($1, $2, 0, 9223372036854775807, 0)
       ON CONFLICT (agent_id, boot_id) DO NOTHING RETURNING run_id`,
      [agentId, bootId],
    );
    return big((created[0] ?? (await select())[0]).run_id);
  }

  /**
   * Locks the batch's existing connection rows (in cookie order, so that
   * concurrent batches cannot deadlock), derives, writes: updates for rows
   * that exist, one insert for new ones. A new row that another replica
   * inserted meanwhile (the insert finds it) is locked and derived again.
   */
  private async deriveConnections(client: pg.PoolClient, runId: bigint, groups: Map<bigint, ConnectionEvent[]>): Promise<void> {
    let pending = groups;
    while (pending.size > 0) {
      const cookies = [...pending.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const rows = await this.run(
        client,
        `SELECT * FROM connections WHERE run_id = $1 AND cookie = ANY($2::bigint[]) ORDER BY cookie FOR UPDATE`,
        [runId, `{${cookies.join(',')}}`],
      );
      const stored = new Map<bigint, StoredConnection | undefined>(rows.map((r) => [big(r.cookie), storedConnectionOfRow(r)]));
      const rebuilt = await this.eventsToRebuild(
        client,
        runId,
        [...pending].flatMap(([cookie, events]) => {
          const state = stored.get(cookie)?.state;
          return state && needsRebuild(state, events) ? [{ cookie, range: rebuildRange(state, events) }] : [];
        }),
      );

      const inserts: ConnectionWrite[] = [];
      const wholeRows: ConnectionWrite[] = [];
      const progress: ConnectionWrite[] = [];
      for (const cookie of cookies) {
        const all = rebuilt.get(cookie);
        const derived = all ? deriveConnection(undefined, all) : deriveConnection(stored.get(cookie), pending.get(cookie)!);
        if (!stored.has(cookie)) inserts.push({ cookie, derived });
        else (derived.wholeRow ? wholeRows : progress).push({ cookie, derived });
      }
      await this.updateConnections(client, runId, wholeRows, CONNECTION_COLUMN_NAMES.slice(2), (d) => connectionValues(runId, d, (b) => b).slice(2));
      await this.updateConnections(client, runId, progress, PROGRESS_COLUMN_NAMES, (d) => progressValues(d, (b) => b));

      const next = new Map<bigint, ConnectionEvent[]>();
      if (inserts.length > 0) {
        const created = await this.run(
          client,
          `INSERT INTO connections (${CONNECTION_COLUMN_NAMES.join(', ')}) ${unnestSelect(CONNECTION_COLUMN_NAMES, CONNECTION_TYPES)}
           ON CONFLICT DO NOTHING RETURNING cookie`,
          columnLiterals(inserts.map((w) => connectionValues(runId, w.derived, (b) => b)), CONNECTION_COLUMN_NAMES.map((c) => CONNECTION_TYPES[c])),
        );
        if (created.length < inserts.length) {
          const done = new Set(created.map((r) => big(r.cookie)));
          for (const w of inserts) if (!done.has(w.cookie)) next.set(w.cookie, pending.get(w.cookie)!);
        }
      }
      pending = next;
    }
  }

  /** All stored events of the connections that must be re-derived from the start (each in its seq range), by cookie: one read of the blocks. */
  private async eventsToRebuild(
    client: pg.PoolClient,
    runId: bigint,
    connections: { cookie: bigint; range: [bigint, bigint] }[],
  ): Promise<Map<bigint, ConnectionEvent[]>> {
    if (connections.length === 0) return new Map();
    const low = connections.reduce((m, c) => (c.range[0] < m ? c.range[0] : m), connections[0].range[0]);
    const high = connections.reduce((m, c) => (c.range[1] > m ? c.range[1] : m), connections[0].range[1]);
    const blocks = await this.run(client, OVERLAPPING_BLOCKS, [runId, low, high]);
    return eventsOfConnections(blocks.map((r) => r.events as Uint8Array), new Map(connections.map((c) => [c.cookie, c.range])));
  }

  /** Writes `columns` of existing connection rows, all in one statement. */
  private async updateConnections(
    client: pg.PoolClient,
    runId: bigint,
    writes: readonly ConnectionWrite[],
    columns: readonly (typeof CONNECTION_COLUMN_NAMES)[number][],
    values: (derived: DerivedConnection) => unknown[],
  ): Promise<void> {
    if (writes.length === 0) return;
    const keyed = ['cookie', ...columns] as const;
    await this.run(
      client,
      `UPDATE connections c SET ${columns.map((c) => `${c} = u.${c}`).join(', ')}
       FROM (${unnestSelect(keyed, CONNECTION_TYPES, 2)}) AS u WHERE c.run_id = $1 AND c.cookie = u.cookie`,
      [runId, ...columnLiterals(writes.map((w) => [w.cookie, ...values(w.derived)]), keyed.map((c) => CONNECTION_TYPES[c]))],
    );
  }

  async cursor(agentId: string): Promise<StoreCursor | undefined> {
    return this.queries.cursor(agentId);
  }

  async upsertHost(host: HostUpdate): Promise<void> {
    // The next ingest records the agent's own host name again, whatever this sets.
    for (const key of this.hostsRecorded) if (key.startsWith(`${host.agentId}\u0000`)) this.hostsRecorded.delete(key);
    const strategies = host.strategies ? JSON.stringify(host.strategies.map((s) => toJson(CaptureStrategySchema, s))) : null;
    await this.run(
      this.pool,
      `INSERT INTO hosts (agent_id, hostname, address, boot_id, strategies, updated_ns)
       VALUES ($1, coalesce($2, ''), coalesce($3, ''), coalesce($4, ''), coalesce($5, '[]'), $6)
       ON CONFLICT (agent_id) DO UPDATE SET hostname = coalesce($2, hosts.hostname), address = coalesce($3, hosts.address),
         boot_id = coalesce($4, hosts.boot_id), strategies = coalesce($5, hosts.strategies), updated_ns = EXCLUDED.updated_ns`,
      [host.agentId, host.hostname ?? null, host.address ?? null, host.bootId ?? null, strategies, nowNs()],
    );
  }

  async listHosts(): Promise<Host[]> {
    return this.queries.listHosts();
  }

  async acquireLeases(replicaId: string, agentIds: readonly string[], ttlMs: number): Promise<string[]> {
    if (agentIds.length === 0) return [];
    // ON CONFLICT DO UPDATE locks the existing row and re-checks the WHERE on
    // its newest version: of two replicas racing for a free or expired lease,
    // exactly one updates it; the other's WHERE then sees a live foreign lease.
    const rows = await this.run(
      this.pool,
      `INSERT INTO leases (agent_id, replica_id, expires_ns)
       SELECT DISTINCT agent, $1, ${DB_NOW_NS} + $2::bigint * 1000000 FROM unnest($3::text[]) AS agent
       ON CONFLICT (agent_id) DO UPDATE SET replica_id = EXCLUDED.replica_id, expires_ns = EXCLUDED.expires_ns
       WHERE leases.replica_id = EXCLUDED.replica_id OR leases.expires_ns <= ${DB_NOW_NS}
       RETURNING agent_id`,
      [replicaId, Math.round(ttlMs), [...agentIds]],
    );
    return rows.map((r) => String(r.agent_id)).sort();
  }

  async releaseLeases(replicaId: string, agentIds?: readonly string[]): Promise<void> {
    if (agentIds === undefined) await this.run(this.pool, 'DELETE FROM leases WHERE replica_id = $1', [replicaId]);
    else await this.run(this.pool, 'DELETE FROM leases WHERE replica_id = $1 AND agent_id = ANY($2::text[])', [replicaId, [...agentIds]]);
  }

  async heartbeat(replicaId: string, ttlMs: number): Promise<ReplicaView> {
    // One statement: the heartbeat row is upserted and, as the SELECTs see the
    // snapshot from before it, added to the answer from RETURNING.
    const rows = await this.run(
      this.pool,
      `WITH beat AS (
         INSERT INTO replicas (replica_id, expires_ns) VALUES ($1, ${DB_NOW_NS} + $2::bigint * 1000000)
         ON CONFLICT (replica_id) DO UPDATE SET expires_ns = EXCLUDED.expires_ns
         RETURNING replica_id)
       SELECT replica_id AS id, NULL AS owner FROM beat
       UNION ALL SELECT replica_id, NULL FROM replicas WHERE expires_ns > ${DB_NOW_NS} AND replica_id <> $1
       UNION ALL SELECT agent_id, replica_id FROM leases WHERE expires_ns > ${DB_NOW_NS}`,
      [replicaId, Math.round(ttlMs)],
    );
    return replicaViewOfRows(rows);
  }

  async leave(replicaId: string): Promise<void> {
    await this.transaction(async (client) => {
      await this.run(client, 'DELETE FROM leases WHERE replica_id = $1', [replicaId]);
      await this.run(client, 'DELETE FROM replicas WHERE replica_id = $1', [replicaId]);
    });
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
    const cutoff = toNs(time);
    return this.transaction(async (client) => {
      const result: RetentionResult = { events: 0, connections: 0, segments: 0, gaps: 0 };
      for (const { what, statement, counts } of retentionStatements(cutoff)) {
        const answer = await this.query(client, numberedPlaceholders(statement.text), statement.params as unknown[]);
        if (what) result[what] = counts ? Number(answer.rows[0].n) : (answer.rowCount ?? 0);
      }
      return result;
    });
  }

  async rowsPending(): Promise<number> {
    return 0; // written in the ingest transaction
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  /** Runs one statement and returns its rows. */
  private async run(db: Queryable, text: string, params: unknown[]): Promise<Row[]> {
    return (await this.query(db, text, params)).rows as Row[];
  }

  private async query(db: Queryable, text: string, params: unknown[]): Promise<pg.QueryResult> {
    try {
      return await db.query(text, params);
    } catch (error) {
      throw this.translate(error);
    }
  }

  /**
   * Runs fn in a transaction on one pooled connection. A deadlock or
   * serialisation failure (replicas racing on the same rows) is retried.
   */
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw this.translate(error);
      }
      let broken: Error | undefined;
      // A checked-out client has no error listener of the pool's: without this
      // one, the server dropping the connection mid-transaction (a restart)
      // would be an unhandled 'error' event and end the process.
      const onError = (error: Error) => {
        broken = error;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError; // the connection is unusable: the pool must drop it
        });
        const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
        if ((code === '40P01' || code === '40001') && attempt < 5) continue;
        throw this.translate(error);
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  /** Connection failures become StoreUnavailableError with one readable sentence; the rest pass through. */
  private translate(error: unknown): Error {
    if (error instanceof StoreError) return error;
    const e = error as { code?: string; message?: string };
    const code = e.code ?? '';
    const unreachable =
      ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
      code.startsWith('08') || // connection_exception
      code === '57P01' || code === '57P02' || code === '57P03' || // admin/crash shutdown, cannot connect now
      /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
        e.message ?? '',
      );
    if (unreachable) {
      return new StoreUnavailableError(`PostgreSQL at ${this.location} is not reachable: ${e.message ?? code}`, { cause: error });
    }
    return error instanceof Error ? error : new StoreError(String(error));
  }

  /** Applies pending migrations, each in a transaction holding an advisory lock, so replicas starting together migrate once. */
  private async migrate(progress: (message: string) => void): Promise<void> {
    const latest = Math.max(...postgresMigrations.map((m) => m.version));
    // A new store is created in one line; an existing one is told each step of its upgrade.
    let creating: boolean | undefined;
    const say = (message: string) => {
      if (!creating) progress(message);
    };
    for (const migration of postgresMigrations) {
      await this.transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_ns bigint NOT NULL)',
        );
        const current = Number((await client.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations')).rows[0].v);
        if (current > latest) throw new SchemaVersionError(newerSchemaMessage(this.location, current, latest));
        creating ??= current === 0;
        if (current >= migration.version) return;
        const started = performance.now();
        say(migrationStartMessage(this.location, migration));
        await client.query(migration.sql);
        if (migration.convert === 'inline-segments') await inlineSegments(client);
        if (migration.convert === 'event-blocks') await eventBlocks(client, say);
        if (migration.finish) await client.query(migration.finish);
        await client.query('INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)', [
          migration.version, migration.name, nowNs(),
        ]);
        say(migrationDoneMessage(migration, started));
      });
    }
    if (creating) progress(createdMessage(this.location, latest));
  }

  /** The key that signs page tokens, shared by every replica. */
  private async pageTokenKey(): Promise<Buffer> {
    await this.run(this.pool, "INSERT INTO store_meta (key, value) VALUES ('page_token_key', $1) ON CONFLICT DO NOTHING", [
      randomBytes(32).toString('hex'),
    ]);
    const rows = await this.run(this.pool, "SELECT value FROM store_meta WHERE key = 'page_token_key'", []);
    return Buffer.from(String(rows[0].value), 'hex');
  }
}

/** Schema version 5's data step: the rows of the events table become blocks (of at most 1,000 events). */
async function eventBlocks(client: pg.PoolClient, progress: (message: string) => void): Promise<void> {
  const report = conversionProgress(Number((await client.query('SELECT count(*) AS n FROM events')).rows[0].n), progress);
  let after: [unknown, unknown] = ['-9223372036854775808', '-9223372036854775808'];
  for (;;) {
    const rows = (await client.query('SELECT * FROM events WHERE (run_id, seq) > ($1, $2) ORDER BY run_id, seq LIMIT 1000', after)).rows as Row[];
    if (rows.length === 0) return;
    for (const { runId, block } of eventBlocksOfRows(rows)) {
      await client.query(INSERT_BLOCK, blockValues(runId, block));
    }
    report(rows.length);
    after = [rows.at(-1)!.run_id, rows.at(-1)!.seq];
  }
}

/** Schema version 3's data step: each connection's rows of the segments table become its segments BLOB. */
async function inlineSegments(client: pg.PoolClient): Promise<void> {
  let after: [string, string] = ['-9223372036854775808', '-9223372036854775808'];
  for (;;) {
    const keys = (
      await client.query('SELECT run_id, cookie FROM connections WHERE (run_id, cookie) > ($1, $2) ORDER BY run_id, cookie LIMIT 1000', after)
    ).rows as Row[];
    if (keys.length === 0) return;
    const cookiesOf = (r: Row) => String(r.cookie);
    const runsOf = (r: Row) => String(r.run_id);
    const segmentRows = (
      await client.query(
        `SELECT s.* FROM unnest($1::bigint[], $2::bigint[]) AS k(run_id, cookie)
         JOIN segments s ON s.run_id = k.run_id AND s.cookie = k.cookie ORDER BY s.run_id, s.cookie, s.idx`,
        [keys.map(runsOf), keys.map(cookiesOf)],
      )
    ).rows as Row[];
    const byKey = new Map<string, Row[]>();
    for (const r of segmentRows) {
      const key = `${r.run_id}/${r.cookie}`;
      byKey.set(key, [...(byKey.get(key) ?? []), r]);
    }
    const blobs = keys.map((k) => (byKey.get(`${k.run_id}/${k.cookie}`) ?? []).map(segmentOfRow));
    await client.query(
      `UPDATE connections c SET segments = u.segments, segment_count = u.n
       FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::integer[]) AS u(run_id, cookie, segments, n)
       WHERE c.run_id = u.run_id AND c.cookie = u.cookie`,
      [keys.map(runsOf), keys.map(cookiesOf), blobs.map((b) => encodeSegments(b)), blobs.map((b) => b.length)],
    );
    after = [runsOf(keys.at(-1)!), cookiesOf(keys.at(-1)!)];
  }
}

/** `SELECT * FROM unnest($1::t1[], $2::t2[], ...) AS u(col1, col2, ...)`: a whole batch in one statement (parameters from `first`). */
function unnestSelect(columns: readonly string[], columnTypes: Record<string, string>, first = 1): string {
  const arrays = columns.map((c, i) => `$${i + first}::${columnTypes[c]}[]`).join(', ');
  return `SELECT * FROM unnest(${arrays}) AS u(${columns.join(', ')})`;
}

/** The URL without its password, for messages and logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    throw new StoreError(`"${url}" is not a PostgreSQL URL (expected postgres://user@host:port/database)`);
  }
}
