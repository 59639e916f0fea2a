import { AddressFamily, Observation, Side, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { countTransitions, decodeEventBlock, encodeEventBlock, encodeEventBlocks, MAX_BLOCK_SPAN_NS, type StoredEvent } from './event-block.js';
import { StoreError } from './errors.js';

const T = 1_764_000_000_123_456_789n; // a 2025 time in ns: needs the 64-bit path
const { CLOSE, SYN_SENT, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, TIME_WAIT } = TcpState;

function event(seq: bigint, timeNs: bigint, oldState: TcpState, newState: TcpState, more: Partial<StoredEvent> = {}): StoredEvent {
  return {
    seq,
    timeNs,
    monotonicNs: timeNs - T + 86_400_000_000_000n,
    cookie: 4242n,
    family: AddressFamily.INET,
    localAddress: '10.0.0.1',
    localPort: 40000,
    remoteAddress: '10.0.0.2',
    remotePort: 80,
    oldState,
    newState,
    side: Side.CLIENT,
    timeInOldStateNs: null,
    pid: 4242,
    comm: 'curl',
    cgroupId: 7315n,
    netns: 4026531840,
    observedBy: Observation.TRACEPOINT,
    timeUncertaintyNs: null,
    ...more,
  };
}

/** One client connection's five transitions, as the agent reports them. */
function clientConnection(firstSeq: bigint, t: bigint, cookie: bigint, port: number): StoredEvent[] {
  const at = (i: number, ms: bigint, o: TcpState, n: TcpState, inOld: bigint | null) =>
    event(firstSeq + BigInt(i), t + ms * 1_000_000n, o, n, { cookie, localPort: port, timeInOldStateNs: inOld });
  return [
    at(0, 0n, CLOSE, SYN_SENT, null),
    at(1, 1n, SYN_SENT, ESTABLISHED, 1_000_000n),
    at(2, 3n, ESTABLISHED, FIN_WAIT1, 2_000_000n),
    at(3, 4n, FIN_WAIT1, FIN_WAIT2, 1_000_000n),
    at(4, 5n, FIN_WAIT2, TIME_WAIT, 1_000_000n),
  ].map((e, i) => (i === 4 ? { ...e, observedBy: Observation.HANDOVER } : e));
}

describe('event block codec', () => {
  it('round-trips a batch of real-shaped events exactly, in about 30 bytes an event', () => {
    const events = Array.from({ length: 200 }, (_, i) => clientConnection(BigInt(i * 5 + 1), T + BigInt(i) * 700_000n, 9000n + BigInt(i), 33000 + i)).flat();
    const block = encodeEventBlock(events);
    expect(decodeEventBlock(block.events)).toEqual(events);
    expect(block).toMatchObject({ count: 1000, firstSeq: 1n, lastSeq: 1000n, firstTimeNs: T, lastTimeNs: T + 199n * 700_000n + 5_000_000n });
    // A row of the events table took about 100 bytes with its key.
    expect(block.events.length / events.length).toBeLessThan(32);
  });

  it('keeps extreme and unusual values exact: 64-bit ends, negative differences, IPv6, unicode, uncertainties', () => {
    const max = 2n ** 63n - 1n;
    const min = -(2n ** 63n);
    const events = [
      event(1n, min, CLOSE, SYN_SENT, { cookie: max, cgroupId: min, monotonicNs: max, netns: 4294967295, timeUncertaintyNs: 2_000_000n }),
      event(2n, max, SYN_SENT, ESTABLISHED, { cookie: min, cgroupId: max, monotonicNs: 0n, netns: 0, timeInOldStateNs: max }),
      event(3n, T, ESTABLISHED, CLOSE, {
        cookie: -1n, family: AddressFamily.INET6, localAddress: '2001:db8::1', remoteAddress: '::ffff:10.0.0.2', localPort: 65535, remotePort: 0,
        comm: 'nginx: wörker ✓', pid: 4294967295, side: Side.SERVER, observedBy: Observation.SWEEP, timeInOldStateNs: -5n, timeUncertaintyNs: 0n,
      }),
      // A time before the previous one (the timer strategy's FIN step arrives after later events).
      event(2n ** 40n, T - 60_000_000_000n, FIN_WAIT1, FIN_WAIT2, { localAddress: '', remoteAddress: '', comm: '' }),
    ];
    const block = encodeEventBlock(events);
    expect(decodeEventBlock(block.events)).toEqual(events);
    expect([block.firstSeq, block.lastSeq, block.firstTimeNs, block.lastTimeNs]).toEqual([1n, 2n ** 40n, min, max]);
  });

  it('keeps differences exact on both sides of 2^52, where the encoder leaves numbers for bigints', () => {
    const h = 2n ** 52n;
    const steps = [h - 1n, h, h + 1n, -(h - 1n), -h, -(h + 1n), 3n * h + 7n, -(3n * h + 7n)];
    let t = 0n;
    const events = steps.map((d, i) => event(BigInt(i + 1), (t += d), CLOSE, SYN_SENT, { cookie: t, monotonicNs: -t, cgroupId: d }));
    expect(decodeEventBlock(encodeEventBlock(events).events)).toEqual(events);
  });

  it('counts a block\'s transitions without building its events, exactly as its decoded events say', () => {
    const events = [
      ...clientConnection(1n, T, 77n, 40000),
      event(6n, T + 9n, FIN_WAIT2, TIME_WAIT, { timeUncertaintyNs: 20_000_000n, comm: 'wörker', localAddress: '2001:db8::1' }),
      event(7n, T + 10n, TIME_WAIT, CLOSE, { timeInOldStateNs: 60_000_000_000n, timeUncertaintyNs: 1n, observedBy: Observation.SWEEP }),
    ];
    const blob = encodeEventBlock(events).events;
    const counts = new Map<number, number>([[CLOSE * 256 + SYN_SENT, 2]]);
    countTransitions(blob, counts);
    const expected = new Map<number, number>([[CLOSE * 256 + SYN_SENT, 2]]);
    for (const e of decodeEventBlock(blob)) expected.set(e.oldState * 256 + e.newState, (expected.get(e.oldState * 256 + e.newState) ?? 0) + 1);
    expect([...counts].sort()).toEqual([...expected].sort());
    expect(counts.get(FIN_WAIT2 * 256 + TIME_WAIT)).toBe(2);
    expect(() => countTransitions(blob.subarray(0, blob.length - 2), new Map())).toThrow(/end in the middle/);
    expect(() => countTransitions(Buffer.concat([blob, Buffer.from([1])]), new Map())).toThrow(/bytes after its last event/);
  });

  it('refuses an empty or out-of-order batch, and a block it cannot read, with a StoreError naming the problem', () => {
    expect(() => encodeEventBlock([])).toThrow(/at least one event/);
    expect(() => encodeEventBlock([event(2n, T, CLOSE, SYN_SENT), event(2n, T, SYN_SENT, ESTABLISHED)])).toThrow(/seq 2 follows seq 2/);
    const blob = encodeEventBlock(clientConnection(1n, T, 1n, 1)).events;
    expect(() => decodeEventBlock(blob.subarray(0, blob.length - 1))).toThrow(StoreError);
    expect(() => decodeEventBlock(blob.subarray(0, blob.length - 1))).toThrow(/end in the middle/);
    expect(() => decodeEventBlock(Buffer.concat([blob, Buffer.from([0])]))).toThrow(/bytes after its last event/);
    expect(() => decodeEventBlock(Buffer.from([9, 1]))).toThrow(/format 9/);
    expect(() => decodeEventBlock(Buffer.alloc(0))).toThrow(/format none/);
  });

  it('splits a batch whose times spread wider than a second into blocks of consecutive seqs, each within a second', () => {
    // ms offsets in seq order: a live stretch, one event reported late with an earlier time, then a jump (a replay after an outage).
    const offsets = [0n, 400n, 900n, 1000n, 1001n, 150n, 5000n, 5999n, 6001n];
    const events = offsets.map((ms, i) => event(BigInt(i + 1), T + ms * 1_000_000n, CLOSE, SYN_SENT));
    const blocks = encodeEventBlocks(events);
    expect(blocks.map((b) => [Number(b.firstSeq), Number(b.lastSeq)])).toEqual([[1, 4], [5, 6], [7, 8], [9, 9]]);
    for (const b of blocks) expect(b.lastTimeNs - b.firstTimeNs).toBeLessThanOrEqual(MAX_BLOCK_SPAN_NS);
    expect(blocks.flatMap((b) => decodeEventBlock(b.events))).toEqual(events);
    expect(encodeEventBlocks([])).toEqual([]);
    expect(encodeEventBlocks(events.slice(0, 4))).toHaveLength(1);
  });
});
