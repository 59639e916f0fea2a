// The raw events of an agent run, stored as blocks: one row per ingested batch
// holding its events as one BLOB (schema version 5), instead of a row per
// event. A row per event cost as much as everything else at ingest put
// together (a B-tree entry of ~100 bytes and an insert each; BENCHMARKS.md):
// the derived connection rows answer the timeline queries, and the raw
// events are read only in bulk (GetStats' transition counts by time, a rare
// re-derivation of a connection by seq range, retention by time, tests that
// count seqs), so a block row carries the seq and time ranges those readers
// select by.
//
// Layout: a format byte (1), the event count, a string table (count, then
// each string: addresses and process names repeat within a batch), then per
// event in seq order:
//   flags (bit 0: time_in_old_state, bit 1: time_uncertainty present);
//   seq, time_ns, monotonic_ns, cookie, cgroup_id as zigzag differences to
//   the previous event's (the first to 0);
//   family, old_state, new_state, side, observed_by, local address (string
//   index), local port, remote address (index), remote port, pid, comm (index)
//   as unsigned varints; netns as a signed difference to the previous one;
//   time_in_old_state_ns, time_uncertainty_ns as zigzag values when present.
// About 30 bytes an event.
//
// A block's events lie within MAX_BLOCK_SPAN_NS of each other (a batch whose
// events spread wider, e.g. one replayed after an outage, becomes several
// blocks): a time window selects blocks by a bounded range of their newest
// time, and retention, which removes whole blocks, keeps an event at most
// that long past the cut-off.
import { ByteReader, ByteWriter } from './byte-codec.js';
import type { ConnectionEvent } from './connection-builder.js';
import { StoreError } from './errors.js';

const FORMAT = 1;
const HAS_TIME_IN_OLD_STATE = 1;
const HAS_UNCERTAINTY = 2;

/** One event as the store keeps it: every field of the agent's StateChange but the run (agent_id, boot_id). */
export interface StoredEvent extends ConnectionEvent {
  /** uint64 as the int64 with the same bits, like cookie. */
  monotonicNs: bigint;
  /** uint64 as the int64 with the same bits. */
  cgroupId: bigint;
  /** null when the time is exact. */
  timeUncertaintyNs: bigint | null;
}

/** A block row: the encoded events and what readers select blocks by. */
export interface EventBlock {
  events: Buffer;
  count: number;
  firstSeq: bigint;
  lastSeq: bigint;
  /** The earliest and latest event time in the block (events are in seq order, not time order). */
  firstTimeNs: bigint;
  lastTimeNs: bigint;
}

/** The widest time range of one block's events: the collector's batches (100 ms) fit many times over. */
export const MAX_BLOCK_SPAN_NS = 1_000_000_000n;

/** Encodes events (unique, ascending seq) as blocks, each spanning at most MAX_BLOCK_SPAN_NS of time. */
export function encodeEventBlocks(events: readonly StoredEvent[]): EventBlock[] {
  const blocks: EventBlock[] = [];
  let start = 0;
  let low = 0n;
  let high = 0n;
  for (let i = 0; i < events.length; i++) {
    const t = events[i].timeNs;
    if (i > start && (t - low > MAX_BLOCK_SPAN_NS || high - t > MAX_BLOCK_SPAN_NS)) {
      blocks.push(encodeEventBlock(events.slice(start, i)));
      start = i;
    }
    if (i === start) low = high = t;
    else if (t < low) low = t;
    else if (t > high) high = t;
  }
  if (start < events.length) blocks.push(encodeEventBlock(start === 0 ? events : events.slice(start)));
  return blocks;
}

