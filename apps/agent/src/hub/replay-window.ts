// The hub's log: assigns seqs and keeps the newest events, bounded by count
// and by bytes, for resumes (since_seq / since_time / last). Events are kept
// as the batches they came in (for the kernel: its records, 120 bytes each)
// and made objects of only when a replay reads them: 100 000 live objects
// would all be promoted to V8's old space and slow every collection down,
// and making them costs more than the kernel's own work per event.
import type { StateChange } from '@tcpstate/proto';
import { Fifo } from './fifo.js';

/**
 * A batch of events as the window keeps it: read back one event at a time.
 * The kernel capture's records implement it; so does a plain array of
 * messages (ObjectBatch).
 */
export interface EventBatch {
  readonly length: number;
  /** Event i as a message; agent_id, boot_id and seq may be left empty (the hub sets them). */
  message(i: number): StateChange;
  /** Sets timeSeconds / timeNanos to event i's wall time (NaN seconds: it has none). */
  time(i: number): void;
  readonly timeSeconds: number;
  readonly timeNanos: number;
  /** Bytes of memory event i holds in the window. */
  size(i: number): number;
  /** Event i's ports, as message(i) would give them (to skip events no stream follows). */
  localPort(i: number): number;
  remotePort(i: number): number;
}

/** Who stamps the events read back: agent_id and boot_id. */
export interface WindowIdentity {
  readonly agentId: string;
  readonly bootId: string;
}

/** One batch in the window. */
interface Stored {
  readonly batch: EventBatch;
  /** Seq of the batch's event 0. */
  readonly firstSeq: number;
  /** The newest event time at or before each event (see seekTime). */
  readonly maxSeconds: Float64Array;
  readonly maxNanos: Float64Array;
}

/**
 * Kernel drops reported between seq afterSeq and afterSeq + 1. Kept in the
 * window so that a stream replaying over that point reports them in order.
 */
export interface KernelMark {
  readonly afterSeq: number;
  count: number;
  readonly time: Date;
}

/** Where a replay by time starts, and what it asked for that was already evicted. */
export interface TimeSeek {
  startSeq: number;
  evicted?: { firstSeq: number; lastSeq: number };
}

// Evicted events are gone, but a resume by time should still say roughly
// how much it missed: every CHECKPOINT_EVERY evicted seqs, remember the
// running-maximum time; the newest CHECKPOINTS_KEPT checkpoints are kept.
const CHECKPOINT_EVERY = 1024;
const CHECKPOINTS_KEPT = 4096;

interface Checkpoint {
  seq: number;
  maxSeconds: number;
  maxNanos: number;
}

const before = (s1: number, n1: number, s2: number, n2: number) => s1 < s2 || (s1 === s2 && n1 < n2);

/** Where one held event is. */
interface Position {
  stored: Stored;
  index: number;
}

export class ReplayWindow {
  private readonly batches = new Fifo<Stored>();
  private readonly marks = new Fifo<KernelMark>();
  private readonly checkpoints = new Fifo<Checkpoint>();
  private evictedMaxSeconds = -Infinity;
  private evictedMaxNanos = 0;
  private newestSeconds = -Infinity;
  private newestNanos = 0;
  private totalBytes = 0;
  /** Seq of the oldest event held; nextSeq when empty. */
  firstSeq = 1;
  /** The seq the next appended event receives. Seqs start at 1. */
  nextSeq = 1;

  constructor(
    readonly maxEvents: number,
    readonly maxBytes: number,
    private readonly identity: WindowIdentity = { agentId: '', bootId: '' },
  ) {}

  get length(): number {
    return this.nextSeq - this.firstSeq;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Appends a batch: its events get the seqs nextSeq, nextSeq + 1, ... */
  append(batch: EventBatch): void {
    const count = batch.length;
    if (count === 0) return;
    const maxSeconds = new Float64Array(count);
    const maxNanos = new Float64Array(count);
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      batch.time(i);
      if (before(this.newestSeconds, this.newestNanos, batch.timeSeconds, batch.timeNanos)) {
        this.newestSeconds = batch.timeSeconds;
        this.newestNanos = batch.timeNanos;
      }
      maxSeconds[i] = this.newestSeconds;
      maxNanos[i] = this.newestNanos;
      bytes += batch.size(i);
    }
    this.batches.push({ batch, firstSeq: this.nextSeq, maxSeconds, maxNanos });
    this.totalBytes += bytes;
    this.nextSeq += count;
  }

