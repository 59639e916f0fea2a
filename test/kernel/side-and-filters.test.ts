// Side from configured server endpoints (a server bound to a specific
// address and one bound to 0.0.0.0), connections older than the capture,
// and the in-kernel endpoint and netns filters, with three captures running
// side by side over the same traffic.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KernelCapture, KernelCaptureError } from '@tcpstate/kernel';

import { EventLog } from './event-log.js';
import { type Nginx, startNginx } from '@tcpstate/testbed';
import { createHostPair, requireRoot, type HostPair } from './netns-hosts.js';

const CLIENT_PY = fileURLToPath(new URL('./tcp-client.py', import.meta.url));

let pair: HostPair;
let nginx: Nginx | undefined;
const holders: ChildProcessWithoutNullStreams[] = [];
const byEndpoints = new EventLog(); // serverEndpoints: specific :80 and wildcard :8082
const byClientNetns = new EventLog(); // netns: the client host only
const byPort80Endpoint = new EventLog(); // serverEndpoints: the specific :80 only

/** A connection opened now and held until release(). */
async function hold(port: number, localPort: number) {
  const child = spawn('ip', ['netns', 'exec', pair.client, 'python3', CLIENT_PY, pair.serverV4, String(port), '--local-port', String(localPort), '--hold']);
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`client to :${port} exited with ${code}`)));
  });
  return () => new Promise((r) => { child.once('exit', r); child.stdin.end(); });
}

let release80: () => Promise<unknown>;
let release8082: () => Promise<unknown>;

beforeAll(async () => {
  requireRoot();
  pair = createHostPair('tsf', 202);
  nginx = await startNginx(pair.serverHost, [
    { listen: [`${pair.serverV4}:80`], keepaliveTimeout: 60 },
    { listen: ['8082'], keepaliveTimeout: 60 },
  ]);
  // Both connections exist before any capture starts.
  release80 = await hold(80, 42001);
  release8082 = await hold(8082, 42002);

  byEndpoints.capture = KernelCapture.open(
    { serverEndpoints: [`${pair.serverV4}:80`, '0.0.0.0:8082'], netns: [pair.serverNetns, pair.clientNetns], maxLatencyMs: 20 },
    byEndpoints.onEvents,
  );
  byClientNetns.capture = KernelCapture.open({ netns: [pair.clientNetns], maxLatencyMs: 20 }, byClientNetns.onEvents);
  byPort80Endpoint.capture = KernelCapture.open({ serverEndpoints: [`${pair.serverV4}:80`], maxLatencyMs: 20 }, byPort80Endpoint.onEvents);
});

afterAll(async () => {
  for (const log of [byEndpoints, byClientNetns, byPort80Endpoint]) log.capture?.close();
  for (const child of holders) child.kill();
  await nginx?.stop();
  pair?.remove();
});

const ACTIVE_CLOSE_START = ['ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2'];
const PASSIVE_CLOSE = ['ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'];

