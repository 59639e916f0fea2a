// What both back-ends do around their SQL at ingest: check a batch, turn it
// into column values, and derive connection rows from the events inserted.
import type { Gap, StateChange } from '@tcpstate/proto';
import { addressKey } from './address-key.js';
import { applyEvents, type ConnectionEvent, type ConnectionState, type Segment } from './connection-builder.js';
import { StoreError } from './errors.js';
import type { IngestBatch } from './event-store.js';
import { decodeEventBlock, encodeEventBlocks, type EventBlock, type StoredEvent } from './event-block.js';
import { storedEventOf } from './row-mapping.js';
import { encodeSegments, mergeSegments } from './segment-codec.js';
import { nowNs, toNs } from './time.js';

/** A checked batch: events unique by seq in ascending order. */
export interface PreparedBatch {
  events: StoredEvent[];
  gaps: readonly Gap[];
  /** Events repeated inside the batch itself (counted as duplicates). */
  repeatedInBatch: number;
}

/** Checks that the batch belongs to the agent run, and orders it by seq. */
export function prepareBatch(agentId: string, bootId: string, batch: IngestBatch): PreparedBatch {
  if (agentId === '' || bootId === '') throw new StoreError('ingest needs an agent_id and a boot_id');
  let ascending = true;
  for (let i = 0; i < batch.events.length; i++) {
    const change = batch.events[i];
    if ((change.agentId !== '' && change.agentId !== agentId) || (change.bootId !== '' && change.bootId !== bootId)) {
      throw new StoreError(
        `event seq ${change.seq} is from agent ${change.agentId} boot ${change.bootId}, but the batch is for agent ${agentId} boot ${bootId}`,
      );
    }
    if (i > 0 && change.seq <= batch.events[i - 1].seq) ascending = false;
  }
  for (const gap of batch.gaps) {
    if ((gap.agentId !== '' && gap.agentId !== agentId) || (gap.bootId !== '' && gap.bootId !== bootId)) {
      throw new StoreError(`a gap is from agent ${gap.agentId} boot ${gap.bootId}, but the batch is for agent ${agentId} boot ${bootId}`);
    }
  }
  // An agent sends its events in seq order: then there is nothing to sort or drop.
  if (ascending) return { events: batch.events.map(storedEventOf), gaps: batch.gaps, repeatedInBatch: 0 };
  const bySeq = new Map<bigint, StateChange>();
  for (const change of batch.events) if (!bySeq.has(change.seq)) bySeq.set(change.seq, change);
  const events = [...bySeq.values()].sort((a, b) => (a.seq < b.seq ? -1 : 1)).map(storedEventOf);
  return { events, gaps: batch.gaps, repeatedInBatch: batch.events.length - events.length };
}

/** A checked batch with its events encoded as blocks: what SQLite ingest stores (SqliteStore.ingestBlocks). */
export interface BlockBatch {
  blocks: EventBlock[];
  gaps: readonly Gap[];
  repeatedInBatch: number;
}

/** prepareBatch, then its events as blocks (encodeEventBlocks). */
export function blockBatch(agentId: string, bootId: string, batch: IngestBatch): BlockBatch {
  const prepared = prepareBatch(agentId, bootId, batch);
  return { blocks: prepared.events.length > 0 ? encodeEventBlocks(prepared.events) : [], gaps: prepared.gaps, repeatedInBatch: prepared.repeatedInBatch };
}

/**
 * The events of a batch that are not stored yet, given the stored blocks
 * whose seq range overlaps the batch's (none, unless a batch is replayed or
 * two replicas briefly ingest one agent).
 */
export function notStoredYet(events: StoredEvent[], overlapping: readonly Uint8Array[]): StoredEvent[] {
  if (overlapping.length === 0) return events;
  const stored = new Set<bigint>();
  for (const blob of overlapping) for (const e of decodeEventBlock(blob)) stored.add(e.seq);
  return events.filter((e) => !stored.has(e.seq));
}

/** Columns of the event_blocks table, in the order of blockValues. */
export const BLOCK_COLUMNS = ['run_id', 'first_seq', 'last_seq', 'first_time_ns', 'last_time_ns', 'count', 'events'] as const;

/** Inserts one block (`?` placeholders, in the order of blockValues). */
export const INSERT_BLOCK_SQL = `INSERT INTO event_blocks (${BLOCK_COLUMNS.join(', ')}) VALUES (${BLOCK_COLUMNS.map(() => '?').join(', ')})`;
/** The stored blocks of run ? whose seq range overlaps [?, ?]: what a batch must not store again, what a rebuild reads. */
export const OVERLAPPING_BLOCKS_SQL = 'SELECT events FROM event_blocks WHERE run_id = ? AND last_seq >= ? AND first_seq <= ?';