  /** Where the event with this seq is; the caller keeps firstSeq <= seq < nextSeq. */
  private locate(seq: number): Position {
    const batches = this.batches;
    let low = 0;
    let high = batches.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (batches.at(middle).firstSeq <= seq) low = middle;
      else high = middle - 1;
    }
    const stored = batches.at(low);
    return { stored, index: seq - stored.firstSeq };
  }

  /** The event with this seq, as a message of its own; the caller keeps firstSeq <= seq < nextSeq. */
  event(seq: number): StateChange {
    const { stored, index } = this.locate(seq);
    const event = stored.batch.message(index);
    event.agentId = this.identity.agentId;
    event.bootId = this.identity.bootId;
    event.seq = BigInt(seq);
    return event;
  }

  /** Bytes of the events first, first + 1, ... first + count - 1. */
  private bytesOf(first: number, count: number): number {
    let total = 0;
    let seq = first;
    const last = first + count;
    while (seq < last) {
      const { stored, index } = this.locate(seq);
      const upto = Math.min(last - stored.firstSeq, stored.batch.length);
      for (let i = index; i < upto; i++) total += stored.batch.size(i);
      seq = stored.firstSeq + upto;
    }
    return total;
  }

  /** How many of the oldest events must go to respect both limits. */
  excess(): number {
    const length = this.length;
    let evict = Math.max(0, length - this.maxEvents);
    let bytes = this.totalBytes - this.bytesOf(this.firstSeq, evict);
    while (bytes > this.maxBytes && evict < length) bytes -= this.bytesOf(this.firstSeq + evict++, 1);
    return evict;
  }

  /** Drops the `count` oldest events, and the kernel marks no replay can reach any more. */
  evict(count: number): void {
    if (count <= 0) return;
    const last = this.firstSeq + count - 1;
    this.totalBytes -= this.bytesOf(this.firstSeq, count);
    const { stored, index } = this.locate(last);
    this.evictedMaxSeconds = stored.maxSeconds[index];
    this.evictedMaxNanos = stored.maxNanos[index];
    for (let seq = Math.ceil(this.firstSeq / CHECKPOINT_EVERY) * CHECKPOINT_EVERY; seq <= last; seq += CHECKPOINT_EVERY) {
      const at = this.locate(seq);
      if (this.checkpoints.length === CHECKPOINTS_KEPT) this.checkpoints.shift();
      this.checkpoints.push({ seq, maxSeconds: at.stored.maxSeconds[at.index], maxNanos: at.stored.maxNanos[at.index] });
    }
    this.firstSeq = last + 1;
    // Batches wholly evicted go.
    const batches = this.batches;
    while (batches.length > 0 && batches.at(0).firstSeq + batches.at(0).batch.length <= this.firstSeq) batches.shift();
    while (this.marks.length > 0 && this.marks.at(0).afterSeq < this.firstSeq) this.marks.shift();
  }

  /** Records kernel drops after the newest event; drops reported together coalesce. */
  addKernelMark(count: number, time: Date): KernelMark {
    const afterSeq = this.nextSeq - 1;
    const last = this.marks.last();
    if (last !== undefined && last.afterSeq === afterSeq) {
      last.count += count;
      return last;
    }
    const mark = { afterSeq, count, time };
    this.marks.push(mark);
    return mark;
  }

  /** The oldest kernel mark with afterSeq >= seq. */
  markAtOrAfter(seq: number): KernelMark | undefined {
    for (let i = 0; i < this.marks.length; i++) if (this.marks.at(i).afterSeq >= seq) return this.marks.at(i);
    return undefined;
  }

  /** Where a replay of events at or after (seconds, nanos) starts. */
  seekTime(seconds: number, nanos: number): TimeSeek {
    const first = this.firstSeq;
    if (first > 1 && !before(this.evictedMaxSeconds, this.evictedMaxNanos, seconds, nanos)) {
      // Some evicted event was at or after the time. Everything up to the
      // newest checkpoint still before it was earlier, so was not wanted.
      let lowest = 1;
      for (let i = this.checkpoints.length - 1; i >= 0; i--) {
        const checkpoint = this.checkpoints.at(i);
        if (before(checkpoint.maxSeconds, checkpoint.maxNanos, seconds, nanos)) {
          lowest = checkpoint.seq + 1;
          break;
        }
      }
      return { startSeq: first, evicted: { firstSeq: lowest, lastSeq: first - 1 } };
    }
    let low = 0;
    let high = this.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const { stored, index } = this.locate(first + middle);
      if (before(stored.maxSeconds[index], stored.maxNanos[index], seconds, nanos)) low = middle + 1;
      else high = middle;
    }
    return { startSeq: first + low };
  }

  /**
   * Seq of the oldest of the newest `count` events that pass `matches`
   * (the whole window when fewer pass); nextSeq when none do.
   */
  seekLast(count: number, matches: (event: StateChange) => boolean): number {
    let found = 0;
    let start = this.nextSeq;
    for (let seq = this.nextSeq - 1; seq >= this.firstSeq && found < count; seq--) {
      if (matches(this.event(seq))) {
        found++;
        start = seq;
      }
    }
    return start;
  }
}
