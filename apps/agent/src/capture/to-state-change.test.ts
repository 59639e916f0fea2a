import { create, equals, toBinary } from '@bufbuild/protobuf';
import type { KernelEvent } from '@tcpstate/kernel';
import { AddressFamily, Observation, Side, StateChangeSchema, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { toStateChange } from './to-state-change.js';

const event: KernelEvent = {
  monotonicNs: 5_000_000_123n,
  cookie: 42n,
  family: 6,
  localAddress: 'fd00::1',
  localPort: 80,
  remoteAddress: 'fd00::2',
  remotePort: 40000,
  oldState: TcpState.FIN_WAIT2,
  newState: TcpState.TIME_WAIT,
  side: Side.CLIENT,
  timeInOldStateNs: 1_500_000_001n,
  pid: 7,
  comm: 'curl',
  cgroupId: 99n,
  netns: 4026531840,
  observedBy: Observation.HANDOVER,
  uncertaintyNs: undefined,
  abort: false,
};

describe('toStateChange', () => {
  it('equals, and serializes like, the message create() builds', () => {
    const fast = toStateChange(event, 1_700_000_000_000_000_000n);
    const slow = create(StateChangeSchema, {
      time: { seconds: 1_700_000_005n, nanos: 123 },
      monotonicNs: 5_000_000_123n,
      cookie: 42n,
      family: AddressFamily.INET6,
      localAddress: 'fd00::1',
      localPort: 80,
      remoteAddress: 'fd00::2',
      remotePort: 40000,
      oldState: TcpState.FIN_WAIT2,
      newState: TcpState.TIME_WAIT,
      side: Side.CLIENT,
      timeInOldState: { seconds: 1n, nanos: 500_000_001 },
      pid: 7,
      comm: 'curl',
      cgroupId: 99n,
      netns: 4026531840,
      observedBy: Observation.HANDOVER,
    });
    expect(equals(StateChangeSchema, fast, slow)).toBe(true);
    expect(toBinary(StateChangeSchema, fast)).toEqual(toBinary(StateChangeSchema, slow));
    expect(Object.keys(fast)).toEqual(['$typeName', ...StateChangeSchema.fields.map((f) => f.localName)]);
  });
});
