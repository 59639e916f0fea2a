// The derived per-connection row and its state segments, built from a
// connection's events in seq order. Pure: both back-ends load the current row
// and its last segment, call applyEvents with the events they just inserted,
// and write back what it returns, in the same transaction as the insert.
import { AddressFamily, Observation, Side, TcpState } from '@tcpstate/proto';
import { isUnknownAddress } from './address-key.js';

/** The fields of a stored event that the derived row is built from. */
export interface ConnectionEvent {
  seq: bigint;
  timeNs: bigint;
  cookie: bigint;
  family: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  oldState: number;
  newState: number;
  side: number;
  /** null when the agent did not know it. */
  timeInOldStateNs: bigint | null;
  pid: number;
  comm: string;
  netns: number;
  observedBy: number;
}

/** The derived row of one connection (one agent run, one cookie). */
export interface ConnectionState {
  cookie: bigint;
  family: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  side: number;
  pid: number;
  comm: string;
  netns: number;
  /** Earliest known time: the first event, or the start of a state it was already in. */
  firstSeenNs: bigint;
  lastSeenNs: bigint;
  /** False once the newest transition went to CLOSE. */
  open: boolean;
  timeWaitObservedBy: number;
  /** Bit n set: some transition went to state n (new_state filters). */
  enteredStates: number;
  /** Bit n set: some transition left state n (old_state filters). */
  leftStates: number;
  /** Lowest seq applied: with lastSeq, where a rebuild finds the connection's events. */
  firstSeq: bigint;
  /** Highest seq applied: an event below it arrived out of order and forces a rebuild. */
  lastSeq: bigint;
  segmentCount: number;
}

/** One stretch of time in one state; idx orders a connection's segments from 0. */
export interface Segment {
  idx: number;
  state: number;
  startNs: bigint;
  /** null while the socket is still in this state. */
  endNs: bigint | null;
  startObservedBy: number;
  endObservedBy: number;
  /** An end was seen by a sweep, or a transition in between was lost, so a time is an upper bound. */
  approximate: boolean;
}

/** What applyEvents changed: the new row, and every segment created or modified. */
export interface AppliedEvents {
  state: ConnectionState;
  segments: Segment[];
}

/** CLOSE (and an unset state) are not stretches worth a segment: before the first SYN, after the end. */
function hasSegment(state: number): boolean {
  return state !== TcpState.CLOSE && state !== TcpState.UNSPECIFIED;
}

function isSweep(observation: number): boolean {
  return observation === Observation.SWEEP;
}

function freshState(e: ConnectionEvent): ConnectionState {
  return {
    cookie: e.cookie,
    family: AddressFamily.UNSPECIFIED,
    localAddress: '',
    localPort: 0,
    remoteAddress: '',
    remotePort: 0,
    side: Side.UNSPECIFIED,
    pid: 0,
    comm: '',
    netns: 0,
    firstSeenNs: e.timeNs,
    lastSeenNs: e.timeNs,
    open: true,
    timeWaitObservedBy: Observation.UNSPECIFIED,
    enteredStates: 0,
    leftStates: 0,
    firstSeq: e.seq,
    lastSeq: 0n,
    segmentCount: 0,
  };
}

/**
 * Applies events (one connection's, ascending seq, all above `state.lastSeq`)
 * to its row and last segment. `state` and `last` are undefined for a
 * connection seen for the first time (or being rebuilt from all its events).
 */
