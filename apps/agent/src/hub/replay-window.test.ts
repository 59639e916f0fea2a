import { create, equals, toBinary } from '@bufbuild/protobuf';
import { StateChangeSchema, type StateChange } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { ObjectBatch } from './object-batch.js';
import { ReplayWindow } from './replay-window.js';

/** Event seq, with text of varying length so that events differ in size; seq 7 has no time. */
function event(seq: number): StateChange {
  return create(StateChangeSchema, {
    agentId: 'a',
    bootId: 'b',
    seq: BigInt(seq),
    localPort: seq % 5,
    comm: 'c'.repeat(seq % 13),
    time: seq === 7 ? undefined : { seconds: BigInt(1000 + Math.floor(seq / 10)), nanos: (seq % 10) * 1000 },
  });
}

const serialized = new Map<number, number>();
function sizeOf(seq: number): number {
  let size = serialized.get(seq);
  if (size === undefined) serialized.set(seq, (size = toBinary(StateChangeSchema, event(seq)).length));
  return size;
}

/** Appends seqs from..to in batches of `per`. */
function fill(window: ReplayWindow, from: number, to: number, per = 10): void {
  for (let seq = from; seq <= to; seq += per) {
    const batch: StateChange[] = [];
    for (let s = seq; s <= Math.min(to, seq + per - 1); s++) batch.push(event(s));
    window.append(new ObjectBatch(batch));
  }
}

const identity = { agentId: 'a', bootId: 'b' };

describe('ReplayWindow', () => {
  it('keeps events across many batches, and gives each back with its seq and identity', () => {
    const window = new ReplayWindow(1_000_000, 1 << 30, identity);
    fill(window, 1, 997, 1);
    fill(window, 998, 2000, 37);
    expect(window.length).toBe(2000);
    let total = 0;
    const wrong: number[] = [];
    for (let seq = 1; seq <= 2000; seq++) {
      if (!equals(StateChangeSchema, window.event(seq), event(seq))) wrong.push(seq);
      total += sizeOf(seq);
    }
    expect(wrong).toEqual([]);
    expect(window.bytes).toBe(total);
  });

  it('evicts by count and by bytes, inside batches too, counting the bytes exactly', () => {
    const window = new ReplayWindow(500, 20_000, identity);
    for (let round = 0; round < 40; round++) {
      fill(window, window.nextSeq, window.nextSeq + 49, 7);
      window.evict(window.excess());
      let bytes = 0;
      for (let seq = window.firstSeq; seq < window.nextSeq; seq++) bytes += sizeOf(seq);
      expect(window.bytes).toBe(bytes);
      expect(window.length).toBeLessThanOrEqual(500);
      expect(bytes).toBeLessThanOrEqual(20_000);
      // One more event would not have fitted: evictions take only what they must.
      if (window.firstSeq > 1) expect(bytes + sizeOf(window.firstSeq - 1) > 20_000 || window.length === 500).toBe(true);
    }
    expect(window.nextSeq).toBe(2001);
    const wrong: number[] = [];
    for (let seq = window.firstSeq; seq < window.nextSeq; seq++) if (!equals(StateChangeSchema, window.event(seq), event(seq))) wrong.push(seq);
    expect(wrong).toEqual([]);
  });

  it('empties completely and goes on', () => {
    const window = new ReplayWindow(0, 1 << 30, identity);
    fill(window, 1, 30);
    window.evict(window.excess());
    expect([window.length, window.bytes, window.firstSeq, window.nextSeq]).toEqual([0, 0, 31, 31]);
    fill(window, 31, 31);
    expect(equals(StateChangeSchema, window.event(31), event(31))).toBe(true);
  });

  it('finds times and the last matching events as a scan would, before and after evictions', () => {
    const window = new ReplayWindow(1500, 1 << 30, identity);
    fill(window, 1, 3000, 64);
    window.evict(window.excess());
    expect(window.firstSeq).toBe(1501);
    // Seq s has time 1000 + floor(s / 10) s + (s % 10) us.
    expect(window.seekTime(1200, 0)).toEqual({ startSeq: 2000 });
    expect(window.seekTime(1200, 1)).toEqual({ startSeq: 2001 });
    expect(window.seekTime(5000, 0)).toEqual({ startSeq: 3001 });
    expect(window.seekTime(1100, 0)).toEqual({ startSeq: 1501, evicted: { firstSeq: 1, lastSeq: 1500 } });
    expect(window.seekTime(1149, 0)).toEqual({ startSeq: 1501, evicted: { firstSeq: 1025, lastSeq: 1500 } });
    expect(window.seekLast(3, (e) => e.localPort === 2)).toBe(2987);
    expect(window.seekLast(10_000, (e) => e.localPort === 2)).toBe(1502);
    expect(window.seekLast(1, () => false)).toBe(3001);
  });
});
