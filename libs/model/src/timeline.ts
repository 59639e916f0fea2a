// Timelines: a connection's life as state segments, built from StateChange
// events (as the collector's QueryTimeline returns them), and the client and
// server records of one connection paired. Pure: no Node APIs, so the web page
// can bundle it.
import { create } from '@bufbuild/protobuf';
import { type Duration, DurationSchema, type Timestamp, TimestampSchema } from '@bufbuild/protobuf/wkt';
import {
  type ConnectionRef,
  ConnectionRefSchema,
  type ConnectionTimeline,
  ConnectionTimelineSchema,
  Observation,
  Side,
  type StateChange,
  type StateSegment,
  StateSegmentSchema,
  TcpState,
} from '@tcpstate/proto';

const NS_PER_S = 1_000_000_000n;

/** A Timestamp as nanoseconds since the epoch; undefined when unset. */
export function timestampNs(ts: Timestamp | undefined): bigint | undefined {
  return ts ? ts.seconds * NS_PER_S + BigInt(ts.nanos) : undefined;
}

/** Nanoseconds since the epoch as a Timestamp. */
export function timestampFromNs(ns: bigint): Timestamp {
  return create(TimestampSchema, { seconds: ns / NS_PER_S, nanos: Number(ns % NS_PER_S) });
}

/** A Duration as nanoseconds; undefined when unset. */
export function durationNs(d: Duration | undefined): bigint | undefined {
  return d ? d.seconds * NS_PER_S + BigInt(d.nanos) : undefined;
}

/** Nanoseconds (not negative) as a Duration. */
export function durationFromNs(ns: bigint): Duration {
  return create(DurationSchema, { seconds: ns / NS_PER_S, nanos: Number(ns % NS_PER_S) });
}

/** Three significant digits, trailing zeros kept out: 1.5, 12.3, 123. */
function sig3(n: number): string {
  const digits = n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return String(Number(n.toFixed(digits)));
}

/**
 * A duration for humans, readable from nanoseconds to days with about three
 * significant digits: "850ns", "38µs", "1.25ms", "60s", "2m03s", "1h02m".
 */
