// The hub's log: assigns seqs and keeps the newest events, bounded by count
// and by estimated bytes, for resumes (since_seq / since_time / last).
import type { StateChange, SubscribeResponse } from '@tcpstate/proto';
import { Fifo } from './fifo.js';

/** One event in the window. */
export interface WindowEntry {
  readonly seq: number;
  readonly event: StateChange;
  /** The event wrapped once, shared by every subscriber that receives it. */
  readonly response: SubscribeResponse;
  readonly bytes: number;
  /**
   * The newest event time at or before this seq (seconds, nanos). Times from
   * different CPUs can be slightly out of order; this running maximum is
   * ordered by construction, so a binary search on it finds the first event
   * at or after a time exactly as a linear scan would.
   */
  readonly maxSeconds: number;
  readonly maxNanos: number;
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

/**
 * Estimated heap bytes of one event in the window: the StateChange with its
 * Timestamp, Duration and bigints, its SubscribeResponse wrapper, the window
 * entry, plus its own text. Measured with Node 24 on 100 000 decoder-like
 * events (every address string its own): 1467 bytes each, against 1463
 * estimated. Cheap on purpose: no serialization per event.
 */
export function estimateEventBytes(event: StateChange): number {
  return 1440 + event.localAddress.length + event.remoteAddress.length + event.comm.length;
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

export class ReplayWindow {
  private readonly entries = new Fifo<WindowEntry>(1024);
  private readonly marks = new Fifo<KernelMark>();
  private readonly checkpoints = new Fifo<Checkpoint>();
  private evictedMaxSeconds = -Infinity;
  private evictedMaxNanos = 0;
  private newestSeconds = -Infinity;
  private newestNanos = 0;
  private totalBytes = 0;
  /** The seq the next appended event receives. Seqs start at 1. */
  nextSeq = 1;

  constructor(
    readonly maxEvents: number,
    readonly maxBytes: number,
  ) {}

  /** Seq of the oldest event held; nextSeq when empty. */
  get firstSeq(): number {
    return this.nextSeq - this.entries.length;
  }

  get length(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Appends an event whose seq is nextSeq (the caller stamped it). */
  append(event: StateChange, response: SubscribeResponse): void {
    const time = event.time;
    if (time !== undefined) {
      const seconds = Number(time.seconds);
      if (before(this.newestSeconds, this.newestNanos, seconds, time.nanos)) {
        this.newestSeconds = seconds;
        this.newestNanos = time.nanos;
      }
    }
    const bytes = estimateEventBytes(event);
    this.totalBytes += bytes;
    this.entries.push({
      seq: this.nextSeq++,
      event,
      response,
      bytes,
      maxSeconds: this.newestSeconds,
      maxNanos: this.newestNanos,
    });
  }

  /** The entry with this seq; the caller keeps firstSeq <= seq < nextSeq. */
  get(seq: number): WindowEntry {
    return this.entries.at(seq - this.firstSeq);
  }

  /** How many of the oldest entries must go to respect both limits. */
  excess(): number {
    let evict = Math.max(0, this.entries.length - this.maxEvents);
    let bytes = this.totalBytes;
    for (let i = 0; i < evict; i++) bytes -= this.entries.at(i).bytes;
    while (bytes > this.maxBytes && evict < this.entries.length) bytes -= this.entries.at(evict++).bytes;
    return evict;
  }

  /** Drops the `count` oldest entries, and the kernel marks no replay can reach any more. */
  evict(count: number): void {
    for (let i = 0; i < count; i++) {
      const entry = this.entries.shift()!;
      this.totalBytes -= entry.bytes;
      this.evictedMaxSeconds = entry.maxSeconds;
      this.evictedMaxNanos = entry.maxNanos;
      if (entry.seq % CHECKPOINT_EVERY === 0) {
        if (this.checkpoints.length === CHECKPOINTS_KEPT) this.checkpoints.shift();
        this.checkpoints.push({ seq: entry.seq, maxSeconds: entry.maxSeconds, maxNanos: entry.maxNanos });
      }
    }
    const first = this.firstSeq;
    while (this.marks.length > 0 && this.marks.at(0).afterSeq < first) this.marks.shift();
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
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const entry = this.entries.at(middle);
      if (before(entry.maxSeconds, entry.maxNanos, seconds, nanos)) low = middle + 1;
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
    for (let i = this.entries.length - 1; i >= 0 && found < count; i--) {
      const entry = this.entries.at(i);
      if (matches(entry.event)) {
        found++;
        start = entry.seq;
      }
    }
    return start;
  }
}
