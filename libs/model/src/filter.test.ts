import { BlockList, isIPv6 } from 'node:net';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ConnectionFilterSchema, Side, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { compileFilters, FilterError, type FilterableEvent } from './filter.js';

type FilterInit = MessageInitShape<typeof ConnectionFilterSchema>;
const filter = (init: FilterInit) => create(ConnectionFilterSchema, init);
const matcher = (include: FilterInit[], exclude: FilterInit[] = []) =>
  compileFilters(include.map(filter), exclude.map(filter));

/** A client connection 10.0.0.1:40000 -> 10.0.0.2:80, ESTABLISHED -> FIN_WAIT1. */
const event = (overrides: Partial<FilterableEvent> = {}): FilterableEvent => ({
  localAddress: '10.0.0.1',
  localPort: 40000,
  remoteAddress: '10.0.0.2',
  remotePort: 80,
  side: Side.CLIENT,
  oldState: TcpState.ESTABLISHED,
  newState: TcpState.FIN_WAIT1,
  netns: 4026531840,
  pid: 1234,
  comm: 'curl',
  cookie: 77n,
  agentId: 'agent-a',
  hostname: 'host-a',
  ...overrides,
});

describe('compileFilters: combination', () => {
  it('matches everything without filters, and says so', () => {
    const m = compileFilters([], []);
    expect(m.matchesAll).toBe(true);
    expect(m.matches(event())).toBe(true);
  });

  it('treats an empty filter as matching everything', () => {
    const m = matcher([{}]);
    expect(m.matchesAll).toBe(false);
    expect(m.matches(event())).toBe(true);
    expect(matcher([], [{}]).matches(event())).toBe(false);
  });

  it('requires every set field of one filter, and any value of a repeated field', () => {
    const m = matcher([{ port: [80, 443], newState: [TcpState.FIN_WAIT1, TcpState.CLOSE] }]);
    expect(m.matches(event())).toBe(true);
    expect(m.matches(event({ remotePort: 443 }))).toBe(true);
    expect(m.matches(event({ newState: TcpState.CLOSE }))).toBe(true);
    expect(m.matches(event({ remotePort: 8080 }))).toBe(false);
    expect(m.matches(event({ newState: TcpState.TIME_WAIT }))).toBe(false);
  });

  it('passes an event matching any include and no exclude', () => {
    const m = matcher([{ port: [80] }, { comm: ['nginx'] }], [{ newState: [TcpState.CLOSE] }, { pid: [666] }]);
    expect(m.matches(event())).toBe(true);
    expect(m.matches(event({ remotePort: 22, comm: 'nginx' }))).toBe(true);
    expect(m.matches(event({ remotePort: 22 }))).toBe(false);
    expect(m.matches(event({ newState: TcpState.CLOSE }))).toBe(false);
    expect(m.matches(event({ pid: 666 }))).toBe(false);
    // Excludes alone: everything except them.
    const onlyExclude = matcher([], [{ comm: ['sshd'] }]);
    expect(onlyExclude.matches(event())).toBe(true);
    expect(onlyExclude.matches(event({ comm: 'sshd' }))).toBe(false);
  });
});

