// The collector's storage, one interface over SQLite (embedded, one replica)
// and PostgreSQL (shared by several replicas). Answers are the contract's own
// messages (collector.proto), so the collector serves them as they are.
import type {
  CaptureStrategy,
  ConnectionFilter,
  ConnectionTimeline,
  Gap,
  GetStatsResponse,
  Host,
  QueryTimelineResponse,
  StateChange,
} from '@tcpstate/proto';
import type { TimeInput } from './time.js';

/** How a store opens. */
export interface StoreOpenOptions {
  /** Told, in a sentence each, the steps of a long start: schema migrations and their progress. */
  onProgress?: (message: string) => void;
  /**
   * SQLite only: run the store in a worker thread of its own (SqliteThreadStore), so that its
   * synchronous work does not hold up the caller's thread. The collector does.
   */
  ownThread?: boolean;
  /**
   * SQLite only: how many stored events may wait for their connection rows (default 500,000). Past
   * it, ingest derives them before it returns; queries always derive what is pending first.
   */
  derivationTrail?: number;
  /**
   * SQLite only: write pending connection rows when no ingest came for a moment (default true).
   * false: only past the trail and when a query asks, inside those calls (benchmarks that time calls).
   */
  backgroundDerivation?: boolean;
}

/** What one agent stream delivered since the last write: events in seq order, and losses. */
export interface IngestBatch {
  events: readonly StateChange[];
  gaps: readonly Gap[];
}

/** How an ingest went: every event of the batch is counted once, as inserted or as already stored. */
export interface IngestResult {
  inserted: number;
  duplicates: number;
  /** Gaps stored (a gap already stored is not counted). */
  gapsInserted: number;
}

/** Where to resume an agent's stream: its newest boot and the highest seq stored for it. */
export interface StoreCursor {
  bootId: string;
  /** Events and gap ranges up to here are stored: resume with since_seq = seq + 1 (same boot). */
  seq: bigint;
}

/** What the collector learned about an agent; unset fields keep their stored value. */
export interface HostUpdate {
  agentId: string;
  hostname?: string;
  /** HOST:PORT the collector subscribes to. */
  address?: string;
  /** The agent's current boot, from its status. */
  bootId?: string;
  strategies?: readonly CaptureStrategy[];
}

/** A half-open time window [start, end). */
export interface TimeWindow {
  start: TimeInput;
  end: TimeInput;
}

/** QueryTimeline's arguments, defaults already applied by the caller except paging. */
export interface TimelineQuery extends TimeWindow {
  include?: readonly ConnectionFilter[];
  exclude?: readonly ConnectionFilter[];
  /** Connections per page: 0 or unset means 100; at most 1000 (larger is clamped). */
  pageSize?: number;
  /** next_page_token of the previous page. */
  pageToken?: string;
}

/** GetStats' arguments. */
export interface StatsQuery extends TimeWindow {
  include?: readonly ConnectionFilter[];
  exclude?: readonly ConnectionFilter[];
  /** Step of the concurrency series; unset means window / 60. */
  stepMs?: number;
}

/** Names one connection record: a ConnectionRef, or the same fields as a plain object. */
export interface ConnectionKey {
  agentId: string;
  /** Empty or unset: the agent's newest run that has this cookie. */
  bootId?: string;
  cookie: bigint;
}

/** One end of a connection, as a user names it. */
export interface EndpointSpec {
  address: string;
  port: number;
}

/** The other side of a connection, or why there is none. */
export interface PeerLookup {
  peer?: ConnectionTimeline;
  /** Set when peer is not: a sentence for humans. */
  reason?: string;
}

/** A live lease: which replica ingests which agent. */
export interface LiveLease {
  agentId: string;
  replicaId: string;
}

/** What a replica learns when it heartbeats: who is alive and who holds what. */
export interface ReplicaView {
  /** Replicas whose heartbeat has not expired, the caller included, sorted. */
  replicas: string[];
  /** Leases that have not expired, sorted by agent id. */
  leases: LiveLease[];
}

/** Rows removed by retention. */
export interface RetentionResult {
  events: number;
  connections: number;
  segments: number;
  gaps: number;
}

/**
 * Storage for the collector. Every method is safe to call concurrently. Errors:
 * InvalidQueryError for a bad query, StoreUnavailableError when the database
 * cannot be reached (retry later), SchemaVersionError at open.
 */
export interface EventStore {
  /** 'sqlite' or 'postgres'. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where the data lives, for logs (a path, or the URL without its password). */
  readonly location: string;
  /** Whether several collector replicas can share this store (leases are real). */
  readonly shared: boolean;