/** One block's values for BLOCK_COLUMNS. */
export function blockValues(runId: bigint, b: EventBlock): unknown[] {
  return [runId, b.firstSeq, b.lastSeq, b.firstTimeNs, b.lastTimeNs, b.count, b.events];
}

/** Columns of the gaps table, in the order of gapValues. */
export const GAP_COLUMNS = ['run_id', 'reason', 'count', 'first_seq', 'last_seq', 'time_ns', 'message'] as const;

/** One gap's values for GAP_COLUMNS; a gap without a time gets the collector's now. */
export function gapValues(runId: bigint, g: Gap): unknown[] {
  return [runId, g.reason, g.count, g.firstSeq, g.lastSeq, g.time ? toNs(g.time) : nowNs(), g.message];
}

/** Columns of the connections table, in the order of connectionValues. */
export const CONNECTION_COLUMN_NAMES = [
  'run_id', 'cookie', 'family', 'local_address', 'local_port', 'remote_address', 'remote_port',
  'local_key', 'remote_key', 'side', 'pid', 'comm', 'netns', 'first_seen_ns', 'last_seen_ns', 'open',
  'time_wait_observed_by', 'entered_states', 'left_states', 'first_seq', 'last_seq', 'segment_count', 'segments',
] as const;

/**
 * The columns an event can change on a row whose endpoints, identity and
 * first_seen_ns stay as they were (nearly every update): writing only these
 * leaves the indexes on first_seen_ns and on the endpoints untouched.
 */
export const PROGRESS_COLUMN_NAMES = [
  'last_seen_ns', 'open', 'time_wait_observed_by', 'entered_states', 'left_states', 'last_seq', 'segment_count', 'segments',
] as const;

/** A derived row's values for CONNECTION_COLUMN_NAMES; `open` is written as the back-end stores booleans. */
export function connectionValues(runId: bigint, c: DerivedConnection, bool: (b: boolean) => unknown): unknown[] {
  const s = c.state;
  return [
    runId, s.cookie, s.family, s.localAddress, s.localPort, s.remoteAddress, s.remotePort,
    addressKey(s.localAddress), addressKey(s.remoteAddress), s.side, s.pid, s.comm, s.netns, s.firstSeenNs,
    s.lastSeenNs, bool(s.open), s.timeWaitObservedBy, s.enteredStates, s.leftStates, s.firstSeq, s.lastSeq, s.segmentCount, c.blob,
  ];
}

/** A derived row's values for PROGRESS_COLUMN_NAMES. */
export function progressValues(c: DerivedConnection, bool: (b: boolean) => unknown): unknown[] {
  const s = c.state;
  return [s.lastSeenNs, bool(s.open), s.timeWaitObservedBy, s.enteredStates, s.leftStates, s.lastSeq, s.segmentCount, c.blob];
}

/** A connection's stored row as the builder reads it: the row and all its segments. */
export interface StoredConnection {
  state: ConnectionState;
  segments: Segment[];
}

/** A connection's row after new events: what to write back. */
export interface DerivedConnection {
  state: ConnectionState;
  /** All its segments, idx 0 first. */
  segments: Segment[];
  /** The segments as stored (segment-codec.ts). */
  blob: Buffer;
  /** Whether a column outside PROGRESS_COLUMN_NAMES changed (or the row is new): the whole row must be written. */
  wholeRow: boolean;
}

/** Applies a connection's newly inserted events to its stored row (undefined: a new connection, or a rebuild from all events). */
export function deriveConnection(stored: StoredConnection | undefined, events: readonly ConnectionEvent[]): DerivedConnection {
  const last = stored?.segments.at(-1);
  const applied = applyEvents(stored?.state, last, events);
  const segments = stored ? mergeSegments(stored.segments, applied.segments) : applied.segments;
  return {
    state: applied.state,
    segments,
    blob: encodeSegments(segments),
    wholeRow: stored === undefined || !sameIdentity(stored.state, applied.state),
  };
}

