// Micro-benchmark of the hub's fan-out: `npx vitest bench --run src/hub`.
// Each iteration publishes one batch of 1000 events and lets every
// subscriber's reader drain its queue; events/s = 1000 * hz.
import { setImmediate as tick } from 'node:timers/promises';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Side, StateChangeSchema, SubscribeRequestSchema, TcpState, type StateChange } from '@tcpstate/proto';
import { bench, describe } from 'vitest';
import { EventHub } from './event-hub.js';

const states = [TcpState.SYN_SENT, TcpState.ESTABLISHED, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, TcpState.TIME_WAIT];

/** 1000 client events to 10.0.<i % 16>.2:80 or :443, new objects per batch as the decoder makes them. */
function batch(): StateChange[] {
  const time = timestampFromDate(new Date());
  return Array.from({ length: 1000 }, (_, i) =>
    create(StateChangeSchema, {
      localAddress: '10.0.0.1',
      localPort: 40000 + i,
      remoteAddress: `10.0.${i % 16}.2`,
      remotePort: i % 2 === 0 ? 80 : 443,
      side: Side.CLIENT,
      oldState: states[i % 5],
      newState: states[(i + 1) % 5],
      pid: 1000 + (i % 7),
      comm: i % 3 === 0 ? 'curl' : 'nginx',
      cookie: BigInt(i),
      time,
    }),
  );
}

type Filter = MessageInitShape<typeof SubscribeRequestSchema>;

/** A hub with `count` subscribers, each reading in the background as fast as it can. */
function hubWith(count: number, filterOf: (i: number) => Filter) {
  const hub = new EventHub({ agentId: 'bench', bootId: 'bench', heartbeatIntervalMs: 0 });
  for (let i = 0; i < count; i++) {
    const stream = hub.subscribe(create(SubscribeRequestSchema, filterOf(i)), { peer: `bench-${i}` });
    void (async () => {
      for await (const _ of stream);
    })();
  }
  return hub;
}

const variedFilter = (i: number): Filter =>
  i % 3 === 0
    ? { include: [{ port: [40000 + i] }] }
    : i % 3 === 1
      ? { include: [{ address: [`10.0.${i % 16}.0/24`] }] }
      : { include: [{ serverEndpoint: [`10.0.${i % 16}.2:80`] }], exclude: [{ newState: [TcpState.CLOSE] }] };

for (const count of [1, 50, 300]) {
  describe(`${count} subscriber(s), 1000-event batches`, () => {
    const unfiltered = hubWith(count, () => ({}));
    bench('no filter (every event to every subscriber)', async () => {
      unfiltered.publish(batch());
      await tick();
    });
    const filtered = hubWith(count, variedFilter);
    bench('different filters (port / CIDR / server endpoint)', async () => {
      filtered.publish(batch());
      await tick();
    });
  });
}

describe('baseline', () => {
  bench('creating the 1000 events alone', () => {
    batch();
  });
});
