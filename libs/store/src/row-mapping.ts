// Between database rows, the builder's records and the contract's messages.
// Both drivers hand integers over as bigint (better-sqlite3 with safe
// integers, pg with an int8 parser), smaller integer columns possibly as
// number, sums as numeric text: the helpers below accept all three.
import { create } from '@bufbuild/protobuf';
import {
  type ConnectionTimeline,
  ConnectionTimelineSchema,
  type Gap,
  GapSchema,
  type StateChange,
  type StateSegment,
  StateSegmentSchema,
} from '@tcpstate/proto';
import { fromInt64, toInt64 } from './address-key.js';
import type { ConnectionState, Segment } from './connection-builder.js';
import { encodeEventBlocks, type EventBlock, type StoredEvent } from './event-block.js';
import { StoreError } from './errors.js';
import type { StoredConnection } from './ingest-plan.js';
import { decodeSegments } from './segment-codec.js';
import type { Row } from './sql.js';
import { durationNs, durationOfNs, nowNs, timestampOfNs, toNs } from './time.js';

/** An integer column as bigint. */
export function big(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' || typeof value === 'string') return BigInt(value);
  throw new StoreError(`expected an integer from the database, got ${typeof value}`);
}

/** A small integer column as number. */
export function int(value: unknown): number {
  return Number(big(value));
}

/** A nullable integer column. */
export function bigOrNull(value: unknown): bigint | null {
  return value === null || value === undefined ? null : big(value);
}

/** A boolean column (SQLite stores 0/1, PostgreSQL booleans). */
export function bool(value: unknown): boolean {
  return typeof value === 'boolean' ? value : big(value) !== 0n;
}

/** An event from the agent as the store keeps it (and the builder reads it). */
export function storedEventOf(e: StateChange): StoredEvent {
  if (!e.time) throw new StoreError(`event seq ${e.seq} of agent ${e.agentId} has no time`);
  return {
    seq: e.seq,
    timeNs: toNs(e.time),
    cookie: toInt64(e.cookie),
    family: e.family,
    localAddress: e.localAddress,
    localPort: e.localPort,
    remoteAddress: e.remoteAddress,
    remotePort: e.remotePort,
    oldState: e.oldState,
    newState: e.newState,
    side: e.side,
    timeInOldStateNs: e.timeInOldState ? durationNs(e.timeInOldState) : null,
    pid: e.pid,
    comm: e.comm,
    netns: e.netns,
    observedBy: e.observedBy,
    monotonicNs: toInt64(e.monotonicNs),
    cgroupId: toInt64(e.cgroupId),
    timeUncertaintyNs: e.timeUncertainty ? durationNs(e.timeUncertainty) : null,
  };
}

/** A row of the events table (schema versions 1 to 4, read when migrating). */
export function storedEventOfRow(r: Row): StoredEvent {
  return {
    seq: big(r.seq),
    timeNs: big(r.time_ns),
    cookie: big(r.cookie),
    family: int(r.family),
    localAddress: String(r.local_address),
    localPort: int(r.local_port),
    remoteAddress: String(r.remote_address),
    remotePort: int(r.remote_port),
    oldState: int(r.old_state),
    newState: int(r.new_state),
    side: int(r.side),
    timeInOldStateNs: bigOrNull(r.time_in_old_state_ns),
    pid: int(r.pid),
    comm: String(r.comm),
    netns: int(r.netns),
    observedBy: int(r.observed_by),
    monotonicNs: big(r.monotonic_ns),
    cgroupId: big(r.cgroup_id),
    timeUncertaintyNs: bigOrNull(r.time_uncertainty_ns),
  };
}

/** Rows of the events table in (run_id, seq) order as event blocks (schema version 5's data step). */
export function eventBlocksOfRows(rows: readonly Row[]): { runId: bigint; block: EventBlock }[] {
  const blocks: { runId: bigint; block: EventBlock }[] = [];
  let start = 0;
  for (let i = 1; i <= rows.length; i++) {
    if (i < rows.length && big(rows[i].run_id) === big(rows[start].run_id)) continue;
    const runId = big(rows[start].run_id);
    for (const block of encodeEventBlocks(rows.slice(start, i).map(storedEventOfRow))) blocks.push({ runId, block });
    start = i;
  }
  return blocks;
}

/** The derived row as stored; undefined for a row that nothing was applied to yet (a PostgreSQL placeholder). */
export function connectionStateOfRow(r: Row): ConnectionState | undefined {
  if (big(r.last_seq) === 0n && int(r.segment_count) === 0 && big(r.first_seen_ns) === 0n) return undefined;
  return {
    cookie: big(r.cookie),
    family: int(r.family),
    localAddress: String(r.local_address),
    localPort: int(r.local_port),
    remoteAddress: String(r.remote_address),
    remotePort: int(r.remote_port),
    side: int(r.side),
    pid: int(r.pid),
    comm: String(r.comm),
    netns: int(r.netns),
    firstSeenNs: big(r.first_seen_ns),
    lastSeenNs: big(r.last_seen_ns),
    open: bool(r.open),
    timeWaitObservedBy: int(r.time_wait_observed_by),
    enteredStates: int(r.entered_states),
    leftStates: int(r.left_states),
    // 0 on rows from before schema version 3: a rebuild then reads the run's events from its start.
    firstSeq: r.first_seq === undefined || r.first_seq === null ? 0n : big(r.first_seq),
    lastSeq: big(r.last_seq),
    segmentCount: int(r.segment_count),
  };
}