describe('compileFilters: fields', () => {
  it('address: IPs and CIDRs against either end, IPv4-mapped included', () => {
    const m = matcher([{ address: ['10.0.0.2', '192.168.0.0/16', 'fd00::/8'] }]);
    expect(m.matches(event())).toBe(true);
    expect(m.matches(event({ localAddress: '172.16.0.1', remoteAddress: '10.0.0.2' }))).toBe(true);
    expect(m.matches(event({ localAddress: '192.168.3.4', remoteAddress: '8.8.8.8' }))).toBe(true);
    expect(m.matches(event({ localAddress: 'fd12::1', remoteAddress: '2001:db8::1' }))).toBe(true);
    expect(m.matches(event({ localAddress: '::ffff:192.168.9.9', remoteAddress: '::ffff:8.8.8.8' }))).toBe(true);
    expect(m.matches(event({ localAddress: '10.0.0.1', remoteAddress: '10.0.0.3' }))).toBe(false);
    expect(m.matches(event({ localAddress: 'fe80::1', remoteAddress: '::1' }))).toBe(false);
    expect(m.matches(event({ localAddress: '', remoteAddress: '' }))).toBe(false);
    const mapped = matcher([{ address: ['10.0.0.0/8'] }]);
    expect(mapped.matches(event({ localAddress: '::ffff:10.9.9.9', remoteAddress: 'fd00::1' }))).toBe(true);
    const writtenMapped = matcher([{ address: ['::ffff:10.0.0.0/104'] }]);
    expect(writtenMapped.matches(event({ localAddress: '10.1.1.1', remoteAddress: '1.1.1.1' }))).toBe(true);
  });

  it('port: either end', () => {
    const m = matcher([{ port: [40000] }]);
    expect(m.matches(event())).toBe(true);
    expect(m.matches(event({ localPort: 1, remotePort: 40000 }))).toBe(true);
    expect(m.matches(event({ localPort: 40001 }))).toBe(false);
    expect(matcher([{ port: [0] }]).matches(event({ localPort: 0 }))).toBe(true);
    expect(matcher([{ port: [65535] }]).matches(event({ remotePort: 65535 }))).toBe(true);
    expect(matcher([{ port: [65535] }]).matches(event())).toBe(false);
  });

  it('server_endpoint: the local end of a server, the remote end of a client, either end when unknown', () => {
    const m = matcher([{ serverEndpoint: ['10.0.0.2:80'] }]);
    // Client 10.0.0.1:40000 -> server 10.0.0.2:80.
    expect(m.matches(event())).toBe(true);
    // The same connection seen on the server.
    const server = { localAddress: '10.0.0.2', localPort: 80, remoteAddress: '10.0.0.1', remotePort: 40000 };
    expect(m.matches(event({ ...server, side: Side.SERVER }))).toBe(true);
    // The side decides which end is the server's.
    expect(m.matches(event({ ...server, side: Side.CLIENT }))).toBe(false);
    expect(m.matches(event({ side: Side.SERVER }))).toBe(false);
    expect(m.matches(event({ side: Side.UNSPECIFIED }))).toBe(true);
    expect(m.matches(event({ ...server, side: Side.UNSPECIFIED }))).toBe(true);
    // Address and port must both match.
    expect(m.matches(event({ remoteAddress: '10.0.0.3' }))).toBe(false);
    expect(m.matches(event({ remotePort: 81 }))).toBe(false);
    expect(m.matches(event({ remoteAddress: '::ffff:10.0.0.2' }))).toBe(true);
  });

  it('server_endpoint: wildcards match any address with the port', () => {
    for (const wildcard of ['0.0.0.0:80', '[::]:80']) {
      const m = matcher([{ serverEndpoint: [wildcard] }]);
      expect([wildcard, m.matches(event())]).toEqual([wildcard, true]);
      expect([wildcard, m.matches(event({ remoteAddress: 'fd00::9' }))]).toEqual([wildcard, true]);
      expect([wildcard, m.matches(event({ remotePort: 8080 }))]).toEqual([wildcard, false]);
      expect([wildcard, m.matches(event({ side: Side.SERVER }))]).toEqual([wildcard, false]);
    }
    const v6 = matcher([{ serverEndpoint: ['[fd00::2]:443'] }]);
    expect(v6.matches(event({ remoteAddress: 'fd00::2', remotePort: 443 }))).toBe(true);
    expect(v6.matches(event({ remoteAddress: 'fd00::3', remotePort: 443 }))).toBe(false);
  });

  it('side, old_state, new_state', () => {
    expect(matcher([{ side: [Side.SERVER] }]).matches(event())).toBe(false);
    expect(matcher([{ side: [Side.SERVER, Side.CLIENT] }]).matches(event())).toBe(true);
    expect(matcher([{ side: [Side.UNSPECIFIED] }]).matches(event({ side: Side.UNSPECIFIED }))).toBe(true);
    expect(matcher([{ side: [Side.UNSPECIFIED] }]).matches(event())).toBe(false);
    expect(matcher([{ oldState: [TcpState.ESTABLISHED] }]).matches(event())).toBe(true);
    expect(matcher([{ oldState: [TcpState.FIN_WAIT1] }]).matches(event())).toBe(false);
    expect(matcher([{ newState: [TcpState.BOUND_INACTIVE] }]).matches(event())).toBe(false);
    expect(matcher([{ newState: [TcpState.BOUND_INACTIVE] }]).matches(event({ newState: 13 }))).toBe(true);
    // A state number past 31 would wrap around a 32-bit mask: it must match no state filter.
    expect(matcher([{ newState: [TcpState.ESTABLISHED] }]).matches(event({ newState: 33 as TcpState }))).toBe(false);
    expect(matcher([{ port: [80] }]).matches(event({ newState: 33 as TcpState }))).toBe(true);
  });

  it('netns, pid, comm, cookie, host', () => {
    expect(matcher([{ netns: [4026531840] }]).matches(event())).toBe(true);
    expect(matcher([{ netns: [1] }]).matches(event())).toBe(false);
    expect(matcher([{ pid: [1, 1234] }]).matches(event())).toBe(true);
    expect(matcher([{ pid: [1] }]).matches(event())).toBe(false);
    expect(matcher([{ comm: ['curl'] }]).matches(event())).toBe(true);
    expect(matcher([{ comm: ['cur'] }]).matches(event())).toBe(false);
    expect(matcher([{ cookie: [77n] }]).matches(event())).toBe(true);
    expect(matcher([{ cookie: [78n] }]).matches(event())).toBe(false);
    expect(matcher([{ host: ['agent-a'] }]).matches(event())).toBe(true);
    expect(matcher([{ host: ['host-a'] }]).matches(event())).toBe(true);
    expect(matcher([{ host: ['host-a'] }]).matches(event({ hostname: undefined }))).toBe(false);
    expect(matcher([{ host: ['agent-b'] }]).matches(event())).toBe(false);
  });
});

