// The programs as a user starts them: --help, bad options, a port in use,
// and a graceful stop on SIGTERM/SIGINT. One clear line, never a stack trace.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeBin, repoRoot, run, startProgram } from '@tcpstate/testbed';

const main = (app: string) => `${repoRoot}apps/${app}/dist/main.js`;
const bin = (app: string, name: string) => `${repoRoot}apps/${app}/bin/${name}`;

// Started without side effects: the agent without kernel capture, the
// collector with its data in a temp dir rather than ./tcpstate-data here.
const dataDir = mkdtempSync(join(tmpdir(), 'tcpstate-programs-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const quiet = (app: string) => (app === 'agent' ? ['--no-capture'] : ['--store', dataDir]);

describe.each([
  ['agent', 'tcpstate-agent', '4270', '4271'],
  ['collector', 'tcpstate-collector', '4280', '4281'],
])('%s', (app, name, grpcPort, httpPort) => {
  it('documents every option in --help, with defaults and variables', async () => {
    const r = await run(bin(app, name), ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: ${name} [options]`);
    expect(r.stdout).toContain(`--grpc-listen HOST:PORT`);
    expect(r.stdout).toContain(`default 0.0.0.0:${grpcPort}; env TCPSTATE_GRPC_LISTEN`);
    expect(r.stdout).toContain(`default 0.0.0.0:${httpPort}; env TCPSTATE_HTTP_LISTEN`);
  });

  it('rejects bad options with one line each and exit 2', async () => {
    const r = await run(nodeBin, [main(app), '--grpc-listen', '1.2.3.4:99999', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `${name}: unknown option --frobnicate`,
      `${name}: --grpc-listen: "1.2.3.4:99999": port 99999 is outside 0-65535`,
      `Run '${name} --help' for the options.`,
    ]);
    expect(r.stdout).toBe('');
  });

  it('reads TCPSTATE_* variables', async () => {
    const r = await run(nodeBin, [main(app)], { env: { TCPSTATE_HTTP_LISTEN: 'nope' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${name}: TCPSTATE_HTTP_LISTEN: "nope" is not a listen address`);
  });

  it('says in one line that a port is in use, exit 1', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(nodeBin, [main(app), '--grpc-listen', `127.0.0.1:${port}`, '--http-listen', '127.0.0.1:0', ...quiet(app)]);
      expect(r.code).toBe(1);
      const errors = r.stderr.trim().split('\n').filter((l) => !/\bLOG\b/.test(l));
      expect(errors).toEqual([`${name}: cannot listen on 127.0.0.1:${port} for gRPC: the address is already in use`]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('stops gracefully on %s with exit 0', async (signal) => {
    const p = await startProgram(app as 'agent' | 'collector', quiet(app));
    const code = await p.stop(signal);
    expect(code).toBe(0);
    expect(p.output()).not.toMatch(/\n\s+at /);
  });
});