/** Whether two rows agree on every column outside PROGRESS_COLUMN_NAMES. */
function sameIdentity(a: ConnectionState, b: ConnectionState): boolean {
  return (
    a.firstSeenNs === b.firstSeenNs && a.family === b.family && a.localAddress === b.localAddress && a.localPort === b.localPort &&
    a.remoteAddress === b.remoteAddress && a.remotePort === b.remotePort && a.side === b.side && a.pid === b.pid &&
    a.comm === b.comm && a.netns === b.netns && a.firstSeq === b.firstSeq
  );
}

/** Inserted events grouped per connection (stored cookie), each group in seq order. */
export function groupByConnection(inserted: readonly StoredEvent[]): Map<bigint, ConnectionEvent[]> {
  const groups = new Map<bigint, ConnectionEvent[]>();
  for (const e of inserted) {
    const group = groups.get(e.cookie);
    if (group) group.push(e);
    else groups.set(e.cookie, [e]);
  }
  return groups;
}

/**
 * The events of connections (cookie -> its seq range [low, high]) among
 * stored blocks, each connection's in seq order; every block is decoded once.
 */
export function eventsOfConnections(blocks: readonly Uint8Array[], ranges: ReadonlyMap<bigint, readonly [bigint, bigint]>): Map<bigint, StoredEvent[]> {
  const found = new Map<bigint, StoredEvent[]>([...ranges.keys()].map((cookie) => [cookie, []]));
  for (const blob of blocks) {
    for (const e of decodeEventBlock(blob)) {
      const range = ranges.get(e.cookie);
      if (range && e.seq >= range[0] && e.seq <= range[1]) found.get(e.cookie)!.push(e);
    }
  }
  for (const events of found.values()) events.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  return found;
}

/**
 * The seq range [low, high] that holds every event of a connection being
 * rebuilt: what was applied and what just arrived (events have no index by
 * connection; a rebuild reads this stretch of the run and keeps the
 * connection's own).
 */
export function rebuildRange(state: ConnectionState, events: readonly ConnectionEvent[]): [bigint, bigint] {
  const newest = events[events.length - 1].seq;
  return [events[0].seq < state.firstSeq ? events[0].seq : state.firstSeq, newest > state.lastSeq ? newest : state.lastSeq];
}

/**
 * Whether events must be re-derived from all of the connection's stored
 * events: one of them sorts before what was already applied (two replicas
 * briefly ingesting one agent can interleave batches).
 */
export function needsRebuild(state: ConnectionState | undefined, events: readonly ConnectionEvent[]): boolean {
  // <=: an event a rebuild has applied already (SQLite derives after ingest) is not applied twice.
  return state !== undefined && events[0].seq <= state.lastSeq;
}

/** The run's cursor and time range moved by what was inserted; undefined when nothing was. */
export function runProgress(
  inserted: readonly StoredEvent[],
  insertedGaps: readonly Gap[],
): { lastSeq: bigint; firstTimeNs: bigint; lastTimeNs: bigint } | undefined {
  let lastSeq = -1n;
  let first: bigint | undefined;
  let last: bigint | undefined;
  const see = (t: bigint) => {
    if (first === undefined || t < first) first = t;
    if (last === undefined || t > last) last = t;
  };
  for (const e of inserted) {
    if (e.seq > lastSeq) lastSeq = e.seq;
    see(e.timeNs);
  }
  for (const g of insertedGaps) {
    if (g.lastSeq > lastSeq) lastSeq = g.lastSeq;
    see(g.time ? toNs(g.time) : nowNs());
  }
  if (first === undefined || last === undefined) return undefined;
  return { lastSeq: lastSeq < 0n ? 0n : lastSeq, firstTimeNs: first, lastTimeNs: last };
}

/** runProgress of the blocks stored (their seq and time ranges) and the gaps inserted. */
export function runProgressOfBlocks(
  blocks: readonly EventBlock[],
  insertedGaps: readonly Gap[],
): { lastSeq: bigint; firstTimeNs: bigint; lastTimeNs: bigint } | undefined {
  const progress = runProgress([], insertedGaps);
  if (blocks.length === 0) return progress;
  let { lastSeq, firstTimeNs, lastTimeNs } = progress ?? { lastSeq: -1n, firstTimeNs: blocks[0].firstTimeNs, lastTimeNs: blocks[0].lastTimeNs };
  for (const b of blocks) {
    if (b.lastSeq > lastSeq) lastSeq = b.lastSeq;
    if (b.firstTimeNs < firstTimeNs) firstTimeNs = b.firstTimeNs;
    if (b.lastTimeNs > lastTimeNs) lastTimeNs = b.lastTimeNs;
  }
  return { lastSeq, firstTimeNs, lastTimeNs };
}