describe('connections older than the capture', () => {
  it('are listed with side unknown when no server endpoint is configured', () => {
    const sockets = byClientNetns.capture!.listSockets().filter((s) => s.netns === pair.clientNetns);
    const held = sockets.filter((s) => s.localPort === 42001 || s.localPort === 42002);
    expect(held.map((s) => [s.localPort, s.remotePort, s.state, s.side, s.stateSinceNs]).sort()).toEqual([
      [42001, 80, 1, 0, undefined],
      [42002, 8082, 1, 0, undefined],
    ]);
  });

  it('are listed with the side their configured endpoint gives, listeners as servers', () => {
    const sockets = byEndpoints.capture!.listSockets();
    const summary = sockets
      .filter((s) => [80, 8082, 42001, 42002].includes(s.localPort))
      .map((s) => `${s.localAddress}:${s.localPort}>${s.remotePort} state=${s.state} side=${s.side}`)
      .sort();
    expect(summary).toEqual(
      [
        `${pair.serverV4}:80>0 state=10 side=2`,
        `0.0.0.0:8082>0 state=10 side=2`,
        `${pair.serverV4}:80>42001 state=1 side=2`,
        `${pair.serverV4}:8082>42002 state=1 side=2`,
        `${pair.clientV4}:42001>80 state=1 side=1`,
        `${pair.clientV4}:42002>8082 state=1 side=1`,
      ].sort(),
    );
  });

  it('close with exact sequences, side from the configured endpoints (specific and 0.0.0.0)', async () => {
    await Promise.all([release80(), release8082()]);
    for (const [port, local] of [[80, 42001], [8082, 42002]]) {
      const client = () => byEndpoints.cookies(pair.clientNetns, local, port)[0];
      const server = () => byEndpoints.cookies(pair.serverNetns, port, local)[0];
      await byEndpoints.waitForLast(server, 'LAST_ACK->CLOSE');
      await byEndpoints.waitFor(`client :${local} hand-over`, () => client() !== undefined && byEndpoints.of(client()).some((e) => e.observedBy === 2));
      expect(byEndpoints.steps(server())).toEqual(PASSIVE_CLOSE);
      const clientSteps = byEndpoints.steps(client());
      expect(clientSteps.slice(0, 2)).toEqual(ACTIVE_CLOSE_START);
      expect(['FIN_WAIT2->TIME_WAIT (handover)', 'FIN_WAIT2->FIN_WAIT2 (handover)']).toContain(clientSteps[2]);
      expect(byEndpoints.of(server()).every((e) => e.side === 2)).toBe(true);
      expect(byEndpoints.of(client()).every((e) => e.side === 1)).toBe(true);
      // Nothing was known about them: no time in the first old state.
      expect(byEndpoints.of(client())[0].timeInOldStateNs).toBeUndefined();
    }
  });

  it('without endpoints, the same closes have side unknown', async () => {
    const client = () => byClientNetns.cookies(pair.clientNetns, 42001, 80)[0];
    await byClientNetns.waitFor('client hand-over', () => client() !== undefined && byClientNetns.of(client()).some((e) => e.observedBy === 2));
    expect(byClientNetns.steps(client()).slice(0, 2)).toEqual(ACTIVE_CLOSE_START);
    expect(byClientNetns.of(client()).every((e) => e.side === 0)).toBe(true);
  });
});

describe('in-kernel filters', () => {
  it('netns: only the client host appears', () => {
    expect(byClientNetns.events.length).toBeGreaterThan(0);
    expect(byClientNetns.events.filter((e) => e.netns !== pair.clientNetns)).toEqual([]);
  });

  it('endpoint: only connections to the configured server appear, from both hosts', () => {
    const ports = new Set(byPort80Endpoint.events.map((e) => `${e.netns === pair.serverNetns ? 'server' : 'client'}:${e.localPort}>${e.remotePort}`));
    expect([...ports].sort()).toEqual(['client:42001>80', 'server:80>42001']);
  });
});

describe('errors a user can hit', () => {
  it('a missing object file is one sentence', () => {
    let caught: unknown;
    try {
      KernelCapture.open({ objectPath: '/nonexistent/tcpstate.bpf.o' }, () => {});
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(KernelCaptureError);
    expect((caught as KernelCaptureError).code).toBe('OBJECT_MISSING');
    expect((caught as Error).message).toBe(
      'The eBPF object file /nonexistent/tcpstate.bpf.o is missing: build it with "npm run build -w @tcpstate/kernel".',
    );
  });

  it('a bad endpoint is one sentence', () => {
    expect(() => KernelCapture.open({ serverEndpoints: ['10.0.0.1'] }, () => {})).toThrow(
      'Server endpoint "10.0.0.1" is not valid: no address and port (expected IP:PORT or [IPv6]:PORT).',
    );
  });

  it('close is idempotent and later calls are harmless', () => {
    const capture = KernelCapture.open({ netns: [pair.clientNetns] }, () => {});
    capture.close();
    capture.close();
    expect(capture.kernelDrops()).toBe(0n);
    expect(() => capture.listSockets()).toThrow('The kernel capture is closed.');
  });
});