/** A connections row (selected with *) as the builder reads it: its state and its inline segments. */
export function storedConnectionOfRow(r: Row): StoredConnection | undefined {
  const state = connectionStateOfRow(r);
  return state ? { state, segments: decodeSegments(r.segments as Uint8Array | null) } : undefined;
}

/** A row of the segments table (schema versions 1 and 2, read when migrating). */
export function segmentOfRow(r: Row): Segment {
  return {
    idx: int(r.idx),
    state: int(r.state),
    startNs: big(r.start_ns),
    endNs: bigOrNull(r.end_ns),
    startObservedBy: int(r.start_observed_by),
    endObservedBy: int(r.end_observed_by),
    approximate: bool(r.approximate),
  };
}

/** A segment as the contract shows it; an open one lasts until `now`. */
export function stateSegmentOf(s: Segment, now: bigint = nowNs()): StateSegment {
  const end = s.endNs ?? (now > s.startNs ? now : s.startNs);
  return create(StateSegmentSchema, {
    state: s.state,
    start: timestampOfNs(s.startNs),
    end: s.endNs === null ? undefined : timestampOfNs(s.endNs),
    duration: durationOfNs(end - s.startNs),
    startObservedBy: s.startObservedBy,
    endObservedBy: s.endObservedBy,
    approximate: s.approximate,
  });
}

/** Columns of a connection row as queries select them (alias c, its run joined as r, its host as h). */
export const CONNECTION_COLUMNS =
  'r.agent_id, r.boot_id, c.run_id, c.cookie, c.family, c.local_address, c.local_port, c.remote_address, c.remote_port, ' +
  'c.local_key, c.remote_key, c.side, c.pid, c.comm, c.netns, c.first_seen_ns, c.last_seen_ns, c.open, ' +
  'c.time_wait_observed_by, c.segments, h.hostname';

/** A selected connection row: its timeline without segments, and the keys used to pair it. */
export interface ConnectionRecord {
  agentId: string;
  bootId: string;
  /** 0 for a timeline a caller passed in (not selected here). */
  runId: bigint;
  /** As stored (signed 64-bit). */
  cookie: bigint;
  localKey: Buffer | null;
  remoteKey: Buffer | null;
  localPort: number;
  remotePort: number;
  side: number;
  firstSeenNs: bigint;
  /** Last seen, or no end while open. */
  endNs: bigint | null;
  /** Its segments as stored; the timeline's are filled from them (with one "now" for open ones). */
  segments: Segment[];
  timeline: ConnectionTimeline;
}

/** A connection row selected with CONNECTION_COLUMNS. */
export function connectionRecordOfRow(r: Row): ConnectionRecord {
  const cookie = big(r.cookie);
  const open = bool(r.open);
  const record: ConnectionRecord = {
    agentId: String(r.agent_id),
    bootId: String(r.boot_id),
    runId: big(r.run_id),
    cookie,
    localKey: r.local_key === null ? null : Buffer.from(r.local_key as Uint8Array),
    remoteKey: r.remote_key === null ? null : Buffer.from(r.remote_key as Uint8Array),
    localPort: int(r.local_port),
    remotePort: int(r.remote_port),
    side: int(r.side),
    firstSeenNs: big(r.first_seen_ns),
    endNs: open ? null : big(r.last_seen_ns),
    segments: decodeSegments(r.segments as Uint8Array | null),
    timeline: create(ConnectionTimelineSchema, {
      ref: { agentId: String(r.agent_id), bootId: String(r.boot_id), cookie: fromInt64(cookie) },
      hostname: r.hostname === null || r.hostname === undefined ? '' : String(r.hostname),
      family: int(r.family),
      localAddress: String(r.local_address),
      localPort: int(r.local_port),
      remoteAddress: String(r.remote_address),
      remotePort: int(r.remote_port),
      side: int(r.side),
      firstSeen: timestampOfNs(big(r.first_seen_ns)),
      lastSeen: timestampOfNs(big(r.last_seen_ns)),
      timeWaitObservedBy: int(r.time_wait_observed_by),
      open,
      pid: int(r.pid),
      comm: String(r.comm),
      netns: int(r.netns),
    }),
  };
  return record;
}

/** A gap row joined with its run (agent_id, boot_id). */
export function gapOfRow(r: Row): Gap {
  return create(GapSchema, {
    agentId: String(r.agent_id),
    bootId: String(r.boot_id),
    reason: int(r.reason),
    count: big(r.count),
    firstSeq: big(r.first_seq),
    lastSeq: big(r.last_seq),
    time: timestampOfNs(big(r.time_ns)),
    message: String(r.message),
  });
}
