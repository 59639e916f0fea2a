import { OptionsError, parseOptions } from '@tcpstate/config';
import { Side, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { buildFilters, filterOptions } from './filter-options.js';

const parse = (argv: string[]) => buildFilters(parseOptions(filterOptions({ host: true }), argv, {}).values);

describe('filter flags', () => {
  it('put every selecting flag into one include filter, repeated flags as lists', () => {
    const { include, exclude } = parse(['--port', '80', '--port', '443', '--side', 'server', '--state', 'time_wait', '--old-state', '6', '--address', '10.0.0.0/8', '--server-endpoint', '[fd00::1]:80', '--netns', '4026531840', '--pid', '7', '--comm', 'nginx', '--cookie', '18446744073709551615', '--host', 'web1']);
    expect(exclude).toEqual([]);
    expect(include).toHaveLength(1);
    const f = include[0];
    expect([f.port, f.side, f.newState, f.oldState, f.address, f.serverEndpoint, f.netns, f.pid, f.comm, f.cookie, f.host]).toEqual([
      [80, 443], [Side.SERVER], [TcpState.TIME_WAIT], [TcpState.TIME_WAIT], ['10.0.0.0/8'], ['[fd00::1]:80'], [4026531840], [7], ['nginx'], [18446744073709551615n], ['web1'],
    ]);
  });

  it('make each kind of --exclude- flag its own filter', () => {
    const { include, exclude } = parse(['--exclude-port', '22', '--exclude-comm', 'sshd', '--exclude-port', '53']);
    expect(include).toEqual([]);
    expect(exclude.map((f) => [f.port, f.comm])).toEqual([[[22, 53], []], [[], ['sshd']]]);
  });

  it('say what is wrong with each bad value', () => {
    let error: unknown;
    try {
      parse(['--port', '0', '--side', 'middle', '--state', 'WAITING', '--address', '10.0.0.300', '--server-endpoint', 'web:80', '--comm', 'a-very-long-process-name', '--cookie', '-1']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptionsError);
    expect((error as OptionsError).problems).toEqual([
      '--address: "10.0.0.300" is not an IP address or CIDR prefix',
      '--port: "0": port 0 is outside 1-65535',
      '--server-endpoint: "web:80": "web" is not an IP address',
      '--side: "middle" is not a side (client, server or unknown)',
      '--state: "WAITING" is not a TCP state (e.g. ESTABLISHED, TIME_WAIT)',
      '--comm: "a-very-long-process-name" is longer than the kernel\'s 15-byte comm',
      '--cookie: "-1" is not a socket cookie (a whole number)',
    ]);
  });
});