export function formatDuration(ns: bigint | number): string {
  const n = Number(ns);
  if (n < 1_000) return `${Math.round(n)}ns`;
  // Rounding to three digits may carry into the next unit (999.7µs -> 1ms).
  if (n < 999_500) return `${sig3(n / 1e3)}µs`;
  if (n < 999_500_000) return `${sig3(n / 1e6)}ms`;
  if (n < 59_950_000_000) return `${sig3(n / 1e9)}s`;
  const totalS = Math.round(n / 1e9);
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`;
  const totalM = Math.round(n / 6e10);
  if (totalM < 24 * 60) return `${Math.floor(totalM / 60)}h${String(totalM % 60).padStart(2, '0')}m`;
  const totalH = Math.round(n / 3.6e12);
  return `${Math.floor(totalH / 24)}d${String(totalH % 24).padStart(2, '0')}h`;
}

/** "agent/boot/cookie": one socket record. */
export function refKey(ref: Pick<ConnectionRef, 'agentId' | 'bootId' | 'cookie'>): string {
  return `${ref.agentId}/${ref.bootId}/${ref.cookie}`;
}

/** CLOSE (and unset) are not stretches of a connection's life: before the first SYN, after the end. */
function hasSegment(state: number): boolean {
  return state !== TcpState.CLOSE && state !== TcpState.UNSPECIFIED;
}

function newSegment(state: TcpState, startNs: bigint, observedBy: Observation, approximate: boolean): StateSegment {
  return create(StateSegmentSchema, { state, start: timestampFromNs(startNs), startObservedBy: observedBy, approximate });
}

function closeSegment(segment: StateSegment, endNs: bigint, observedBy: Observation, approximate: boolean): void {
  segment.end = timestampFromNs(endNs);
  segment.duration = durationFromNs(endNs - timestampNs(segment.start)!);
  segment.endObservedBy = observedBy;
  segment.approximate ||= approximate;
}

/** Options of buildTimelines. */
export interface BuildTimelinesOptions {
  /** Closes the durations of open segments at this time (ns since the epoch); left unset otherwise. */
  nowNs?: bigint;
  /** Host name per agent id (the ConnectionTimeline's hostname); the agent id when not given. */
  hostnames?: ReadonlyMap<string, string>;
}

/**
 * Builds one ConnectionTimeline per socket (agent, boot, cookie) from its
 * events, the way the collector's QueryTimeline describes them: one segment
 * per state entered (CLOSE is no segment; a state re-entered from itself
 * continues its segment), ended by the next transition; a
 * state the socket was already in when first seen starts at
 * time - time_in_old_state; an end seen by a sweep, or a transition lost in
 * between, makes the segment approximate. Order of the result: by first seen.
 */
export function buildTimelines(events: readonly StateChange[], options: BuildTimelinesOptions = {}): ConnectionTimeline[] {
  const bySocket = new Map<string, StateChange[]>();
  for (const e of events) {
    const key = refKey(e);
    const list = bySocket.get(key);
    if (list) list.push(e);
    else bySocket.set(key, [e]);
  }
  const timelines = [...bySocket.values()].map((list) => buildOne([...list].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)), options));
  return timelines.sort((a, b) => compareNs(timestampNs(a.firstSeen)!, timestampNs(b.firstSeen)!));
}

function compareNs(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function buildOne(events: StateChange[], options: BuildTimelinesOptions): ConnectionTimeline {
  const first = events[0];
  const t = create(ConnectionTimelineSchema, {
    ref: create(ConnectionRefSchema, { agentId: first.agentId, bootId: first.bootId, cookie: first.cookie }),
    hostname: options.hostnames?.get(first.agentId) ?? first.agentId,
    open: true,
  });
  let firstNs = timestampNs(first.time)!;
  let lastNs = firstNs;
  let open: StateSegment | undefined;
  for (const e of events) {
    // Identity: the first real value wins (ports are 0 before connect() picks one).
    if (!t.family) t.family = e.family;
    if (!t.localAddress || /^(0\.0\.0\.0|::)$/.test(t.localAddress)) t.localAddress = e.localAddress;
    if (!t.remoteAddress || /^(0\.0\.0\.0|::)$/.test(t.remoteAddress)) t.remoteAddress = e.remoteAddress;
    if (!t.localPort) t.localPort = e.localPort;
    if (!t.remotePort) t.remotePort = e.remotePort;
    if (!t.side) t.side = e.side;
    if (!t.pid) t.pid = e.pid;
    if (!t.comm) t.comm = e.comm;
    if (!t.netns) t.netns = e.netns;
    if (e.newState === TcpState.TIME_WAIT && !t.timeWaitObservedBy) t.timeWaitObservedBy = e.observedBy;

    const ns = timestampNs(e.time)!;
    if (ns > lastNs) lastNs = ns;
    const sweep = e.observedBy === Observation.SWEEP;
    const inOld = durationNs(e.timeInOldState);
    const oldStart = inOld !== undefined && hasSegment(e.oldState) ? ns - inOld : undefined;
    if (open && open.state === e.oldState && e.newState === e.oldState) {
      // The kernel re-reports a state (an orphaned FIN_WAIT2 after close()): same stretch, no new segment.
      continue;
    }
    if (open && open.state === e.oldState) {
      closeSegment(open, ns, e.observedBy, sweep);
    } else {
      if (open) {
        // A transition in between was lost: the open state ended at the
        // latest when old_state began.
        const openStart = timestampNs(open.start)!;
        closeSegment(open, oldStart !== undefined && oldStart >= openStart && oldStart <= ns ? oldStart : ns, e.observedBy, true);
      }
      if (oldStart !== undefined) {
        const already = newSegment(e.oldState, oldStart, e.observedBy, open !== undefined || sweep);
        closeSegment(already, ns, e.observedBy, sweep);
        t.segments.push(already);
        if (oldStart < firstNs) firstNs = oldStart;
      }
    }
    open = undefined;
    if (hasSegment(e.newState)) {
      open = newSegment(e.newState, ns, e.observedBy, sweep);
      t.segments.push(open);
    }
    t.open = e.newState !== TcpState.CLOSE;
  }
  if (open && options.nowNs !== undefined && options.nowNs >= timestampNs(open.start)!) {
    open.duration = durationFromNs(options.nowNs - timestampNs(open.start)!);
  }
  t.firstSeen = timestampFromNs(firstNs);
  t.lastSeen = timestampFromNs(lastNs);
  return t;
}

/** One connection: its client and server records, whichever were seen. */
export interface TimelinePair {
  client?: ConnectionTimeline;
  server?: ConnectionTimeline;
  /** Records whose side is not known (neither paired nor placed). */
  unknown?: ConnectionTimeline;
  /** Earliest first_seen of the records, ns since the epoch. */
  startNs: bigint;
  /** Latest last_seen of the records. */
  endNs: bigint;
}

/** The records of a pair, client first, then server, then a side not known. */
export function pairSides(pair: TimelinePair): ConnectionTimeline[] {
  return [pair.client, pair.server, pair.unknown].filter((t): t is ConnectionTimeline => t !== undefined);
}

function mirrored(client: ConnectionTimeline, server: ConnectionTimeline): boolean {
  return (
    client.localAddress === server.remoteAddress &&
    client.localPort === server.remotePort &&
    client.remoteAddress === server.localAddress &&
    client.remotePort === server.localPort
  );
}

/** Whether the server record began while the client record was alive (a reused port pair is another connection). */
function overlapping(client: ConnectionTimeline, server: ConnectionTimeline): boolean {
  const s = timestampNs(server.firstSeen)!;
  return s >= timestampNs(client.firstSeen)! && s <= timestampNs(client.lastSeen)!;
}

/**
 * Pairs the client and server records of the same connection: by the
 * collector's peer refs where set, else by mirrored endpoints with the server
 * record starting during the client's life. Unpaired records make pairs of
 * their own. Ordered by start time.
 */
export function pairTimelines(timelines: readonly ConnectionTimeline[]): TimelinePair[] {
  const byKey = new Map(timelines.map((t) => [refKey(t.ref ?? { agentId: '', bootId: '', cookie: 0n }), t]));
  // A peer ref may be set on one record only: look it up both ways.
  const pointingAt = new Map<string, ConnectionTimeline>();
  for (const t of timelines) if (t.peer) pointingAt.set(refKey(t.peer), t);
  const used = new Set<ConnectionTimeline>();
  const pairs: TimelinePair[] = [];
  const make = (sides: { client?: ConnectionTimeline; server?: ConnectionTimeline; unknown?: ConnectionTimeline }): TimelinePair => {
    const list = [sides.client, sides.server, sides.unknown].filter((t): t is ConnectionTimeline => t !== undefined);
    for (const t of list) used.add(t);
    const starts = list.map((t) => timestampNs(t.firstSeen)!);
    const ends = list.map((t) => timestampNs(t.lastSeen)!);
    return {
      ...sides,
      startNs: starts.reduce((a, b) => (b < a ? b : a)),
      endNs: ends.reduce((a, b) => (b > a ? b : a)),
    };
  };
  const ordered = [...timelines].sort((a, b) => compareNs(timestampNs(a.firstSeen)!, timestampNs(b.firstSeen)!));
  for (const t of ordered) {
    if (used.has(t)) continue;
    if (t.side === Side.UNSPECIFIED) {
      pairs.push(make({ unknown: t }));
      continue;
    }
    const wanted = t.side === Side.CLIENT ? Side.SERVER : Side.CLIENT;
    const refOk = (o: ConnectionTimeline | undefined) => (o && !used.has(o) && o.side === wanted ? o : undefined);
    let peer = refOk(t.peer ? byKey.get(refKey(t.peer)) : undefined) ?? refOk(t.ref ? pointingAt.get(refKey(t.ref)) : undefined);
    if (!peer) {
      peer = ordered.find(
        (o) =>
          !used.has(o) &&
          o !== t &&
          o.side === wanted &&
          (t.side === Side.CLIENT ? mirrored(t, o) && overlapping(t, o) : mirrored(o, t) && overlapping(o, t)),
      );
    }
    pairs.push(t.side === Side.CLIENT ? make({ client: t, server: peer }) : make({ client: peer, server: t }));
  }
  return pairs.sort((a, b) => compareNs(a.startNs, b.startNs));
}