export function applyEvents(
  state: ConnectionState | undefined,
  last: Segment | undefined,
  events: readonly ConnectionEvent[],
): AppliedEvents {
  if (events.length === 0) throw new Error('applyEvents needs at least one event');
  const row: ConnectionState = state ? { ...state } : freshState(events[0]);
  const changed = new Map<number, Segment>();
  let open: Segment | undefined = last && last.endNs === null ? { ...last } : undefined;

  const add = (segment: Segment) => {
    changed.set(segment.idx, segment);
    row.segmentCount = Math.max(row.segmentCount, segment.idx + 1);
  };

  for (const e of events) {
    fillIdentity(row, e);
    const t = e.timeNs;
    if (t < row.firstSeenNs) row.firstSeenNs = t;
    if (t > row.lastSeenNs) row.lastSeenNs = t;
    if (e.seq > row.lastSeq) row.lastSeq = e.seq;
    if (e.seq < row.firstSeq) row.firstSeq = e.seq;
    row.enteredStates |= stateBit(e.newState);
    row.leftStates |= stateBit(e.oldState);
    row.open = e.newState !== TcpState.CLOSE;
    if (e.newState === TcpState.TIME_WAIT && row.timeWaitObservedBy === Observation.UNSPECIFIED) {
      row.timeWaitObservedBy = e.observedBy;
    }

    // Where the old state began, when the kernel's timer says so.
    const oldStart = e.timeInOldStateNs !== null && hasSegment(e.oldState) ? t - e.timeInOldStateNs : null;

    if (open && open.state === e.oldState) {
      open.endNs = t;
      open.endObservedBy = e.observedBy;
      open.approximate ||= isSweep(e.observedBy);
      add(open);
    } else {
      if (open) {
        // A transition between the open segment's state and old_state was
        // lost: the open one ended somewhere before old_state began.
        const end = oldStart !== null && oldStart >= open.startNs && oldStart <= t ? oldStart : t;
        open.endNs = end;
        open.endObservedBy = e.observedBy;
        open.approximate = true;
        add(open);
      }
      if (oldStart !== null && (!open || oldStart >= open.startNs)) {
        // The state it was already in when first seen (or after a loss).
        add({
          idx: row.segmentCount,
          state: e.oldState,
          startNs: oldStart,
          endNs: t,
          startObservedBy: e.observedBy,
          endObservedBy: e.observedBy,
          approximate: open !== undefined || isSweep(e.observedBy),
        });
        if (oldStart < row.firstSeenNs) row.firstSeenNs = oldStart;
      }
    }
    open = undefined;

    if (hasSegment(e.newState)) {
      open = {
        idx: row.segmentCount,
        state: e.newState,
        startNs: t,
        endNs: null,
        startObservedBy: e.observedBy,
        endObservedBy: Observation.UNSPECIFIED,
        approximate: isSweep(e.observedBy),
      };
      add(open);
    }
  }
  return { state: row, segments: [...changed.values()].sort((a, b) => a.idx - b.idx) };
}

/** Endpoints and identity: keep the first real value; fill what was unknown (port 0 before connect() picked one). */
function fillIdentity(row: ConnectionState, e: ConnectionEvent): void {
  if (row.family === AddressFamily.UNSPECIFIED) row.family = e.family;
  if (isUnknownAddress(row.localAddress) && !isUnknownAddress(e.localAddress)) row.localAddress = e.localAddress;
  else if (row.localAddress === '') row.localAddress = e.localAddress;
  if (isUnknownAddress(row.remoteAddress) && !isUnknownAddress(e.remoteAddress)) row.remoteAddress = e.remoteAddress;
  else if (row.remoteAddress === '') row.remoteAddress = e.remoteAddress;
  if (row.localPort === 0) row.localPort = e.localPort;
  if (row.remotePort === 0) row.remotePort = e.remotePort;
  if (row.side === Side.UNSPECIFIED) row.side = e.side;
  if (row.pid === 0) row.pid = e.pid;
  if (row.comm === '') row.comm = e.comm;
  if (row.netns === 0) row.netns = e.netns;
}

/** Bit of a state in the entered/left masks (states are 0..13; anything else sets no bit). */
export function stateBit(state: number): number {
  return state >= 0 && state < 31 ? 1 << state : 0;
}

/** The mask with the bits of every state listed. */
export function stateMask(states: readonly number[]): number {
  return states.reduce((mask, s) => mask | stateBit(s), 0);
}