describe('compileFilters: requiredPorts', () => {
  it('lists the ports every matching event must have at one end, when there are such ports', () => {
    expect(matcher([{ port: [80, 443, 80] }]).requiredPorts).toEqual([80, 443]);
    expect(matcher([{ serverEndpoint: ['10.0.0.1:80', '[::]:8080'] }]).requiredPorts).toEqual([80, 8080]);
    expect(matcher([{ port: [22], serverEndpoint: ['10.0.0.1:80'] }]).requiredPorts).toEqual([22]);
    expect(matcher([{ port: [22] }, { serverEndpoint: ['10.0.0.1:80'] }], [{ comm: ['x'] }]).requiredPorts).toEqual([22, 80]);
    expect(matcher([{ port: [22] }, { comm: ['sshd'] }]).requiredPorts).toBeUndefined();
    expect(matcher([], [{ port: [22] }]).requiredPorts).toBeUndefined();
    expect(matcher([{ newState: [TcpState.TIME_WAIT] }]).requiredPorts).toBeUndefined();
    expect(compileFilters([], []).requiredPorts).toBeUndefined();
  });
});

describe('compileFilters: validation', () => {
  const message = (include: FilterInit[], exclude: FilterInit[] = [], prefix?: string) => {
    try {
      compileFilters(include.map(filter), exclude.map(filter), prefix);
    } catch (error) {
      expect(error).toBeInstanceOf(FilterError);
      return (error as FilterError).message;
    }
    throw new Error('expected a FilterError');
  };

  it.each<[string, FilterInit[], FilterInit[], string]>([
    ['bad IPv4', [{ address: ['10.0.0.0/8', '10.0.0.300/8'] }], [], 'include[0].address[1]: "10.0.0.300/8" is not an IP address or CIDR'],
    ['prefix too long', [{ address: ['10.0.0.0/33'] }], [], 'include[0].address[0]: "10.0.0.0/33" is not an IP address or CIDR'],
    ['host name', [{}, { address: ['example.com'] }], [], 'include[1].address[0]: "example.com" is not an IP address or CIDR'],
    ['IPv6 prefix too long', [], [{ address: ['fd00::/129'] }], 'exclude[0].address[0]: "fd00::/129" is not an IP address or CIDR'],
    ['port', [{ port: [70000] }], [], 'include[0].port[0]: 70000 is outside 0-65535'],
    ['side', [{ side: [7] }], [], 'include[0].side[0]: 7 is not a side'],
    ['new_state', [], [{}, {}, { newState: [99] }], 'exclude[2].new_state[0]: 99 is not a TCP state'],
    ['old_state 0', [{ oldState: [TcpState.LISTEN, 0] }], [], 'include[0].old_state[1]: 0 is not a TCP state'],
    ['endpoint shape', [{ serverEndpoint: ['10.0.0.1'] }], [], 'include[0].server_endpoint[0]: "10.0.0.1" is not an endpoint: expected IP:PORT or [IPv6]:PORT'],
    ['endpoint port', [{ serverEndpoint: ['10.0.0.1:0'] }], [], 'include[0].server_endpoint[0]: "10.0.0.1:0": port 0 is outside 1-65535'],
    ['endpoint address', [{ serverEndpoint: ['10.0.0.300:80'] }], [], 'include[0].server_endpoint[0]: "10.0.0.300:80": "10.0.0.300" is not an IP address'],
    ['endpoint zone', [{ serverEndpoint: ['[fe80::1%eth0]:80'] }], [], 'include[0].server_endpoint[0]: "[fe80::1%eth0]:80": "fe80::1%eth0" is not an IP address'],
    ['comm', [{ comm: ['systemd-resolved'] }], [], 'include[0].comm[0]: "systemd-resolved" is longer than the kernel\'s 15-byte comm'],
    ['pid', [{ pid: [-1] }], [], 'include[0].pid[0]: -1 is not a uint32'],
    ['netns', [{ netns: [1.5] }], [], 'include[0].netns[0]: 1.5 is not a uint32'],
  ])('%s', (_name, include, exclude, expected) => {
    expect(message(include, exclude)).toBe(expected);
  });

  it('puts the field prefix in front of the path and exposes the parts', () => {
    expect(message([{ port: [65536] }], [], 'filter')).toBe('filter.include[0].port[0]: 65536 is outside 0-65535');
    try {
      compileFilters([filter({ port: [1, 65536] })], []);
    } catch (error) {
      expect(error).toMatchObject({ name: 'FilterError', field: 'include[0].port[1]', problem: '65536 is outside 0-65535' });
    }
    expect.assertions(2 + 1);
  });
});

