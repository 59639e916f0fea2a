// Micro-benchmark of compiled filters: `npx vitest bench --run src/filter.bench.ts`.
// Each iteration matches 1000 events, so ns per event = reported mean / 1000.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ConnectionFilterSchema, Side, TcpState } from '@tcpstate/proto';
import { bench, describe } from 'vitest';
import { compileFilters, type FilterableEvent } from './filter.js';

const filters = (include: MessageInitShape<typeof ConnectionFilterSchema>[], exclude: typeof include = []) =>
  compileFilters(
    include.map((f) => create(ConnectionFilterSchema, f)),
    exclude.map((f) => create(ConnectionFilterSchema, f)),
  );

// 1000 client events to 10.0.<i % 16>.2:80 / :443 from 10.0.0.1, states cycling.
const states = [TcpState.SYN_SENT, TcpState.ESTABLISHED, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, TcpState.TIME_WAIT];
const events: FilterableEvent[] = Array.from({ length: 1000 }, (_, i) => ({
  localAddress: '10.0.0.1',
  localPort: 40000 + i,
  remoteAddress: `10.0.${i % 16}.2`,
  remotePort: i % 2 === 0 ? 80 : 443,
  side: Side.CLIENT,
  oldState: states[i % 5],
  newState: states[(i + 1) % 5],
  netns: 4026531840,
  pid: 1000 + (i % 7),
  comm: i % 3 === 0 ? 'curl' : 'nginx',
  cookie: BigInt(i),
  agentId: 'agent-1',
}));
// The same events with IPv6 addresses.
const events6: FilterableEvent[] = events.map((e, i) => ({ ...e, localAddress: 'fd00::1', remoteAddress: `fd00:0:0:${i % 16}::2` }));

let sink = 0;
const run = (compiled: ReturnType<typeof filters>, list = events) => () => {
  for (let i = 0; i < list.length; i++) if (compiled.matches(list[i])) sink++;
};

describe('compiled filter, 1000 events per iteration', () => {
  bench('no filter', run(filters([])));
  bench('port', run(filters([{ port: [80] }])));
  bench('new_state TIME_WAIT', run(filters([{ newState: [TcpState.TIME_WAIT] }])));
  bench('server_endpoint + new_state', run(filters([{ serverEndpoint: ['10.0.3.2:80'], newState: [TcpState.TIME_WAIT] }])));
  bench('address CIDR (IPv4, addresses vary per event)', run(filters([{ address: ['10.0.8.0/21'] }])));
  bench('address CIDR (IPv6)', run(filters([{ address: ['fd00:0:0:8::/61'] }]), events6));
  bench(
    '4 includes + 2 excludes, mixed fields',
    run(
      filters(
        [{ port: [22] }, { comm: ['curl'], newState: [TcpState.TIME_WAIT] }, { address: ['10.0.4.0/24'] }, { pid: [1003] }],
        [{ side: [Side.SERVER] }, { netns: [1] }],
      ),
    ),
  );
});

// Many subscribers look at the same event in turn (as the hub's fan-out does):
// the address parse is shared through the last-address memo.
describe('300 different filters x 100 events per iteration (event-major, as in the hub)', () => {
  const many = Array.from({ length: 300 }, (_, i) =>
    i % 3 === 0
      ? filters([{ port: [40000 + i] }])
      : i % 3 === 1
        ? filters([{ address: [`10.0.${i % 16}.0/24`] }])
        : filters([{ serverEndpoint: [`10.0.${i % 16}.2:80`] }], [{ newState: [TcpState.CLOSE] }]),
  );
  bench('300 filters', () => {
    for (let i = 0; i < 100; i++) {
      const event = events[i];
      for (let j = 0; j < many.length; j++) if (many[j].matches(event)) sink++;
    }
  });
});

export { sink };
