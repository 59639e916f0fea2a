// The seed, through the public API: buf curl subscribes through reflection
// alone (no proto files) and receives the exact client and server transition
// sequences of a curl-to-nginx connection between two namespace hosts.
import { bufBin, type NetnsHost, type RunningProgram } from '@tcpstate/testbed';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonStream } from '../support/json-stream.js';
import { type SeedHosts, startSeedHosts } from '../support/seed-hosts.js';

let hosts: SeedHosts;
let server: NetnsHost;
let client: NetnsHost;
let agent: RunningProgram;

beforeAll(async () => {
  hosts = await startSeedHosts('bufc', 61, [['--agent-id', 'bufcurl']]);
  ({ server, client } = hosts);
  [agent] = hosts.agents;
});
afterAll(async () => {
  await hosts?.stop();
});

interface JsonEvent {
  event?: { cookie: string; side: string; oldState: string; newState: string; localAddress: string; localPort: number; remoteAddress: string; remotePort: number; seq: string; agentId: string };
}

describe('Subscribe with buf curl', () => {
  it('streams the exact client and server sequences of one curl to nginx, filtered to the server endpoint', async () => {
    const request = JSON.stringify({ include: [{ serverEndpoint: [`${server.ipv4}:80`] }], first: 10 });
    const sub = spawn(bufBin, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', request, `http://${agent.grpcAddress}/tcpstate.v1.AgentService/Subscribe`]);
    let out = '';
    let err = '';
    sub.stdout.on('data', (d) => (out += d));
    sub.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => sub.on('exit', resolve));
    // Let the subscription reach the agent before the connection happens.
    await new Promise((r) => setTimeout(r, 1000));
    expect(client.exec('curl', ['-s', `http://${server.ipv4}:80/`])).toBe('ok\n');
    const timer = setTimeout(() => sub.kill(), 20_000);
    const code = await exited;
    clearTimeout(timer);
    expect(err).toBe('');
    expect(code).toBe(0);

    const events = (parseJsonStream(out) as JsonEvent[]).flatMap((r) => (r.event ? [r.event] : []));
    expect(events).toHaveLength(10);
    const bySide = (side: string) => events.filter((e) => e.side === side);
    const client_ = bySide('SIDE_CLIENT');
    const server_ = bySide('SIDE_SERVER');
    expect(client_.map((e) => `${e.oldState}>${e.newState}`.replace(/TCP_STATE_/g, ''))).toEqual([
      'CLOSE>SYN_SENT',
      'SYN_SENT>ESTABLISHED',
      'ESTABLISHED>FIN_WAIT1',
      'FIN_WAIT1>FIN_WAIT2',
      'FIN_WAIT2>TIME_WAIT',
    ]);
    expect(server_.map((e) => `${e.oldState}>${e.newState}`.replace(/TCP_STATE_/g, ''))).toEqual([
      'LISTEN>SYN_RECV',
      'SYN_RECV>ESTABLISHED',
      'ESTABLISHED>CLOSE_WAIT',
      'CLOSE_WAIT>LAST_ACK',
      'LAST_ACK>CLOSE',
    ]);
    // One cookie per side, addresses as text, mirrored endpoints.
    expect(new Set(client_.map((e) => e.cookie)).size).toBe(1);
    expect(new Set(server_.map((e) => e.cookie)).size).toBe(1);
    const c = client_[1];
    const s = server_[1];
    expect([c.localAddress, c.remoteAddress, c.remotePort]).toEqual([client.ipv4, server.ipv4, 80]);
    expect([s.localAddress, s.localPort, s.remoteAddress, s.remotePort]).toEqual([server.ipv4, 80, client.ipv4, c.localPort]);
    // seq increases by one per captured event; the filter passes all of them here.
    const seqs = events.map((e) => Number(e.seq));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    expect(events.every((e) => e.agentId === 'bufcurl')).toBe(true);
  });

  it('counts the same transitions on /metrics', async () => {
    const text = await (await fetch(`http://${agent.httpAddress}/metrics`)).text();
    for (const [from, to] of [
      ['CLOSE', 'SYN_SENT'],
      ['SYN_SENT', 'ESTABLISHED'],
      ['LISTEN', 'SYN_RECV'],
      ['LAST_ACK', 'CLOSE'],
    ]) {
      expect(text).toContain(`tcpstate_events_captured_total{old_state="${from}",new_state="${to}"} 1\n`);
    }
    expect(text).toContain('tcpstate_events_dropped_total{reason="kernel"} 0\n');
    expect(text).toContain('tcpstate_events_dropped_total{reason="slow_subscriber"} 0\n');
    expect(text).toMatch(/^tcpstate_subscribers 0$/m);
    expect(text).toMatch(/^tcpstate_last_seq 10$/m);
  });
});
