import { Observation, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import type { Segment } from './connection-builder.js';
import { decodeSegments, encodeSegments, mergeSegments } from './segment-codec.js';

const T = 1_764_000_000_123_456_789n; // a 2025 time in ns: needs the 64-bit path

function segment(idx: number, state: TcpState, startNs: bigint, endNs: bigint | null, more: Partial<Segment> = {}): Segment {
  return {
    idx,
    state,
    startNs,
    endNs,
    startObservedBy: Observation.TRACEPOINT,
    endObservedBy: endNs === null ? Observation.UNSPECIFIED : Observation.TRACEPOINT,
    approximate: false,
    ...more,
  };
}

describe('segment codec', () => {
  it('round-trips a client connection exactly, in a few bytes per segment', () => {
    const segments = [
      segment(0, TcpState.SYN_SENT, T, T + 1_000_000n),
      segment(1, TcpState.ESTABLISHED, T + 1_000_000n, T + 500_000_000n),
      segment(2, TcpState.FIN_WAIT1, T + 500_000_000n, T + 500_000_123n),
      segment(3, TcpState.FIN_WAIT2, T + 500_000_123n, T + 500_001_000n, { endObservedBy: Observation.HANDOVER }),
      segment(4, TcpState.TIME_WAIT, T + 500_001_000n, T + 61_000_000_000n, {
        startObservedBy: Observation.HANDOVER,
        endObservedBy: Observation.SWEEP,
        approximate: true,
      }),
    ];
    const blob = encodeSegments(segments);
    expect(decodeSegments(blob)).toEqual(segments);
    // Five rows of a segments table with its indexes took about 400 bytes.
    expect(blob.length).toBeLessThanOrEqual(64);
  });

  it('keeps open segments, negative differences and extreme times exact', () => {
    const segments = [
      segment(0, TcpState.ESTABLISHED, 9_223_372_036_854_775_807n, 9_223_372_036_854_775_807n),
      segment(1, TcpState.CLOSE_WAIT, -9_223_372_036_854_775_808n, 0n, { approximate: true }),
      segment(2, TcpState.LAST_ACK, T, T - 5n),
      segment(3, TcpState.TIME_WAIT, T - 2n ** 52n, null),
    ];
    expect(decodeSegments(encodeSegments(segments))).toEqual(segments);
  });

  it('reads no segments from an empty or missing BLOB and refuses a damaged one', () => {
    expect(decodeSegments(null)).toEqual([]);
    expect(decodeSegments(encodeSegments([]))).toEqual([]);
    const blob = encodeSegments([segment(0, TcpState.ESTABLISHED, T, T + 1_000_000n)]);
    expect(() => decodeSegments(blob.subarray(0, blob.length - 1))).toThrow('stored segments end in the middle of a value');
    expect(() => decodeSegments(Buffer.from([7]))).toThrow('stored segments have format 7, which this tcpstate does not know');
    expect(() => encodeSegments([segment(1, TcpState.ESTABLISHED, T, null)])).toThrow('segment 1 is at position 0');
  });

  it('merges changed segments over the stored ones by idx', () => {
    const stored = [segment(0, TcpState.SYN_SENT, T, T + 1n), segment(1, TcpState.ESTABLISHED, T + 1n, null)];
    const changed = [segment(1, TcpState.ESTABLISHED, T + 1n, T + 9n), segment(2, TcpState.FIN_WAIT1, T + 9n, null)];
    expect(mergeSegments(stored, changed)).toEqual([stored[0], ...changed]);
    expect(stored[1].endNs).toBeNull();
  });
});
