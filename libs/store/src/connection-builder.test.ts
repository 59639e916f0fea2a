import { Observation, Side, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { applyEvents, type ConnectionEvent } from './connection-builder.js';

const { ESTABLISHED, SYN_SENT, FIN_WAIT1, CLOSE, LISTEN } = TcpState;

function ev(seq: number, timeNs: number, oldState: TcpState, newState: TcpState, more: Partial<ConnectionEvent> = {}): ConnectionEvent {
  return {
    seq: BigInt(seq),
    timeNs: BigInt(timeNs),
    cookie: 7n,
    family: 2,
    localAddress: '10.0.0.1',
    localPort: 40000,
    remoteAddress: '10.0.0.2',
    remotePort: 80,
    oldState,
    newState,
    side: Side.CLIENT,
    timeInOldStateNs: null,
    pid: 0,
    comm: '',
    netns: 1,
    observedBy: Observation.TRACEPOINT,
    ...more,
  };
}

describe('applyEvents', () => {
  it('starts a socket older than the agent where the kernel says its state began', () => {
    const { state, segments } = applyEvents(undefined, undefined, [ev(1, 5000, ESTABLISHED, FIN_WAIT1, { timeInOldStateNs: 4000n })]);
    expect(segments.map((s) => [s.idx, s.state, s.startNs, s.endNs])).toEqual([
      [0, ESTABLISHED, 1000n, 5000n],
      [1, FIN_WAIT1, 5000n, null],
    ]);
    expect([state.firstSeenNs, state.lastSeenNs, state.segmentCount, state.open]).toEqual([1000n, 5000n, 2, true]);
  });

  it('gives no segment to a state whose start is unknown', () => {
    const { segments } = applyEvents(undefined, undefined, [ev(1, 5000, ESTABLISHED, FIN_WAIT1)]);
    expect(segments.map((s) => s.state)).toEqual([FIN_WAIT1]);
  });

  it('continues from the stored row and last segment only', () => {
    const first = applyEvents(undefined, undefined, [ev(1, 100, CLOSE, SYN_SENT, { localPort: 0 }), ev(2, 110, SYN_SENT, ESTABLISHED)]);
    const last = first.segments.at(-1);
    const next = applyEvents(first.state, last, [ev(3, 200, ESTABLISHED, CLOSE)]);
    expect(next.segments.map((s) => [s.idx, s.state, s.startNs, s.endNs])).toEqual([[1, ESTABLISHED, 110n, 200n]]);
    expect([next.state.localPort, next.state.open, next.state.lastSeq, next.state.enteredStates, next.state.leftStates]).toEqual([
      40000,
      false,
      3n,
      (1 << SYN_SENT) | (1 << ESTABLISHED) | (1 << CLOSE),
      (1 << CLOSE) | (1 << SYN_SENT) | (1 << ESTABLISHED),
    ]);
  });

  it('opens again when a closed socket connects again, and keeps the first side and process', () => {
    const { state, segments } = applyEvents(undefined, undefined, [
      ev(1, 100, LISTEN, CLOSE, { side: Side.UNSPECIFIED }),
      ev(2, 300, CLOSE, SYN_SENT, { pid: 9, comm: 'curl' }),
      ev(3, 310, SYN_SENT, CLOSE, { pid: 10, comm: 'other' }),
    ]);
    expect(segments.map((s) => [s.state, s.startNs, s.endNs])).toEqual([[SYN_SENT, 300n, 310n]]);
    expect([state.side, state.pid, state.comm, state.open]).toEqual([Side.CLIENT, 9, 'curl', false]);
  });
});
