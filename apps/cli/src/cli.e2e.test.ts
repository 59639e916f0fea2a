// The built `tcpstate` against a real agent: namespace hosts, nginx as the
// server, curl as the client (once closing first, once letting nginx close
// first). watch and status talk to the agent itself. timeline and plot talk to
// a CollectorService served in-process (ConnectServer on port 0) whose fixed
// answer is built from the same captured events with libs/model's
// buildTimelines: the collector app is not finished yet.
import { create, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { ConnectError, Code } from '@connectrpc/connect';
import { formatListen } from '@tcpstate/config';
import { buildTimelines, formatDuration, formatTimeUtc, pairTimelines, refKey, stateName, timestampFromNs } from '@tcpstate/model';
import { CollectorService, GapReason, GapSchema, HeartbeatSchema, type StateChange, StateChangeSchema } from '@tcpstate/proto';
import { ConnectServer, serviceRegistration } from '@tcpstate/rpc';
import { createNetwork, type NetnsHost, type Nginx, repoRoot, run, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = `${repoRoot}apps/cli/bin/tcpstate`;
const tcpstate = (args: string[]) => run(cli, args, { env: { TZ: 'UTC' }, timeoutMs: 30_000 });

let net: ReturnType<typeof createNetwork>;
let server: NetnsHost;
let client: NetnsHost;
let nginx: Nginx;
let agent: RunningProgram;
let collector: ConnectServer;
let collectorAddress: string;
let outDir: string;
/** Events of the client-closes-first connection (port 80) and of the server-closes-first one (port 81), from `watch --json`. */
let closeByClient: StateChange[];
let closeByServer: StateChange[];

/** Sends one request, reads until the server's FIN, then closes: prints the body. */
const serverClosesFirstClient = `
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n')
data = b''
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
time.sleep(0.05)
s.close()
print(data.split(b'\\r\\n\\r\\n', 1)[1].decode(), end='')
`;

const GAP_TIME_NS = 1_800_000_000_000_000_000n;

/**
 * `watch --json` of every event of one server endpoint (one connection each here), retried until
 * both sides have ended: the client or server's LAST_ACK -> CLOSE and the other's FIN_WAIT2 -> TIME_WAIT.
 */
async function capture(endpoint: string): Promise<StateChange[]> {
  let events: StateChange[] = [];
  for (let i = 0; i < 100; i++) {
    const res = await tcpstate(['watch', '--agent', agent.grpcAddress, '--server-endpoint', endpoint, '--last', '50', '--no-follow', '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    events = res.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { event?: JsonValue })
      .flatMap((r) => (r.event ? [fromJson(StateChangeSchema, r.event)] : []));
    const seen = new Set(events.map((e) => `${stateName(e.oldState)}>${stateName(e.newState)}`));
    if (seen.has('LAST_ACK>CLOSE') && seen.has('FIN_WAIT2>TIME_WAIT')) return events;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the agent did not capture the whole connection to ${endpoint}: ${events.map((e) => `${stateName(e.oldState)}>${stateName(e.newState)}`).join(', ')}`);
}

beforeAll(async () => {
  net = createNetwork('cli', 81, 2);
  [server, client] = net.hosts;
  nginx = await startNginx(server, [{ listen: [`${server.ipv4}:80`] }, { listen: [`${server.ipv4}:81`], keepaliveTimeout: 0 }]);
  agent = await startProgram('agent', ['--server-endpoint', `${server.ipv4}:80`, '--server-endpoint', `${server.ipv4}:81`, '--agent-id', 'cli-agent']);
  expect(await client.run('curl', ['-s', `http://${server.ipv4}:80/`])).toBe('ok\n');
  // The server closes first: nginx (keepalive_timeout 0) after its response, the client only once it has read the server's FIN.
  // (curl would close on its own as soon as the response is complete, racing nginx into a simultaneous close.)
  expect(await client.run('python3', ['-c', serverClosesFirstClient, server.ipv4, '81'])).toBe('ok\n');
  closeByClient = await capture(`${server.ipv4}:80`);
  closeByServer = await capture(`${server.ipv4}:81`);

  // The stand-in collector: fixed answers built from the captured events.
  const all = [...closeByClient, ...closeByServer];
  const timelines = buildTimelines(all, { hostnames: new Map([['cli-agent', 'cli-host']]) });
  const gap = create(GapSchema, { agentId: 'cli-agent', bootId: all[0].bootId, reason: GapReason.SLOW_SUBSCRIBER, count: 4n, firstSeq: 7n, lastSeq: 10n, time: timestampFromNs(GAP_TIME_NS), message: 'test gap' });
  collector = new ConnectServer(
    [
      serviceRegistration(CollectorService, {
        queryTimeline: () => ({ connections: timelines, gaps: [gap] }),
        getConnection: (req) => {
          if (req.key.case !== 'ref') throw new ConnectError('by ref only', Code.InvalidArgument);
          const ref = req.key.value;
          const found = timelines.find((t) => t.ref!.agentId === ref.agentId && t.ref!.cookie === ref.cookie);
          if (!found) throw new ConnectError(`no connection ${refKey(ref)}`, Code.NotFound);
          const pair = pairTimelines(timelines).find((p) => p.client === found || p.server === found)!;
          return { connection: found, peer: pair.client === found ? pair.server : pair.client };
        },
        async *watch() {
          for (const e of closeByClient) yield { response: { case: 'event', value: e } };
          yield { response: { case: 'gap', value: gap } };
          yield { response: { case: 'heartbeat', value: create(HeartbeatSchema, { agentId: 'cli-agent', lastSeq: 99n, time: timestampFromNs(GAP_TIME_NS) }) } };
        },
      }),
    ],
    { grpcListen: { host: '127.0.0.1', port: 0 }, httpListen: { host: '127.0.0.1', port: 0 } },
  );
  await collector.listen();
  collectorAddress = formatListen(collector.grpcAddress);
  outDir = mkdtempSync(join(tmpdir(), 'tcpstate-cli-test-'));
}, 120_000);

afterAll(async () => {
  await collector?.close();
  await agent?.stop();
  nginx?.stop();
  net?.destroy();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const transitions = (events: StateChange[], side: number) => events.filter((e) => e.side === side).map((e) => `${stateName(e.oldState)}>${stateName(e.newState)}`);
const ns = (e: StateChange) => e.time!.seconds * 1_000_000_000n + BigInt(e.time!.nanos);
const clock = (e: StateChange) => {
  const iso = new Date(Number(ns(e) / 1_000_000n)).toISOString();
  return `${iso.slice(11, 19)}.${String((ns(e) / 1000n) % 1_000_000n).padStart(6, '0')}`;
};

describe('tcpstate watch --agent', () => {
  it('--json: the exact client and server sequences of both connections', () => {
    expect(transitions(closeByClient, 1)).toEqual(['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>TIME_WAIT']);
    expect(transitions(closeByClient, 2)).toEqual(['LISTEN>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE']);
    expect(transitions(closeByServer, 1)).toEqual(['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE']);
    // nginx shuts its side down, then closes the socket: when the client's ACK came first, the socket is
    // in FIN_WAIT2 and the kernel reports FIN_WAIT2 again (orphaned); otherwise it closed in FIN_WAIT1.
    const server81 = transitions(closeByServer, 2);
    expect(server81.filter((t) => t !== 'FIN_WAIT2>FIN_WAIT2')).toEqual(['LISTEN>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>TIME_WAIT']);
    expect(server81.length - 5).toBeLessThanOrEqual(1);
    expect(closeByClient).toHaveLength(10);
    expect(closeByClient.every((e) => e.agentId === 'cli-agent')).toBe(true);
  });

  it('prints one exact line per transition', async () => {
    const res = await tcpstate(['watch', '--agent', agent.grpcAddress, '--server-endpoint', `${server.ipv4}:80`, '--last', '10', '--no-follow']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const expected = closeByClient.map((e) => {
      const local = `${e.localAddress}:${e.localPort}`;
      const remote = `${e.remoteAddress}:${e.remotePort}`;
      const side = e.side === 1 ? 'client ' : 'server ';
      const inOld = e.timeInOldState ? formatDuration(e.timeInOldState.seconds * 1_000_000_000n + BigInt(e.timeInOldState.nanos)) : '-';
      return `${clock(e)}  cli-agent  ${side}  ${`${local} > ${remote}`.padEnd(45)}  ${`${stateName(e.oldState)} -> ${stateName(e.newState)}`.padEnd(28)}  ${inOld.padStart(7)}  ${e.comm && e.pid ? `${e.comm}[${e.pid}]` : e.comm || (e.pid ? `pid ${e.pid}` : '-')}  cookie ${e.cookie}`;
    });
    // Kernel gaps (transitions the kernel lost elsewhere on the host while the test ran) reach every
    // subscriber whatever its filter, since a lost transition's endpoints are unknown: they may follow.
    const lines = res.stdout.trimEnd().split('\n');
    const kernelGaps = lines.filter((l) => / GAP .*\(in the kernel\)/.test(l));
    expect(lines.filter((l) => !kernelGaps.includes(l)).join('\n')).toBe(expected.join('\n'));
    // The client's first line: its port not picked yet, no time in CLOSE known.
    expect(res.stdout.split('\n')[0]).toMatch(new RegExp(`  client   ${client.ipv4}:0 > ${server.ipv4}:80 +CLOSE -> SYN_SENT +-  curl\\[\\d+\\]  cookie \\d+$`));
  });

  it('applies the filters: --side server --state ESTABLISHED --exclude-port 81', async () => {
    const res = await tcpstate(['watch', '--agent', agent.grpcAddress, '--side', 'server', '--state', 'established', '--exclude-port', '81', '--address', '10.81.0.0/24', '--last', '5', '--no-follow', '--json']);
    expect(res.code).toBe(0);
    const events = res.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { event?: { cookie: string; newState: string; side: string }; gap?: { reason: string } }))
      .filter((r) => r.gap?.reason !== 'GAP_REASON_KERNEL') // see above: kernel gaps reach every filter
      .map((r) => r.event!);
    const serverCookie = String(closeByClient.find((e) => e.side === 2)!.cookie);
    expect(events.map((e) => [e.cookie, e.side, e.newState])).toEqual([[serverCookie, 'SIDE_SERVER', 'TCP_STATE_ESTABLISHED']]);
  });

  it('follows live transitions and ends cleanly on Ctrl-C', async () => {
    const env = { ...process.env, NO_COLOR: '1' };
    delete env.FORCE_COLOR; // Node warns when both are set
    // From the seq after the agent's newest: nothing is missed however late the subscription reaches the agent.
    const status = await tcpstate(['status', '--agent', agent.grpcAddress]);
    const newest = Number(/^events {5}(\d+) captured/m.exec(status.stdout)![1]);
    const child = spawn(cli, ['watch', '--agent', agent.grpcAddress, '--server-endpoint', `${server.ipv4}:80`, '--since-seq', String(newest + 1)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(await client.run('curl', ['-s', `http://${server.ipv4}:80/`])).toBe('ok\n');
    for (let i = 0; i < 100 && stdout.split('\n').length < 11; i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.trim().split('\n');
    const of = (side: string) => lines.filter((l) => l.includes(`  ${side}  `)).map((l) => /\s(\S+ -> \S+)\s/.exec(l)?.[1]);
    expect(of('client ')).toEqual(['CLOSE -> SYN_SENT', 'SYN_SENT -> ESTABLISHED', 'ESTABLISHED -> FIN_WAIT1', 'FIN_WAIT1 -> FIN_WAIT2', 'FIN_WAIT2 -> TIME_WAIT']);
    expect(of('server ')).toEqual(['LISTEN -> SYN_RECV', 'SYN_RECV -> ESTABLISHED', 'ESTABLISHED -> CLOSE_WAIT', 'CLOSE_WAIT -> LAST_ACK', 'LAST_ACK -> CLOSE']);
    expect(lines).toHaveLength(10);
  });

  it('--first 3 stops after three events', async () => {
    const res = await tcpstate(['watch', '--agent', agent.grpcAddress, '--server-endpoint', `${server.ipv4}:81`, '--since-seq', '1', '--first', '3']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n').map((l) => /\s(\S+ -> \S+)\s/.exec(l)?.[1])).toEqual(
      // In the agent's seq order (the kernel's): the same three that --last 10 began with.
      closeByServer.slice(0, 3).map((e) => `${stateName(e.oldState)} -> ${stateName(e.newState)}`),
    );
  });
});

describe('tcpstate watch --collector (the stand-in)', () => {
  it('prints events and the gap; heartbeats only on a terminal', async () => {
    const res = await tcpstate(['watch', '--collector', collectorAddress]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe('08:00:00.000000  cli-agent  GAP  4 events lost (this stream read too slowly), seq 7-10: test gap');
  });

  it('--json passes every message through as proto3 JSON', async () => {
    const res = await tcpstate(['watch', '--collector', collectorAddress, '--json']);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, { reason?: string; lastSeq?: string }>);
    expect(lines.map((l) => Object.keys(l)[0])).toEqual([...Array(10).fill('event'), 'gap', 'heartbeat']);
    expect(lines[10].gap.reason).toBe('GAP_REASON_SLOW_SUBSCRIBER');
    expect(lines[11].heartbeat.lastSeq).toBe('99');
  });

  it('--first 2 stops the live stream after two events', async () => {
    const res = await tcpstate(['watch', '--collector', collectorAddress, '--first', '2']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n')).toHaveLength(2);
  });
});

/** The expected text of one side: offsets from `origin`, durations from the events' times. */
function expectedSide(events: StateChange[], side: number, origin: bigint): string[] {
  const own = events.filter((e) => e.side === side);
  const pid = own.find((e) => e.pid)?.pid ?? 0;
  const comm = own.find((e) => e.comm)?.comm ?? '';
  const last = own[own.length - 1];
  const open = stateName(last.newState) !== 'CLOSE';
  const lines = [`  ${side === 1 ? 'client' : 'server'}  cli-host  ${comm && pid ? `${comm}[${pid}]` : comm || '-'}  cookie ${own[0].cookie}${open ? '  (open)' : ''}`];
  own.forEach((e, i) => {
    if (stateName(e.newState) === 'CLOSE') return;
    const offset = ns(e) - origin;
    const next = own[i + 1];
    const text = next ? formatDuration(ns(next) - ns(e)) : 'open';
    lines.push(`    ${(offset === 0n ? '0' : `+${formatDuration(offset)}`).padStart(9)}  ${stateName(e.newState).padEnd(12)}  ${text}`);
  });
  return lines;
}

describe('tcpstate timeline (the stand-in collector)', () => {
  it('shows one connection, client above server, each state with its offset and duration', async () => {
    const c = closeByClient.find((e) => e.side === 1)!;
    const res = await tcpstate(['timeline', '--collector', collectorAddress, '--agent-id', 'cli-agent', '--cookie', String(c.cookie)]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const origin = ns(closeByClient[0]);
    const port = closeByClient.find((e) => e.side === 1 && e.localPort)!.localPort;
    expect(res.stdout).toBe(
      [`${client.ipv4}:${port} → ${server.ipv4}:80  ${formatTimeUtc(origin)}`, ...expectedSide(closeByClient, 1, origin), ...expectedSide(closeByClient, 2, origin), ''].join('\n'),
    );
  });

  it('shows a window of connections in order, then its gaps', async () => {
    const res = await tcpstate(['timeline', '--collector', collectorAddress, '--since', '10m']);
    expect(res.code).toBe(0);
    const blocks = res.stdout.trim().split('\n\n');
    expect(blocks).toHaveLength(3);
    expect(blocks[0].split('\n')[0]).toMatch(new RegExp(`→ ${server.ipv4.replace(/\./g, '\\.')}:80  `));
    expect(blocks[1].split('\n')[0]).toMatch(/:81 {2}/);
    // Server closes first: the server has the TIME_WAIT, the client the CLOSE_WAIT.
    expect(blocks[1]).toMatch(/server {2}cli-host .*\(open\)/);
    expect(blocks[1].split('\n').map((l) => /^ +(?:0|\+\S+) +([A-Z_0-9]+) /.exec(l)?.[1]).filter(Boolean)).toEqual([
      'SYN_SENT', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
    ]);
    expect(blocks[2]).toBe('08:00:00.000000  cli-agent  GAP  4 events lost (this stream read too slowly), seq 7-10: test gap');
  });

  it('says which connection it could not find', async () => {
    const res = await tcpstate(['timeline', '--collector', collectorAddress, '--agent-id', 'nope', '--cookie', '1']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('tcpstate: timeline: no connection nope//1 (NOT_FOUND)\n');
  });
});

/** Every segment of an SVG: [lane, side, state, label texts]. */
function svgSegments(svg: string): [number, string, string, string[]][] {
  const found: [number, string, string, string[]][] = [];
  let lane = -1;
  let side = '';
  for (const m of svg.matchAll(/<g class="lane" data-lane="(\d+)">|<g class="row" data-side="(\w+)">|<g class="segment" data-state="(\w+)"[^>]*>([\s\S]*?)<\/g>/g)) {
    if (m[1] !== undefined) lane = Number(m[1]);
    else if (m[2] !== undefined) side = m[2];
    else found.push([lane, side, m[3], [...m[4].matchAll(/<text class="segment-label"[^>]*>([^<]*)<\/text>/g)].map((t) => t[1])]);
  }
  return found;
}

describe('tcpstate plot (the stand-in collector)', () => {
  it('draws each connection as a lane, client above server, a labelled bar per state', async () => {
    const file = join(outDir, 'plot.svg');
    const res = await tcpstate(['plot', '--collector', collectorAddress, '--out', file]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(`wrote ${file}: 2 connections\n`);
    const svg = readFileSync(file, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const segments = svgSegments(svg);
    expect(segments.map(([lane, side, state]) => `${lane} ${side} ${state}`)).toEqual([
      '0 client SYN_SENT', '0 client ESTABLISHED', '0 client FIN_WAIT1', '0 client FIN_WAIT2', '0 client TIME_WAIT',
      '0 server SYN_RECV', '0 server ESTABLISHED', '0 server CLOSE_WAIT', '0 server LAST_ACK',
      '1 client SYN_SENT', '1 client ESTABLISHED', '1 client CLOSE_WAIT', '1 client LAST_ACK',
      '1 server SYN_RECV', '1 server ESTABLISHED', '1 server FIN_WAIT1', '1 server FIN_WAIT2', '1 server TIME_WAIT',
    ]);
    // Every closed segment is labelled with its name and duration where it fits; the open TIME_WAIT says so.
    const client0 = closeByClient.filter((e) => e.side === 1);
    expect(segments[0][3].join(' ')).toBe(`SYN_SENT ${formatDuration(ns(client0[1]) - ns(client0[0]))}`);
    expect(segments[4][3].join(' ')).toBe('TIME_WAIT open');
    expect(svg).toContain('data-state="TIME_WAIT"');
    expect(svg).toMatch(/<g class="segment" data-state="TIME_WAIT" data-start-ns="\d+" data-approximate="false" data-open="true">/);
    // The lane titles name the endpoints.
    expect([...svg.matchAll(/<text class="lane-title"[^>]*>([^<]*)</g)].map((m) => m[1].split('  ')[0])).toEqual([
      `${client.ipv4}:${client0[1].localPort} → ${server.ipv4}:80`,
      `${client.ipv4}:${closeByServer.find((e) => e.side === 1 && e.localPort)!.localPort} → ${server.ipv4}:81`,
    ]);
  });

  it('--last 1 draws only the most recent connection', async () => {
    const file = join(outDir, 'last.svg');
    const res = await tcpstate(['plot', '--collector', collectorAddress, '--out', file, '--last', '1']);
    expect(res.stdout).toBe(`wrote ${file}: 1 connection (of 2 in the window)\n`);
    expect(new Set(svgSegments(readFileSync(file, 'utf8')).map(([lane]) => lane))).toEqual(new Set([0]));
    expect(readFileSync(file, 'utf8')).toContain(`→ ${server.ipv4}:81`);
  });

  it('writes a PNG through rsvg-convert', async () => {
    const file = join(outDir, 'plot.png');
    const res = await tcpstate(['plot', '--collector', collectorAddress, '--out', file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(existsSync(file)).toBe(true);
    const png = readFileSync(file);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(statSync(file).size).toBeGreaterThan(10_000);
    // Width and height from the IHDR chunk: the picture's size, not an empty image.
    expect(png.readUInt32BE(16)).toBeGreaterThan(600);
    expect(png.readUInt32BE(20)).toBeGreaterThan(200);
  });
});

describe('tcpstate status and errors', () => {
  it('status still describes the agent', async () => {
    const res = await tcpstate(['status', '--agent', agent.grpcAddress]);
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n')[0]).toBe(`agent      cli-agent (${res.stdout.split('(')[1].split(')')[0]}) at ${agent.grpcAddress}`);
    expect(res.stdout).toMatch(/^capturing {2}yes$/m);
  });

  it('an unreachable agent is one sentence, exit 1', async () => {
    const res = await tcpstate(['watch', '--agent', '127.0.0.1:1', '--last', '1', '--no-follow']);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('tcpstate: watch: cannot reach the agent at 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n');
  });
});
