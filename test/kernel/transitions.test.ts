// Every transition of real connections between two network-namespace hosts
// (nginx serving, curl / a python client connecting), captured by the real
// BPF programs through KernelCapture, asserted as exact ordered sequences per
// side. TIME_WAIT is ended early by reusing the 4-tuple (a new SYN), so the
// sweep's exit observation is part of every sequence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';

import { KernelCapture } from '@tcpstate/kernel';

import { EventLog } from './event-log.js';
import { type Nginx, startNginx } from '@tcpstate/testbed';
import { createHostPair, requireRoot, type HostPair } from './netns-hosts.js';

const CLIENT_PY = fileURLToPath(new URL('./tcp-client.py', import.meta.url));
const SWEEP_MS = 200;

let pair: HostPair;
let nginx: Nginx | undefined;
const log = new EventLog();

beforeAll(async () => {
  requireRoot();
  pair = createHostPair('tst', 201);
  // Client-side TIME_WAIT may be reused by a new connect() from the same port.
  pair.exec(pair.client, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1']);
  log.capture = KernelCapture.open(
    { netns: [pair.serverNetns, pair.clientNetns], sweepIntervalMs: SWEEP_MS, maxLatencyMs: 20 },
    log.onEvents,
  );
  // Started after the capture: its listeners are known, so accepted connections carry nginx's pid.
  nginx = await startNginx(pair.serverHost, [
    { listen: [`${pair.serverV4}:80`, `[${pair.serverV6}]:80`], keepaliveTimeout: 60 },
    { listen: ['81'], keepaliveTimeout: 0 },
  ]);
});

afterAll(async () => {
  log.capture?.close();
  await nginx?.stop();
  pair?.remove();
});

const pythonClient = (host: string, port: number, ...flags: string[]) =>
  pair.exec(pair.client, 'python3', [CLIENT_PY, host, String(port), ...flags]);

const CLIENT_CLOSES_FIRST_CLIENT = [
  // The peer's FIN came with or after the ACK of ours: handed over in TIME_WAIT...
  ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', 'FIN_WAIT2->TIME_WAIT (handover)', 'TIME_WAIT->CLOSE (sweep)'],
  // ...or the orphan was handed over in FIN_WAIT2 and the timewait socket then got the FIN.
  ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', 'FIN_WAIT2->FIN_WAIT2 (handover)', 'FIN_WAIT2->TIME_WAIT (sweep)', 'TIME_WAIT->CLOSE (sweep)'],
];
const PASSIVE_CLOSE_SERVER = ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'];
const PASSIVE_CLOSE_CLIENT = ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'];

/** Client closes first on `host`; TIME_WAIT ended by reusing the same 4-tuple. */
async function clientClosesFirst(host: string, localPort: number) {
  pythonClient(host, 80, '--local-port', String(localPort));
  const client = () => log.cookies(pair.clientNetns, localPort, 80)[0];
  await log.waitFor('the client hand-over', () => client() !== undefined && log.of(client()).some((e) => e.observedBy === 2));
  const first = client();
  // tcp_tw_reuse takes a TIME_WAIT 4-tuple once its last timestamp is older than tcp_tw_reuse_delay (1 s).
  await new Promise((r) => setTimeout(r, 1100));
  pythonClient(host, 80, '--local-port', String(localPort));
  await log.waitForLast(() => first, 'TIME_WAIT->CLOSE (sweep)');
  const server = log.cookies(pair.serverNetns, 80, localPort)[0];
  await log.waitForLast(() => server, 'LAST_ACK->CLOSE');
  return { client: first, server };
}

describe('kernel capture between two network-namespace hosts', () => {
  it('reports the strategies, with the errno of each refused TIME_WAIT hook', () => {
    const capture = log.capture!;
    expect(capture.strategies[0]).toEqual({ concern: 'state', name: 'tp_btf/inet_sock_set_state', active: true });
    const timeWait = capture.strategies.filter((s) => s.concern === 'time_wait');
    expect(timeWait.map((s) => [s.name, s.active])).toEqual([
      ['fexit', false],
      ['kprobe', false],
      ['sweep', true],
    ]);
    // This machine: fentry/fexit are refused (EPERM) and there are no kprobes.
    expect(timeWait[0].refusedReason).toMatch(/fexit\/inet_twsk_alloc: load refused: Operation not permitted \(errno 1\)/);
    expect(timeWait[1].refusedReason).toMatch(/kprobe\/inet_twsk_alloc: no kprobe PMU .*No such file or directory \(errno 2\)/);
  });

  it('client closes first: the client passes through TIME_WAIT (hand-over in, sweep out)', async () => {
    const { client, server } = await clientClosesFirst(pair.serverV4, 41001);
    expect(CLIENT_CLOSES_FIRST_CLIENT).toContainEqual(log.steps(client));
    expect(log.steps(server)).toEqual(PASSIVE_CLOSE_SERVER);

    const c = log.of(client);
    expect(new Set(c.map((e) => e.side))).toEqual(new Set([1]));
    expect(c.every((e) => e.comm === 'python3' && e.pid > 0 && e.netns === pair.clientNetns)).toBe(true);
    expect(c.at(-1)!.localAddress).toBe(pair.clientV4);
    expect(c.at(-1)!.remoteAddress).toBe(pair.serverV4);
    expect(c.at(-1)!.family).toBe(4);
    // The sweep says how late it may be; the hand-over is exact.
    expect(c.at(-1)!.uncertaintyNs).toBeDefined();
    expect(c.at(-1)!.uncertaintyNs! <= BigInt(SWEEP_MS * 3) * 1_000_000n).toBe(true);
    expect(c.find((e) => e.observedBy === 2)!.uncertaintyNs).toBeUndefined();
    // Followed from the start: every step after the first knows its time in the old state.
    expect(c.slice(1).every((e) => e.timeInOldStateNs !== undefined)).toBe(true);
    expect(c[0].timeInOldStateNs).toBeUndefined();
    expect(c.at(-1)!.timeInOldStateNs! >= 1_000_000_000n).toBe(true); // TIME_WAIT lasted until the reuse (>= 1 s)

    const s = log.of(server);
    expect(new Set(s.map((e) => e.side))).toEqual(new Set([2]));
    expect(s.every((e) => e.comm === 'nginx' && e.localPort === 80)).toBe(true); // listener's process, inherited
  });

  it('server closes first: the server goes FIN_WAIT2 in a timewait socket, then TIME_WAIT, then out', async () => {
    // The client holds its end open after the response, so nginx's orphaned socket is handed over in FIN_WAIT2.
    const { spawn } = await import('node:child_process');
    const holder = spawn('ip', ['netns', 'exec', pair.client, 'python3', CLIENT_PY, pair.serverV4, '81', '--local-port', '41002', '--hold'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const server = () => log.cookies(pair.serverNetns, 81, 41002)[0];
    await log.waitForLast(server, 'FIN_WAIT2->FIN_WAIT2 (handover)');
    holder.stdin.end(); // now the client closes: its FIN reaches the timewait socket
    await new Promise((r) => holder.once('exit', r));
    await log.waitForLast(server, 'FIN_WAIT2->TIME_WAIT (sweep)');
    pair.exec(pair.client, 'curl', ['-s', '--local-port', '41002', `http://${pair.serverV4}:81/`]); // a new SYN ends it
    await log.waitForLast(server, 'TIME_WAIT->CLOSE (sweep)');

    expect(log.steps(server())).toEqual([
      'LISTEN->SYN_RECV',
      'SYN_RECV->ESTABLISHED',
      'ESTABLISHED->FIN_WAIT1',
      'FIN_WAIT1->FIN_WAIT2',
      'FIN_WAIT2->FIN_WAIT2 (handover)',
      'FIN_WAIT2->TIME_WAIT (sweep)',
      'TIME_WAIT->CLOSE (sweep)',
    ]);
    const [held, curl] = log.cookies(pair.clientNetns, 41002, 81);
    expect(log.steps(held)).toEqual(PASSIVE_CLOSE_CLIENT);
    expect(log.of(server()).every((e) => e.side === 2)).toBe(true);
    // curl's connection only ends the TIME_WAIT; who closes it first is a race between curl and nginx.
    expect(log.steps(curl).slice(0, 2)).toEqual(['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED']);
    expect(log.of(curl).every((e) => e.side === 1 && e.comm === 'curl')).toBe(true);
  });

  it('a refused connection (no listener) is SYN_SENT -> CLOSE, an abort, on the client only', async () => {
    pair.exec(pair.client, 'curl', ['-s', '--local-port', '41003', `http://${pair.serverV4}:82/`], { allowFail: true });
    const client = () => log.cookies(pair.clientNetns, 41003, 82)[0];
    await log.waitForLast(client, 'SYN_SENT->CLOSE');
    expect(log.steps(client())).toEqual(['CLOSE->SYN_SENT', 'SYN_SENT->CLOSE']);
    expect(log.of(client()).at(-1)!.abort).toBe(true);
    expect(log.events.filter((e) => e.netns === pair.serverNetns && e.remotePort === 41003)).toEqual([]);
  });

  it('a reset (SO_LINGER 0) of an established connection is ESTABLISHED -> CLOSE on both sides', async () => {
    pythonClient(pair.serverV4, 80, '--local-port', '41004', '--reset');
    const client = () => log.cookies(pair.clientNetns, 41004, 80)[0];
    const server = () => log.cookies(pair.serverNetns, 80, 41004)[0];
    await log.waitForLast(client, 'ESTABLISHED->CLOSE');
    await log.waitForLast(server, 'ESTABLISHED->CLOSE');
    expect(log.steps(client())).toEqual(['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE']);
    expect(log.steps(server())).toEqual(['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE']);
    expect(log.of(client()).at(-1)!.abort).toBe(true);
    expect(log.of(server()).at(-1)!.abort).toBe(true);
  });

  it('IPv6: the same life, with IPv6 addresses', async () => {
    const { client, server } = await clientClosesFirst(pair.serverV6, 41005);
    expect(CLIENT_CLOSES_FIRST_CLIENT).toContainEqual(log.steps(client));
    expect(log.steps(server)).toEqual(PASSIVE_CLOSE_SERVER);
    const last = log.of(client).at(-1)!;
    expect([last.family, last.localAddress, last.remoteAddress]).toEqual([6, pair.clientV6, pair.serverV6]);
    const s = log.of(server)[1];
    expect([s.family, s.localAddress, s.remoteAddress, s.side]).toEqual([6, pair.serverV6, pair.clientV6, 2]);
  });

  it('delivers no record twice and drops none', () => {
    const keys = log.events.map((e) => `${e.cookie}:${e.monotonicNs}:${e.oldState}:${e.newState}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(log.capture!.kernelDrops()).toBe(0n);
  });
});
