// What both back-ends do around their SQL at ingest: check a batch, turn it
// into column values, and derive connection rows from the events inserted.
import type { Gap, StateChange } from '@tcpstate/proto';
import { addressKey, toInt64 } from './address-key.js';
import { applyEvents, type ConnectionEvent, type ConnectionState, type Segment } from './connection-builder.js';
import { StoreError } from './errors.js';
import type { IngestBatch } from './event-store.js';
import { connectionEventOf } from './row-mapping.js';
import { encodeSegments, mergeSegments } from './segment-codec.js';
import { durationNs, nowNs, toNs } from './time.js';

/** One event of a batch, as the agent sent it and as the builder reads it. */
export interface BatchEvent {
  change: StateChange;
  derived: ConnectionEvent;
}

/** A checked batch: events unique by seq in ascending order. */
export interface PreparedBatch {
  events: BatchEvent[];
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
  if (ascending) return { events: batch.events.map(batchEvent), gaps: batch.gaps, repeatedInBatch: 0 };
  const bySeq = new Map<bigint, StateChange>();
  for (const change of batch.events) if (!bySeq.has(change.seq)) bySeq.set(change.seq, change);
  const events = [...bySeq.values()].sort((a, b) => (a.seq < b.seq ? -1 : 1)).map(batchEvent);
  return { events, gaps: batch.gaps, repeatedInBatch: batch.events.length - events.length };
}

function batchEvent(change: StateChange): BatchEvent {
  return { change, derived: connectionEventOf(change) };
}

/** Columns of the events table, in the order of eventValues. */
export const EVENT_COLUMNS = [
  'run_id', 'seq', 'time_ns', 'monotonic_ns', 'cookie', 'family', 'local_address', 'local_port',
  'remote_address', 'remote_port', 'old_state', 'new_state', 'side', 'time_in_old_state_ns', 'pid', 'comm',
  'cgroup_id', 'netns', 'observed_by', 'time_uncertainty_ns',
] as const;

/** One event's values for EVENT_COLUMNS, in `into` when given (SQLite binds one row at a time and reuses its array). */
export function eventValues(runId: bigint, e: BatchEvent, into: unknown[] = new Array<unknown>(EVENT_COLUMNS.length)): unknown[] {
  const c = e.change;
  const d = e.derived;
  into[0] = runId;
  into[1] = c.seq;
  into[2] = d.timeNs;
  into[3] = toInt64(c.monotonicNs);
  into[4] = d.cookie;
  into[5] = c.family;
  into[6] = c.localAddress;
  into[7] = c.localPort;
  into[8] = c.remoteAddress;
  into[9] = c.remotePort;
  into[10] = c.oldState;
  into[11] = c.newState;
  into[12] = c.side;
  into[13] = d.timeInOldStateNs;
  into[14] = c.pid;
  into[15] = c.comm;
  into[16] = toInt64(c.cgroupId);
  into[17] = c.netns;
  into[18] = c.observedBy;
  into[19] = c.timeUncertainty ? durationNs(c.timeUncertainty) : null;
  return into;
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
export function groupByConnection(inserted: readonly BatchEvent[]): Map<bigint, ConnectionEvent[]> {
  const groups = new Map<bigint, ConnectionEvent[]>();
  for (const e of inserted) {
    const group = groups.get(e.derived.cookie);
    if (group) group.push(e.derived);
    else groups.set(e.derived.cookie, [e.derived]);
  }
  return groups;
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
  return state !== undefined && events[0].seq < state.lastSeq;
}

/** The run's cursor and time range moved by what was inserted; undefined when nothing was. */
export function runProgress(
  inserted: readonly BatchEvent[],
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
    if (e.change.seq > lastSeq) lastSeq = e.change.seq;
    see(e.derived.timeNs);
  }
  for (const g of insertedGaps) {
    if (g.lastSeq > lastSeq) lastSeq = g.lastSeq;
    see(g.time ? toNs(g.time) : nowNs());
  }
  if (first === undefined || last === undefined) return undefined;
  return { lastSeq: lastSeq < 0n ? 0n : lastSeq, firstTimeNs: first, lastTimeNs: last };
}
