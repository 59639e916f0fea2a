import { create } from '@bufbuild/protobuf';
import { AddressFamily, GapSchema, Observation, Side, type StateChange, StateChangeSchema, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { stateName } from './tcp-state.js';
import { CompressedAxis, layoutTimeline } from './timeline-layout.js';
import { buildTimelines, durationFromNs, durationNs, formatDuration, pairTimelines, timestampFromNs, timestampNs } from './timeline.js';

const T0 = 1_700_000_000_000_000_000n;
const US = 1000n;

/** One event of the synthetic connection: times in µs after T0. */
function ev(seq: number, cookie: bigint, side: Side, oldState: TcpState, newState: TcpState, atUs: bigint, inOldUs?: bigint, observedBy = Observation.TRACEPOINT): StateChange {
  const client = side === Side.CLIENT;
  return create(StateChangeSchema, {
    agentId: 'a1',
    bootId: 'b1',
    seq: BigInt(seq),
    time: timestampFromNs(T0 + atUs * US),
    cookie,
    family: AddressFamily.INET,
    localAddress: client ? '10.0.0.2' : '10.0.0.1',
    // The client's port is 0 until connect() picks one.
    localPort: client ? (oldState === TcpState.CLOSE ? 0 : 41000) : 80,
    remoteAddress: client ? '10.0.0.1' : '10.0.0.2',
    remotePort: client ? 80 : 41000,
    oldState,
    newState,
    side,
    timeInOldState: inOldUs === undefined ? undefined : durationFromNs(inOldUs * US),
    pid: client ? 200 : 100,
    comm: client ? 'curl' : 'nginx',
    netns: client ? 2 : 1,
    observedBy,
  });
}

const S = TcpState;
/** A curl-to-nginx connection, client closes first, TIME_WAIT's end seen by a sweep 60 s later. */
const knownEvents: StateChange[] = [
  ev(1, 1n, Side.CLIENT, S.CLOSE, S.SYN_SENT, 0n),
  ev(2, 2n, Side.SERVER, S.LISTEN, S.SYN_RECV, 30n),
  ev(3, 1n, Side.CLIENT, S.SYN_SENT, S.ESTABLISHED, 60n, 60n),
  ev(4, 2n, Side.SERVER, S.SYN_RECV, S.ESTABLISHED, 90n, 60n),
  ev(5, 1n, Side.CLIENT, S.ESTABLISHED, S.FIN_WAIT1, 1000n, 940n),
  ev(6, 2n, Side.SERVER, S.ESTABLISHED, S.CLOSE_WAIT, 1050n, 960n),
  ev(7, 1n, Side.CLIENT, S.FIN_WAIT1, S.FIN_WAIT2, 1100n, 100n),
  ev(8, 1n, Side.CLIENT, S.FIN_WAIT2, S.TIME_WAIT, 1150n, 50n),
  ev(9, 2n, Side.SERVER, S.CLOSE_WAIT, S.LAST_ACK, 1200n, 150n),
  ev(10, 2n, Side.SERVER, S.LAST_ACK, S.CLOSE, 1300n, 100n),
  ev(11, 1n, Side.CLIENT, S.TIME_WAIT, S.CLOSE, 60_001_150n, undefined, Observation.SWEEP),
];

/** [state, start µs, end µs or null, approximate] of each segment. */
function segments(t: ReturnType<typeof buildTimelines>[number]) {
  return t.segments.map((s) => [
    stateName(s.state),
    Number((timestampNs(s.start)! - T0) / US),
    s.end ? Number((timestampNs(s.end)! - T0) / US) : null,
    s.approximate,
  ]);
}

describe('formatDuration', () => {
  it('keeps about three significant digits from nanoseconds to days', () => {
    const cases: [number, string][] = [
      [0, '0ns'], [850, '850ns'], [1_000, '1µs'], [38_400, '38.4µs'], [999_400, '999µs'], [999_600, '1ms'],
      [1_250_000, '1.25ms'], [123_456_789, '123ms'], [1_500_000_000, '1.5s'], [59_000_000_000, '59s'],
      [60_000_000_000, '1m00s'], [123_000_000_000, '2m03s'], [3_720_000_000_000, '1h02m'], [90_000_000_000_000, '1d01h'],
    ];
    expect(cases.map(([ns]) => formatDuration(ns))).toEqual(cases.map(([, text]) => text));
  });
});

describe('buildTimelines', () => {
  const timelines = buildTimelines(knownEvents);
  it('makes one timeline per socket with its identity and the ports filled in later', () => {
    expect(timelines.map((t) => [t.ref!.cookie, Side[t.side], `${t.localAddress}:${t.localPort}`, `${t.remoteAddress}:${t.remotePort}`, t.comm, t.pid, t.open])).toEqual([
      [1n, 'CLIENT', '10.0.0.2:41000', '10.0.0.1:80', 'curl', 200, false],
      [2n, 'SERVER', '10.0.0.1:80', '10.0.0.2:41000', 'nginx', 100, false],
    ]);
    expect(timelines[0].timeWaitObservedBy).toBe(Observation.TRACEPOINT);
    expect(timestampNs(timelines[0].lastSeen)! - T0).toBe(60_001_150n * US);
  });

  it('ends each state at the next transition; the sweep-seen TIME_WAIT end is approximate', () => {
    expect(segments(timelines[0])).toEqual([
      ['SYN_SENT', 0, 60, false],
      ['ESTABLISHED', 60, 1000, false],
      ['FIN_WAIT1', 1000, 1100, false],
      ['FIN_WAIT2', 1100, 1150, false],
      ['TIME_WAIT', 1150, 60_001_150, true],
    ]);
    expect(timelines[0].segments[4].endObservedBy).toBe(Observation.SWEEP);
    expect(durationNs(timelines[0].segments[4].duration)).toBe(60_000_000_000n);
    // LISTEN is the listener's state, not this socket's: no time in it is known.
    expect(segments(timelines[1])).toEqual([
      ['SYN_RECV', 30, 90, false],
      ['ESTABLISHED', 90, 1050, false],
      ['CLOSE_WAIT', 1050, 1200, false],
      ['LAST_ACK', 1200, 1300, false],
    ]);
  });

  it('leaves an open state without a duration, or up to nowNs', () => {
    const open = knownEvents.slice(0, 8);
    expect(buildTimelines(open)[0].segments[4].duration).toBeUndefined();
    const atNow = buildTimelines(open, { nowNs: T0 + 5_001_150n * US });
    expect(durationNs(atNow[0].segments[4].duration)).toBe(5_000_000_000n);
    expect(atNow[0].open).toBe(true);
  });

  it('fills a lost transition in from time_in_old_state and marks both sides of it approximate', () => {
    // FIN_WAIT1 -> FIN_WAIT2 (seq 7) was lost.
    const lossy = knownEvents.filter((e) => e.cookie === 1n && e.seq !== 7n && e.seq !== 11n);
    expect(segments(buildTimelines(lossy)[0])).toEqual([
      ['SYN_SENT', 0, 60, false],
      ['ESTABLISHED', 60, 1000, false],
      ['FIN_WAIT1', 1000, 1100, true],
      ['FIN_WAIT2', 1100, 1150, true],
      ['TIME_WAIT', 1150, null, false],
    ]);
  });

  it('continues a segment the kernel re-reports (FIN_WAIT2 -> FIN_WAIT2 of an orphaned socket)', () => {
    const again = ev(9, 1n, Side.CLIENT, S.FIN_WAIT2, S.FIN_WAIT2, 1120n, 20n);
    const events = [...knownEvents.slice(0, 7), again, ...knownEvents.slice(7)].map((e, i) => create(StateChangeSchema, { ...e, seq: BigInt(i + 1) }));
    expect(segments(buildTimelines(events)[0])).toEqual(segments(buildTimelines(knownEvents)[0]));
  });

  it('starts a socket older than the first event at time - time_in_old_state', () => {
    const late = knownEvents.filter((e) => e.cookie === 2n && e.seq >= 6n);
    expect(segments(buildTimelines(late)[0])).toEqual([
      ['ESTABLISHED', 90, 1050, false],
      ['CLOSE_WAIT', 1050, 1200, false],
      ['LAST_ACK', 1200, 1300, false],
    ]);
    expect(timestampNs(buildTimelines(late)[0].firstSeen)! - T0).toBe(90n * US);
  });
});

describe('pairTimelines', () => {
  it('pairs the client and the server of one connection by mirrored endpoints, and leaves others alone', () => {
    const other = create(StateChangeSchema, { ...knownEvents[1], cookie: 3n, seq: 12n, remotePort: 42000, time: timestampFromNs(T0 + 500n * US) });
    const pairs = pairTimelines(buildTimelines([...knownEvents, other]));
    expect(pairs.map((p) => [p.client?.ref?.cookie, p.server?.ref?.cookie, Number((p.startNs - T0) / US), Number((p.endNs - T0) / US)])).toEqual([
      [1n, 2n, 0, 60_001_150],
      [undefined, 3n, 500, 500],
    ]);
  });

  it('prefers the collector\'s peer refs', () => {
    const [client, server] = buildTimelines(knownEvents);
    server.remotePort = 1; // endpoints no longer mirror (NAT), the peer ref still pairs them
    server.peer = client.ref;
    const pairs = pairTimelines([server, client]);
    expect(pairs).toHaveLength(1);
    expect([pairs[0].client?.ref?.cookie, pairs[0].server?.ref?.cookie]).toEqual([1n, 2n]);
  });
});

describe('CompressedAxis', () => {
  it('is linear up to the median piece and logarithmic beyond it', () => {
    const axis = new CompressedAxis([20, 0, 1000, 10, 10], { minPx: 50, kneePx: 20, decadePx: 30, breakKnees: 10 });
    expect(axis.kneeNs).toBe(10);
    expect(axis.pieces.map((p) => [p.startNs, p.endNs, p.x, p.compressed])).toEqual([
      [0, 10, 0, false],
      [10, 20, 70, false],
      [20, 1000, 140, true],
    ]);
    // 50 + 20 + 30 * log10(98)
    expect(axis.pieces[2].width).toBeCloseTo(129.7368, 3);
    expect(axis.width).toBeCloseTo(269.7368, 3);
    expect(axis.x(15)).toBe(105);
    expect(axis.x(-5)).toBe(0);
    expect(axis.x(5000)).toBeCloseTo(269.7368, 3);
    // A piece half the knee: linear part only.
    expect(axis.pieceWidth(5)).toBe(60);
  });

  it('has no width without two distinct boundaries', () => {
    expect(new CompressedAxis([7, 7]).width).toBe(0);
    expect(new CompressedAxis([7]).x(9)).toBe(0);
  });
});

describe('layoutTimeline', () => {
  const pairs = pairTimelines(buildTimelines(knownEvents));
  const layout = layoutTimeline(pairs);
  const lane = layout.lanes[0];

  it('puts the client row above the server row, each state one bar in order', () => {
    expect(layout.lanes).toHaveLength(1);
    expect(lane.rows.map((r) => [r.sideName, r.side, r.y, r.label])).toEqual([
      ['client', Side.CLIENT, 30, ['client a1', 'curl[200]']],
      ['server', Side.SERVER, 64, ['server a1', 'nginx[100]']],
    ]);
    expect(lane.rows.map((r) => r.bars.map((b) => b.stateName))).toEqual([
      ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT'],
      ['SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK'],
    ]);
    expect(lane.title).toBe('10.0.0.2:41000 → 10.0.0.1:80  2023-11-14 22:13:20.000000 UTC  (a1 cookie 1)');
  });

  it('gives every piece between two events its width by the formula (knee = median piece, 50 µs)', () => {
    expect(lane.axis.kneeNs).toBe(50_000);
    const durations = [30_000, 30_000, 30_000, 910_000, 50_000, 50_000, 50_000, 50_000, 100_000, 59_999_850_000];
    expect(lane.axis.pieces.map((p) => p.endNs - p.startNs)).toEqual(durations);
    // 56 + 24 * min(d / knee, 1) + 24 * max(0, log10(d / knee))
    const formula = (d: number) => 56 + 24 * Math.min(d / 50_000, 1) + 24 * Math.max(0, Math.log10(d / 50_000));
    expect(lane.axis.pieces.map((p) => p.width)).toEqual(durations.map(formula));
    expect(lane.axis.pieces.map((p) => Number(p.width.toFixed(3)))).toEqual([70.4, 70.4, 70.4, 110.242, 80, 80, 80, 80, 87.225, 225.9]);
    // The 910 µs ESTABLISHED stretch and the minute of TIME_WAIT are compressed.
    expect(lane.axis.pieces.map((p) => p.compressed)).toEqual([false, false, false, true, false, false, false, false, false, true]);
    expect(lane.breaks).toHaveLength(2);
  });

  it('places bars exactly on their boundaries and labels what fits', () => {
    const [client, server] = lane.rows;
    const geometry = (bars: typeof client.bars) => bars.map((b) => [Number(b.x.toFixed(3)), Number(b.width.toFixed(3)), b.label]);
    expect(geometry(client.bars)).toEqual([
      [182, 140.8, ['SYN_SENT 60µs']],
      [322.8, 180.642, ['ESTABLISHED 940µs']],
      [503.442, 160, ['FIN_WAIT1 100µs']],
      [663.442, 80, ['FIN_WAIT2', '50µs']],
      [743.442, 393.125, ['TIME_WAIT ≈1m00s']],
    ]);
    expect(geometry(server.bars)).toEqual([
      [252.4, 140.8, ['SYN_RECV 60µs']],
      [393.2, 190.242, ['ESTABLISHED 960µs']],
      [583.442, 240, ['CLOSE_WAIT 150µs']],
      [823.442, 87.225, ['LAST_ACK', '100µs']],
    ]);
    const tw = client.bars[4];
    expect([tw.approximate, tw.endObservedBy, tw.open]).toEqual([true, Observation.SWEEP, false]);
    expect(tw.title).toBe('client TIME_WAIT: ≈1m00s from +1.15ms, end seen by a sweep (approximate)');
    expect(layout.width).toBeCloseTo(182 + lane.axis.width + 12 + 28, 9);
  });

  it('labels ticks with offsets where they do not overlap', () => {
    expect(lane.ticks.filter((t) => t.label).map((t) => t.label)).toEqual(['0', '+30µs', '+60µs', '+90µs', '+1ms', '+1.05ms', '+1.1ms', '+1.15ms', '+1.2ms', '+1.3ms', '+1m00s']);
  });

  it('marks a gap noticed during the connection', () => {
    const gap = create(GapSchema, { count: 3n, time: timestampFromNs(1_700_000_000_000_000_000n + 1_025_000n) });
    const withGap = layoutTimeline(pairs, { gaps: [gap] }).lanes[0];
    expect(withGap.gaps).toEqual([{ x: withGap.axisX + withGap.axis.x(1_025_000), label: '3 events lost' }]);
    expect(withGap.axis.pieces.some((p) => p.endNs === 1_025_000)).toBe(true);
  });
});
