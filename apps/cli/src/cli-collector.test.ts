// timeline and plot against the real collector (apps/collector) fed by a real
// agent: nginx in one namespace host, curl in another, the collector storing
// to SQLite in a temp dir.
import { createNetwork, type NetnsHost, type Nginx, repoRoot, run, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
let collector: RunningProgram;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tcpstate-cli-collector-'));
  net = createNetwork('clc', 82, 2);
  [server, client] = net.hosts;
  nginx = await startNginx(server, [{ listen: [`${server.ipv4}:80`] }]);
  agent = await startProgram('agent', ['--server-endpoint', `${server.ipv4}:80`, '--agent-id', 'clc-agent']);
  collector = await startProgram('collector', ['--agent', agent.grpcAddress, '--store', join(dir, 'store')]);
  expect(await client.run('curl', ['-s', `http://${server.ipv4}:80/`])).toBe('ok\n');
}, 120_000);

afterAll(async () => {
  await collector?.stop();
  await agent?.stop();
  nginx?.stop();
  net?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('timeline and plot against the real collector', () => {
  it('timeline shows the curl connection with both sides paired', async () => {
    let text = '';
    for (let i = 0; i < 100; i++) {
      const res = await tcpstate(['timeline', '--collector', collector.grpcAddress, '--since', '5m', '--server-endpoint', `${server.ipv4}:80`]);
      expect(res.stderr).toBe('');
      text = res.stdout;
      if (/LAST_ACK/.test(text) && /TIME_WAIT/.test(text)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${client.ipv4.replace(/\./g, '\\.')}:\\d+ → ${server.ipv4.replace(/\./g, '\\.')}:80  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} UTC$`));
    expect(lines.map((l) => /^ {2}(client|server) /.exec(l)?.[1] ?? /^ +(?:0|\+\S+) +([A-Z_0-9]+) /.exec(l)?.[1]).filter(Boolean)).toEqual([
      'client', 'SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
      'server', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK',
    ]);
    // The same connection by its ref (GetConnection): the collector pairs the server side itself.
    const cookie = /^ {2}client .* cookie (\d+)/m.exec(text)![1];
    const one = await tcpstate(['timeline', '--collector', collector.grpcAddress, '--agent-id', 'clc-agent', '--cookie', cookie]);
    expect(one.stderr).toBe('');
    const withoutOpenDurations = (t: string) => t.replace(/TIME_WAIT +\S+ so far/, 'TIME_WAIT');
    expect(withoutOpenDurations(one.stdout)).toBe(withoutOpenDurations(text));
  });

  it('plot draws the same segments', async () => {
    const file = join(dir, 'plot.svg');
    const res = await tcpstate(['plot', '--collector', collector.grpcAddress, '--out', file, '--server-endpoint', `${server.ipv4}:80`]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(`wrote ${file}: 1 connection\n`);
    const svg = readFileSync(file, 'utf8');
    const segments: string[] = [];
    let side = '';
    for (const m of svg.matchAll(/<g class="row" data-side="(\w+)">|<g class="segment" data-state="(\w+)"/g)) {
      if (m[1]) side = m[1];
      else segments.push(`${side} ${m[2]}`);
    }
    expect(segments).toEqual([
      'client SYN_SENT', 'client ESTABLISHED', 'client FIN_WAIT1', 'client FIN_WAIT2', 'client TIME_WAIT',
      'server SYN_RECV', 'server ESTABLISHED', 'server CLOSE_WAIT', 'server LAST_ACK',
    ]);
  });
});
