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
import { ByteReader, ByteWriter } from './byte-codec.js';
import { StoreError } from './errors.js';

const FORMAT = 1;
const APPROXIMATE = 1;
const HAS_END = 2;

/** A connection's segments (idx 0, 1, ... in order) as the stored BLOB. */
export function encodeSegments(segments: readonly Segment[]): Buffer {
  const out = new ByteWriter(1 + segments.length * 12);
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
  const input = new ByteReader(blob, 1, 'stored segments');
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