  /**
   * Stores a batch from one agent run in one transaction: each (agent_id,
   * boot_id, seq) at most once, gaps once, and the derived connection rows
   * and segments updated from the events actually inserted (a replayed event
   * changes nothing): in the same transaction (PostgreSQL), or by a pass that
   * may trail ingest and that every query waits for (SQLite). Events must be in ascending seq order per agent run, as
   * the agent sends them; their agent_id/boot_id, when set, must match.
   * `hostname` records the agent's host name when known.
   */
  ingest(agentId: string, bootId: string, batch: IngestBatch, hostname?: string): Promise<IngestResult>;

  /** Where to resume the agent's stream; undefined when nothing of it is stored. */
  cursor(agentId: string): Promise<StoreCursor | undefined>;

  /** Records what discovery and GetStatus said about an agent. */
  upsertHost(host: HostUpdate): Promise<void>;

  /**
   * Every agent known (from upsertHost or ingest), by agent_id, with stored
   * facts: hostname, address, boot_id, last_seq, lost (sum of gap counts),
   * strategies, last_event, owner (the replica holding a live lease). The
   * live fields (state, lag, last_error) are the collector's to fill.
   */
  listHosts(): Promise<Host[]>;

  /**
   * Takes or renews this replica's leases on the given agents for `ttlMs` and
   * returns the agents (among them) it now owns: leases that are free,
   * expired, or already its own. Race-free between replicas. SQLite serves
   * one replica and grants all.
   */
  acquireLeases(replicaId: string, agentIds: readonly string[], ttlMs: number): Promise<string[]>;

  /** Gives up this replica's leases (all, or on the agents listed), e.g. at shutdown. */
  releaseLeases(replicaId: string, agentIds?: readonly string[]): Promise<void>;

  /**
   * Marks this replica alive for `ttlMs` (judged by the database's clock, as
   * leases are) and returns the live replicas and leases, from which replicas
   * share the agents fairly.
   */
  heartbeat(replicaId: string, ttlMs: number): Promise<ReplicaView>;

  /** Removes this replica's heartbeat and every lease it holds (it is shutting down). */
  leave(replicaId: string): Promise<void>;

  /**
   * Connections whose life overlaps the window and that match the filters,
   * ordered by first_seen then (agent_id, boot_id, cookie), each with its
   * segments and its peer's ref when paired. Keyset paging: next_page_token
   * is empty on the last page. The window's gaps come with the first page.
   * InvalidQueryError for an inverted window, a bad filter value or an
   * altered page token.
   */
  queryTimeline(query: TimelineQuery): Promise<QueryTimelineResponse>;

  /** One connection by ref; an empty boot_id means the agent's newest run with that cookie. */
  getConnection(ref: ConnectionKey): Promise<ConnectionTimeline | undefined>;

  /**
   * The connection with these endpoints (as seen from its own host) alive at
   * `at`; when none was alive then, the latest one that began before `at`.
   */
  findConnectionByEndpoints(local: EndpointSpec, remote: EndpointSpec, at: TimeInput): Promise<ConnectionTimeline | undefined>;

  /**
   * The other side of a connection on any host: mirrored endpoints (its local
   * is this remote and the reverse; IPv4-mapped addresses count as IPv4) and
   * an overlapping life. When several match, the opposite side and the
   * closest start win. Otherwise a reason (no agent on that address, address
   * translation, no overlap in time).
   */
  findPeer(connection: ConnectionTimeline): Promise<PeerLookup>;

  /** Gaps noticed in the window, oldest first; `hosts` (agent ids or host names) narrows them. */
  gaps(window: TimeWindow, hosts?: readonly string[]): Promise<Gap[]>;

  /**
   * Over the window: transitions counted per (old, new) state, durations of
   * the segments that ended in it per state (nearest-rank p50/p90/p99 and
   * max), and the number of sockets in TIME_WAIT and CLOSE_WAIT at start,
   * start + step, ... up to end.
   */
  stats(query: StatsQuery): Promise<GetStatsResponse>;

  /**
   * Retention: removes events and gaps older than `time`, and connections
   * (with segments) last seen before it that are closed, or whose agent run
   * has since been replaced by a newer boot.
   */
  deleteOlderThan(time: TimeInput): Promise<RetentionResult>;

  /**
   * Events stored whose connection rows are not written yet: SQLite writes them after ingest, trailing
   * it during a burst (queries wait for them); PostgreSQL in the ingest transaction (always 0).
   */
  rowsPending(): Promise<number>;

  /** Closes the database (waits for work in progress). */
  close(): Promise<void>;
}
