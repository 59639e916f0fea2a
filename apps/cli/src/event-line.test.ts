import { create } from '@bufbuild/protobuf';
import { durationFromNs, timestampFromNs } from '@tcpstate/model';
import { GapReason, GapSchema, HeartbeatSchema, Observation, Side, StateChangeSchema, TcpState } from '@tcpstate/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ansiColor, formatEvent, formatGap, formatHeartbeat } from './event-line.js';

// 2023-11-14 22:13:20.123456789 UTC
const T = 1_700_000_000_123_456_789n;
const event = create(StateChangeSchema, {
  agentId: 'web1', seq: 5n, time: timestampFromNs(T), cookie: 4097n, localAddress: 'fd00::2', localPort: 41000, remoteAddress: 'fd00::1', remotePort: 443,
  oldState: TcpState.SYN_SENT, newState: TcpState.ESTABLISHED, side: Side.CLIENT, timeInOldState: durationFromNs(62_400n), pid: 311, comm: 'curl', observedBy: Observation.TRACEPOINT,
});

let tz: string | undefined;
beforeAll(() => {
  tz = process.env.TZ;
  process.env.TZ = 'UTC';
});
afterAll(() => {
  process.env.TZ = tz;
});

describe('watch lines', () => {
  it('an event: time, host, side, endpoints, transition, time in the old state, process, cookie', () => {
    expect(formatEvent(event)).toBe(
      '22:13:20.123456  web1  client   [fd00::2]:41000 > [fd00::1]:443                SYN_SENT -> ESTABLISHED        62.4µs  curl[311]  cookie 4097',
    );
  });

  it('a sweep\'s observation says so; an unknown time in state is a dash', () => {
    const swept = create(StateChangeSchema, { ...event, oldState: TcpState.TIME_WAIT, newState: TcpState.CLOSE, side: Side.UNSPECIFIED, timeInOldState: undefined, observedBy: Observation.SWEEP, timeUncertainty: durationFromNs(2_000_000_000n), comm: '', pid: 0 });
    expect(formatEvent(swept)).toBe(
      '22:13:20.123456  web1  unknown  [fd00::2]:41000 > [fd00::1]:443                TIME_WAIT -> CLOSE                  -  -  cookie 4097  (seen by a sweep, within 2s)',
    );
  });

  it("a step timed from the timewait timer says within how much", () => {
    const found = create(StateChangeSchema, { ...event, oldState: TcpState.FIN_WAIT2, newState: TcpState.TIME_WAIT, timeInOldState: undefined, observedBy: Observation.TIMEWAIT_HOOK, timeUncertainty: durationFromNs(8_000_000n) });
    expect(formatEvent(found)).toBe(
      '22:13:20.123456  web1  client   [fd00::2]:41000 > [fd00::1]:443                FIN_WAIT2 -> TIME_WAIT              -  curl[311]  cookie 4097  (time from the timewait timer, within 8ms)',
    );
  });

  it('colours side and new state on a terminal', () => {
    expect(formatEvent(event, ansiColor)).toBe(
      '\x1b[2m22:13:20.123456\x1b[0m  web1  \x1b[36mclient \x1b[0m  [fd00::2]:41000 > [fd00::1]:443                \x1b[32mSYN_SENT -> ESTABLISHED     \x1b[0m   62.4µs  curl[311]  cookie 4097',
    );
  });

  it('a gap and a heartbeat', () => {
    const gap = create(GapSchema, { agentId: 'web1', reason: GapReason.KERNEL, count: 12n, time: timestampFromNs(T) });
    expect(formatGap(gap)).toBe('22:13:20.123456  web1  GAP  12 events lost (in the kernel)');
    expect(formatHeartbeat(create(HeartbeatSchema, { agentId: 'web1', lastSeq: 77n, time: timestampFromNs(T) }))).toBe('… 22:13:20.123456  web1  idle, newest seq 77');
  });
});
