// A connection's state segments, stored inline in its row as one small BLOB
// (schema version 3) instead of a row each in a segments table: a connection
// has a handful of segments, always read and written together with its row,
// and a table of them cost three B-tree entries per segment (about 80 bytes)
// and two writes per event at ingest. Encoded this way a segment takes about
// 8 bytes.
//
// Layout: a format byte (1), then per segment in idx order:
//   state, flags (bit 0: approximate, bit 1: has an end), start_observed_by,
//   end_observed_by as unsigned varints; start as a zigzag varint, relative to
//   the previous segment's start (the first one relative to 0, i.e. absolute);
//   end - start as a zigzag varint when the segment has an end.
// Zigzag keeps the rare negative difference (a start before the previous one,
// after lost transitions) exact.
import type { Segment } from './connection-builder.js';
import { StoreError } from './errors.js';

const FORMAT = 1;
/** Values of smaller magnitude zigzag-map below 2^53, exact in a double. */
const SAFE_HALF = 2n ** 52n;
const APPROXIMATE = 1;
const HAS_END = 2;

/** A connection's segments (idx 0, 1, ... in order) as the stored BLOB. */
export function encodeSegments(segments: readonly Segment[]): Buffer {
  const out = new Writer(1 + segments.length * 12);
  out.byte(FORMAT);
  let previous = 0n;
  segments.forEach((s, i) => {
    if (s.idx !== i) throw new StoreError(`segment ${s.idx} is at position ${i}: segments must be numbered from 0 without holes`);
    out.uint((s.approximate ? APPROXIMATE : 0) | (s.endNs === null ? 0 : HAS_END));
    out.uint(s.state);
    out.uint(s.startObservedBy);
    out.uint(s.endObservedBy);
    out.zigzag(s.startNs - previous);
    if (s.endNs !== null) out.zigzag(s.endNs - s.startNs);
    previous = s.startNs;
  });
  return out.done();
}

/** Back from encodeSegments; an empty or missing BLOB is no segments. */
export function decodeSegments(blob: Uint8Array | null | undefined): Segment[] {
  if (!blob || blob.length === 0) return [];
  if (blob[0] !== FORMAT) throw new StoreError(`stored segments have format ${blob[0]}, which this tcpstate does not know`);
  const input = new Reader(blob, 1);
  const segments: Segment[] = [];
  let previous = 0n;
  while (!input.atEnd()) {
    const flags = input.uint();
    const state = input.uint();
    const startObservedBy = input.uint();
    const endObservedBy = input.uint();
    // Differences wrap around 64 bits both ways, like the columns they came from.
    const startNs = BigInt.asIntN(64, previous + input.zigzag());
    const endNs = flags & HAS_END ? BigInt.asIntN(64, startNs + input.zigzag()) : null;
    segments.push({ idx: segments.length, state, startNs, endNs, startObservedBy, endObservedBy, approximate: (flags & APPROXIMATE) !== 0 });
    previous = startNs;
  }
  return segments;
}

/** The stored segments with the changed ones (by idx) put in place or appended. */
export function mergeSegments(stored: readonly Segment[], changed: readonly Segment[]): Segment[] {
  const merged = stored.slice();
  for (const s of changed) merged[s.idx] = s;
  return merged;
}

class Writer {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  byte(value: number): void {
    if (this.length === this.buffer.length) {
      const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
      this.buffer.copy(bigger);
      this.buffer = bigger;
    }
    this.buffer[this.length++] = value;
  }

  /** A non-negative integer below 2^53. */
  uint(value: number): void {
    while (value >= 0x80) {
      this.byte((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.byte(value);
  }

  /** A difference of two 64-bit values, wrapped to 64 bits and zigzag-mapped so small magnitudes take few bytes. */
  zigzag(difference: bigint): void {
    // Most differences (all but a connection's first start) are far below 2^52: map them in numbers,
    // without the bigint operations (a third of the encoder's time at ingest).
    if (difference > -SAFE_HALF && difference < SAFE_HALF) {
      const n = Number(difference);
      this.uint(n >= 0 ? n * 2 : -n * 2 - 1);
      return;
    }
    const value = BigInt.asIntN(64, difference);
    const v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
    if (v < 0x20000000000000n) {
      this.uint(Number(v));
      return;
    }
    // Larger (a connection's first start, absolute): 7 bits at a time from two 32-bit halves, in numbers.
    let high = Number(v >> 32n);
    let low = Number(v & 0xffffffffn);
    while (high > 0 || low >= 0x80) {
      this.byte((low & 0x7f) | 0x80);
      low = ((low >>> 7) | ((high & 0x7f) << 25)) >>> 0;
      high >>>= 7;
    }
    this.byte(low);
  }

  done(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    private offset: number,
  ) {}

  atEnd(): boolean {
    return this.offset >= this.bytes.length;
  }

  private next(): number {
    if (this.offset >= this.bytes.length) throw new StoreError('stored segments end in the middle of a value');
    return this.bytes[this.offset++];
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.next();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
  }

  zigzag(): bigint {
    // Up to 7 bytes (49 bits) a double holds the value exactly: the common case.
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let n = 0; n < 7; n++) {
      const b = this.next();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(value % 2 === 0 ? value / 2 : -(value + 1) / 2);
      scale *= 0x80;
    }
    this.offset = start;
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.next();
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7n;
    }
    return BigInt.asIntN(64, (v >> 1n) ^ -(v & 1n));
  }
}