/** Encodes events (unique, ascending seq, at least one) as one block. */
export function encodeEventBlock(events: readonly StoredEvent[]): EventBlock {
  if (events.length === 0) throw new StoreError('an event block holds at least one event');
  const strings = new Map<string, number>();
  const index = (s: string) => {
    let i = strings.get(s);
    if (i === undefined) strings.set(s, (i = strings.size));
    return i;
  };
  const body = new ByteWriter(events.length * 40);
  let seq = 0n;
  let time = 0n;
  let monotonic = 0n;
  let cookie = 0n;
  let cgroup = 0n;
  let netns = 0;
  let firstTimeNs = events[0].timeNs;
  let lastTimeNs = events[0].timeNs;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (i > 0 && e.seq <= seq) throw new StoreError(`event seq ${e.seq} follows seq ${seq}: a block's events must be in ascending seq order`);
    body.uint((e.timeInOldStateNs === null ? 0 : HAS_TIME_IN_OLD_STATE) | (e.timeUncertaintyNs === null ? 0 : HAS_UNCERTAINTY));
    body.zigzag(e.seq - seq);
    body.zigzag(e.timeNs - time);
    body.zigzag(e.monotonicNs - monotonic);
    body.zigzag(e.cookie - cookie);
    body.zigzag(e.cgroupId - cgroup);
    body.uint(e.family);
    body.uint(e.oldState);
    body.uint(e.newState);
    body.uint(e.side);
    body.uint(e.observedBy);
    body.uint(index(e.localAddress));
    body.uint(e.localPort);
    body.uint(index(e.remoteAddress));
    body.uint(e.remotePort);
    body.uint(e.pid);
    body.uint(index(e.comm));
    body.int(e.netns - netns);
    if (e.timeInOldStateNs !== null) body.zigzag(e.timeInOldStateNs);
    if (e.timeUncertaintyNs !== null) body.zigzag(e.timeUncertaintyNs);
    seq = e.seq;
    time = e.timeNs;
    monotonic = e.monotonicNs;
    cookie = e.cookie;
    cgroup = e.cgroupId;
    netns = e.netns;
    if (time < firstTimeNs) firstTimeNs = time;
    if (time > lastTimeNs) lastTimeNs = time;
  }
  const head = new ByteWriter(16 + strings.size * 16);
  head.byte(FORMAT);
  head.uint(events.length);
  head.uint(strings.size);
  for (const s of strings.keys()) head.text(s);
  return {
    events: Buffer.concat([head.done(), body.done()]),
    count: events.length,
    firstSeq: events[0].seq,
    lastSeq: events[events.length - 1].seq,
    firstTimeNs,
    lastTimeNs,
  };
}

/** A reader after the block's format byte, which it checks. */
function blockReader(blob: Uint8Array): ByteReader {
  if (blob.length === 0 || blob[0] !== FORMAT) {
    throw new StoreError(`a stored event block has format ${blob[0] ?? 'none'}, which this tcpstate does not know`);
  }
  return new ByteReader(blob, 1, 'a stored event block');
}

/**
 * Adds a block's transitions to `counts` (key old_state * 256 + new_state)
 * without building its events: what GetStats needs of a block that lies
 * wholly inside its window and is not filtered by connection.
 */
export function countTransitions(blob: Uint8Array, counts: Map<number, number>): void {
  const input = blockReader(blob);
  const count = input.uint();
  const strings = input.uint();
  for (let i = 0; i < strings; i++) input.skipText();
  for (let i = 0; i < count; i++) {
    const flags = input.uint();
    input.skip(6); // seq, time, monotonic, cookie, cgroup, family
    const key = input.uint() * 256 + input.uint();
    counts.set(key, (counts.get(key) ?? 0) + 1);
    // side, observed_by, local address and port, remote address and port, pid, comm, netns, and the optional durations
    input.skip(9 + (flags & HAS_TIME_IN_OLD_STATE ? 1 : 0) + (flags & HAS_UNCERTAINTY ? 1 : 0));
  }
  if (!input.atEnd()) throw new StoreError('a stored event block has bytes after its last event');
}

/** Back from encodeEventBlock: the block's events in seq order. */
export function decodeEventBlock(blob: Uint8Array): StoredEvent[] {
  const input = blockReader(blob);
  const count = input.uint();
  const strings = Array.from({ length: input.uint() }, () => input.text());
  const text = (i: number) => {
    const s = strings[i];
    if (s === undefined) throw new StoreError(`a stored event block names string ${i} of ${strings.length}`);
    return s;
  };
  const events: StoredEvent[] = new Array(count);
  let seq = 0n;
  let time = 0n;
  let monotonic = 0n;
  let cookie = 0n;
  let cgroup = 0n;
  let netns = 0;
  for (let i = 0; i < count; i++) {
    const flags = input.uint();
    // Differences wrap around 64 bits both ways, like the values they came from.
    seq = BigInt.asIntN(64, seq + input.zigzag());
    time = BigInt.asIntN(64, time + input.zigzag());
    monotonic = BigInt.asIntN(64, monotonic + input.zigzag());
    cookie = BigInt.asIntN(64, cookie + input.zigzag());
    cgroup = BigInt.asIntN(64, cgroup + input.zigzag());
    const family = input.uint();
    const oldState = input.uint();
    const newState = input.uint();
    const side = input.uint();
    const observedBy = input.uint();
    const localAddress = text(input.uint());
    const localPort = input.uint();
    const remoteAddress = text(input.uint());
    const remotePort = input.uint();
    const pid = input.uint();
    const comm = text(input.uint());
    netns += input.int();
    const timeInOldStateNs = flags & HAS_TIME_IN_OLD_STATE ? input.zigzag() : null;
    const timeUncertaintyNs = flags & HAS_UNCERTAINTY ? input.zigzag() : null;
    events[i] = {
      seq, timeNs: time, monotonicNs: monotonic, cookie, cgroupId: cgroup, family, localAddress, localPort, remoteAddress,
      remotePort, oldState, newState, side, timeInOldStateNs, pid, comm, netns, observedBy, timeUncertaintyNs,
    };
  }
  if (!input.atEnd()) throw new StoreError('a stored event block has bytes after its last event');
  return events;
}