// A straightforward reference implementation (text compares, node:net
// BlockList for prefixes) against which the compiled matcher is checked on
// random filters and events.
describe('compileFilters agrees with a reference implementation', () => {
  // mulberry32: a seeded generator, so a failure reproduces.
  let seed = 12345;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const some = <T>(list: readonly T[]): T[] => [pick(list), ...(random() < 0.4 ? [pick(list)] : [])];

  const addresses = ['10.0.0.1', '10.0.0.2', '10.1.0.1', '192.168.1.1', '::ffff:10.0.0.2', 'fd00::1', 'fd00:1::2', '::1'];
  const prefixes = ['10.0.0.0/8', '10.0.0.2', '10.0.0.0/31', '192.168.0.0/16', 'fd00::/16', 'fd00::1', '::1', '::/0'];
  const ports = [80, 443, 40000, 40001];
  const endpoints = ['10.0.0.2:80', '0.0.0.0:443', '[::]:80', '[fd00::1]:443', '10.0.0.1:40000'];
  const states = [1, 2, 4, 6, 7, 10];

  const blockLists = new Map<string, BlockList>();
  const blockListFor = (list: string[]) => {
    const key = list.join(' ');
    const cached = blockLists.get(key);
    if (cached) return cached;
    const blocks = new BlockList();
    blockLists.set(key, blocks);
    for (const text of list) {
      const [ip, bits] = text.split('/');
      const type = isIPv6(ip) ? 'ipv6' : 'ipv4';
      blocks.addSubnet(ip, bits === undefined ? (type === 'ipv6' ? 128 : 32) : Number(bits), type);
    }
    return blocks;
  };
  const canonical = (ip: string) => ip.replace(/^::ffff:(\d+\.)/, '$1');

  const reference = (f: FilterInit, e: FilterableEvent): boolean => {
    if (f.address?.length) {
      const blocks = blockListFor(f.address);
      // BlockList matches IPv4-mapped addresses against IPv4 rules and the reverse.
      const inList = (ip: string) => blocks.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
      if (!inList(e.localAddress) && !inList(e.remoteAddress)) return false;
    }
    if (f.port?.length && !f.port.includes(e.localPort) && !f.port.includes(e.remotePort)) return false;
    if (f.serverEndpoint?.length) {
      const ends: [string, number][] = [];
      if (e.side !== Side.CLIENT) ends.push([e.localAddress, e.localPort]);
      if (e.side !== Side.SERVER) ends.push([e.remoteAddress, e.remotePort]);
      const hit = f.serverEndpoint.some((text) => {
        const [, host, port] = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text)!;
        return ends.some(
          ([ip, p]) => p === Number(port) && (host === '0.0.0.0' || host === '::' || canonical(ip) === canonical(host)),
        );
      });
      if (!hit) return false;
    }
    if (f.side?.length && !f.side.includes(e.side)) return false;
    if (f.oldState?.length && !f.oldState.includes(e.oldState)) return false;
    if (f.newState?.length && !f.newState.includes(e.newState)) return false;
    if (f.pid?.length && !f.pid.includes(e.pid)) return false;
    if (f.comm?.length && !f.comm.includes(e.comm)) return false;
    return true;
  };

  it('on 20000 random filter/event pairs', () => {
    let matched = 0;
    for (let i = 0; i < 20000; i++) {
      // One or two fields per filter, so that every field often decides the outcome.
      const randomFilter = (): FilterInit => {
        const fields: (() => FilterInit)[] = [
          () => ({ address: some(prefixes) }),
          () => ({ port: some(ports) }),
          () => ({ serverEndpoint: some(endpoints) }),
          () => ({ side: some([Side.UNSPECIFIED, Side.CLIENT, Side.SERVER]) }),
          () => ({ oldState: some(states) }),
          () => ({ newState: some(states) }),
          () => ({ pid: some([1, 2]) }),
          () => ({ comm: some(['curl', 'nginx']) }),
        ];
        return { ...pick(fields)(), ...(random() < 0.4 ? pick(fields)() : {}) };
      };
      const include = random() < 0.3 ? [] : [randomFilter(), ...(random() < 0.3 ? [randomFilter()] : [])];
      const exclude = random() < 0.6 ? [] : [randomFilter()];
      const e = event({
        localAddress: pick(addresses),
        remoteAddress: pick(addresses),
        localPort: pick(ports),
        remotePort: pick(ports),
        side: pick([Side.UNSPECIFIED, Side.CLIENT, Side.SERVER]),
        oldState: pick(states),
        newState: pick(states),
        pid: pick([1, 2]),
        comm: pick(['curl', 'nginx']),
      });
      const expected =
        (include.length === 0 || include.some((f) => reference(f, e))) && !exclude.some((f) => reference(f, e));
      const actual = compileFilters(include.map(filter), exclude.map(filter)).matches(e);
      if (actual !== expected) expect({ include, exclude, event: e, actual }).toEqual({ include, exclude, event: e, actual: expected });
      // A matching event always has one of the required ports.
      const required = compileFilters(include.map(filter), exclude.map(filter)).requiredPorts;
      if (actual && required && !required.includes(e.localPort) && !required.includes(e.remotePort))
        expect({ include, event: e, required }).toBe('an event outside requiredPorts');
      if (actual) matched++;
    }
    // Both outcomes were exercised in earnest.
    expect(matched).toBeGreaterThan(2000);
    expect(matched).toBeLessThan(18000);
  });
});
