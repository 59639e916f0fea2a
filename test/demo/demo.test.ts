// `npm run demo` end to end, as a user runs it (with --once so it stops after
// the picture): namespace hosts, nginx and curl, an agent per host, the
// collector; the printed timelines must pair both sides of both connections
// with the seed's exact state sequences, and the plot must be written.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBin, repoRoot, run } from '@tcpstate/testbed';
import { afterAll, expect, it } from 'vitest';

const outDir = mkdtempSync(join(tmpdir(), 'tcpstate-demo-test-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** The printed timeline of each connection: its server port and the states of each side, in order. */
function timelines(output: string): { port: number; client: string[]; server: string[] }[] {
  const text = output.slice(output.indexOf('$ tcpstate timeline'), output.indexOf('demo: the picture'));
  return text
    .split(/\n(?=\S+:\d+ → )/)
    .filter((block) => / → /.test(block))
    .map((block) => {
      const port = Number(/ → [\d.]+:(\d+)/.exec(block)![1]);
      const sides: Record<string, string[]> = { client: [], server: [] };
      let side = '';
      for (const line of block.split('\n')) {
        const header = /^ {2}(client|server) /.exec(line);
        if (header) side = header[1];
        else if (side && /^ +(0|\+\S+) +[A-Z_0-9]+ /.test(line)) sides[side].push(line.trim().split(/ +/)[1]);
      }
      return { port, client: sides.client, server: sides.server };
    });
}

/** The live lines (tcpstate watch) per host and server port: "OLD -> NEW" in the order printed. */
function liveTransitions(output: string): Record<string, string[]> {
  const byKey: Record<string, string[]> = {};
  const line = /^\d\d:\d\d:\d\d\.\d+ {2}(\S+) +(client|server) +\S+:(\d+) > \S+:(\d+) +(\S+) -> (\S+)/gm;
  for (const [, host, side, localPort, remotePort, from, to] of output.matchAll(line)) {
    (byKey[`${host}:${side === 'server' ? localPort : remotePort}`] ??= []).push(`${from} -> ${to}`);
  }
  return byKey;
}

it('prints both sides of a client-closes-first and a server-closes-first connection, paired, and writes the plot', async () => {
  const { code, stdout, stderr } = await run(nodeBin, [`${repoRoot}apps/demo/dist/main.js`, '--once', `--out=${outDir}`], { timeoutMs: 110_000 });
  expect(stderr, stdout).toBe('');
  expect(code, stdout).toBe(0);
  expect(stdout).toContain('time_wait strategy timer: active');
  expect(liveTransitions(stdout)).toEqual({
    'client-host:80': ['CLOSE -> SYN_SENT', 'SYN_SENT -> ESTABLISHED', 'ESTABLISHED -> FIN_WAIT1', 'FIN_WAIT1 -> FIN_WAIT2', 'FIN_WAIT2 -> TIME_WAIT'],
    'server-host:80': ['LISTEN -> SYN_RECV', 'SYN_RECV -> ESTABLISHED', 'ESTABLISHED -> CLOSE_WAIT', 'CLOSE_WAIT -> LAST_ACK', 'LAST_ACK -> CLOSE'],
    'client-host:81': ['CLOSE -> SYN_SENT', 'SYN_SENT -> ESTABLISHED', 'ESTABLISHED -> CLOSE_WAIT', 'CLOSE_WAIT -> LAST_ACK', 'LAST_ACK -> CLOSE'],
    'server-host:81': ['LISTEN -> SYN_RECV', 'SYN_RECV -> ESTABLISHED', 'ESTABLISHED -> FIN_WAIT1', 'FIN_WAIT1 -> FIN_WAIT2', 'FIN_WAIT2 -> TIME_WAIT'],
  });
  expect(timelines(stdout)).toEqual([
    {
      port: 80,
      client: ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT'],
      server: ['SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK'],
    },
    {
      port: 81,
      client: ['SYN_SENT', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK'],
      server: ['SYN_RECV', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT'],
    },
  ]);
  const svg = readFileSync(join(outDir, 'timeline.svg'), 'utf8');
  expect(svg.match(/class="lane"/g)).toHaveLength(2);
  expect(existsSync(join(outDir, 'timeline.png')) && statSync(join(outDir, 'timeline.png')).size).toBeGreaterThan(10_000);
  // Everything it made is gone again.
  const { stdout: namespaces } = await run('ip', ['netns', 'list']);
  expect(namespaces).not.toContain('ts-demo-');
});
