// The demo behind `npm run demo`: the seed's experiment for real, end to end.
// Two namespace hosts, nginx serving in one and curl in the other, an agent
// inside each host, the collector in the root namespace subscribed to both.
// It prints every transition of both sides live (through `tcpstate watch`),
// then the paired timelines (`tcpstate timeline`), writes the picture
// (`tcpstate plot`) and leaves the collector's web page running until Ctrl-C,
// which removes everything it made. `--once` stops after the picture.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { AgentService, CollectorService, HostState, Side, TcpState } from '@tcpstate/proto';
import { createRootedNetwork, nodeBin, repoRoot, run, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';

const AGENT_PORT = 4270;
const COLLECTOR_GRPC = '0.0.0.0:4280';
const COLLECTOR_HTTP = '0.0.0.0:4281';
const COLLECTOR = '127.0.0.1:4280';
const cliScript = `${repoRoot}apps/cli/dist/main.js`;

const say = (text: string) => console.log(`\ndemo: ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `tcpstate ARGS` to completion and prints what it printed. */
async function tcpstate(args: string[]): Promise<void> {
  console.log(`$ tcpstate ${args.join(' ')}`);
  const { code, stdout, stderr } = await run(nodeBin, [cliScript, ...args]);
  process.stdout.write(stdout + stderr);
  if (code !== 0) throw new Error(`tcpstate ${args[0]} exited with ${code}`);
}

/** Polls `check` every 200 ms until it returns true, or fails after `timeoutMs` saying what it waited for. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

async function main(args: string[]): Promise<void> {
  const once = args.includes('--once');
  const outDir = resolve(args.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? 'demo-output');
  const unknown = args.filter((a) => a !== '--once' && !a.startsWith('--out='));
  if (unknown.length > 0) {
    console.error(`demo: unknown argument ${unknown[0]}; usage: npm run demo [-- --once] [-- --out=DIR]`);
    process.exit(2);
  }

  const cleanups: (() => unknown)[] = [];
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  try {
    say('building two namespace hosts on a switch: server 10.77.0.1, client 10.77.0.2 (this host: 10.77.0.254)');
    const net = createRootedNetwork('demo', 77, 2);
    cleanups.push(() => net.destroy());
    const [server, client] = net.hosts;
    // Port 80 keeps connections alive (the client closes first); port 81
    // closes after each response and its body ends with the close, so the
    // server closes first.
    const nginx = await startNginx(server, [{ listen: [`${server.ipv4}:80`] }, { listen: [`${server.ipv4}:81`], keepaliveTimeout: 0, bodyEndsAtClose: true }]);
    cleanups.push(() => nginx.stop());
    const endpoints = [`${server.ipv4}:80`, `${server.ipv4}:81`];

    const agents: RunningProgram[] = [];
    for (const [host, id] of [
      [server, 'server-host'],
      [client, 'client-host'],
    ] as const) {
      const agent = await startProgram('agent', ['--agent-id', id, '--hostname', id, '--netns', String(host.inode), ...endpoints.flatMap((e) => ['--server-endpoint', e])], {
        netns: host.name,
        grpcListen: `${host.ipv4}:${AGENT_PORT}`,
        httpListen: `${host.ipv4}:${AGENT_PORT + 1}`,
      });
      cleanups.push(() => agent.stop());
      agents.push(agent);
      console.log(`demo: agent "${id}" inside ${host.name}, capturing only that host, serving gRPC on ${agent.grpcAddress}`);
    }
    const status = await createClient(AgentService, createGrpcTransport({ baseUrl: `http://${server.ipv4}:${AGENT_PORT}` })).getStatus({});
    for (const s of status.strategies) console.log(`demo: ${s.concern} strategy ${s.name}: ${s.active ? 'active' : `refused (${s.refusedReason})`}`);

    const dataDir = mkdtempSync(join(tmpdir(), 'tcpstate-demo-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const collector = await startProgram('collector', ['--store', dataDir, ...agents.map((a) => ['--agent', a.grpcAddress]).flat()], {
      grpcListen: COLLECTOR_GRPC,
      httpListen: COLLECTOR_HTTP,
    });
    cleanups.push(() => collector.stop());
    console.log(`demo: collector (SQLite in ${dataDir}) serving gRPC on ${collector.grpcAddress}, HTTP on ${collector.httpAddress}`);
    const collectorClient = createClient(CollectorService, createGrpcTransport({ baseUrl: `http://${COLLECTOR}` }));
    await until('the collector to subscribe to both agents', async () => {
      const { hosts } = await collectorClient.listHosts({});
      return hosts.length === 2 && hosts.every((h) => h.state === HostState.CONNECTED);
    });

    say('live transitions of both sides, from the collector (the same as: tcpstate watch --collector 127.0.0.1:4280)');
    const watch: ChildProcess = spawn(nodeBin, [cliScript, 'watch', '--collector', COLLECTOR, ...endpoints.flatMap((e) => ['--server-endpoint', e])], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    cleanups.push(() => watch.kill('SIGINT'));
    await until('tcpstate watch to subscribe', async () => {
      const metrics = await fetch(`http://127.0.0.1:4281/metrics`).then((r) => r.text());
      return /^tcpstate_collector_watch_streams [1-9]/m.test(metrics);
    });

    say(`curl http://${server.ipv4}:80/  (keep-alive: the client closes first, so the client goes through TIME_WAIT)`);
    await client.run('curl', ['-s', '-o', '/dev/null', `http://${server.ipv4}:80/`]);
    await sleep(1500);
    say(`curl http://${server.ipv4}:81/  (the server closes first, so the server goes through TIME_WAIT)`);
    await client.run('curl', ['-s', '-o', '/dev/null', `http://${server.ipv4}:81/`]);

    // Both connections stored, both sides paired and each side finished
    // (closed, or in TIME_WAIT), before the timelines are asked for.
    await until('the collector to store both connections, both sides', async () => {
      const { connections } = await collectorClient.queryTimeline({ include: [{ serverEndpoint: endpoints }] });
      const finished = connections.filter((c) => !c.open || c.segments.at(-1)?.state === TcpState.TIME_WAIT);
      return finished.length === 4 && finished.every((c) => c.peer !== undefined && c.side !== Side.UNSPECIFIED);
    });

    say('the paired timelines, client above server (TIME_WAIT is still open: it ends about 60 s after it began)');
    await tcpstate(['timeline', '--collector', COLLECTOR, '--since', '5m', ...endpoints.flatMap((e) => ['--server-endpoint', e])]);

    say(`the picture, as SVG and PNG in ${outDir}`);
    mkdirSync(outDir, { recursive: true });
    for (const ext of ['svg', 'png']) {
      await tcpstate(['plot', '--collector', COLLECTOR, '--since', '5m', '--out', join(outDir, `timeline.${ext}`), ...endpoints.flatMap((e) => ['--server-endpoint', e])]);
    }
    if (once) return;

    say(`the timeline page: http://127.0.0.1:4281/ (or this machine's address, port 4281); its live mode follows new connections.
demo: TIME_WAIT's end will appear above when it ends, about 60 s after it began.
demo: meanwhile, from another shell:
  npx tcpstate timeline --collector 127.0.0.1:4280 --since 10m
  npx tcpstate status --agent ${server.ipv4}:${AGENT_PORT}
  npx buf curl --protocol grpc --http2-prior-knowledge --list-methods http://127.0.0.1:4280
  grpcurl -plaintext -d '{}' 127.0.0.1:4280 tcpstate.v1.CollectorService/QueryTimeline
  grpcurl -plaintext -d '{"include":[{"newState":["TCP_STATE_TIME_WAIT"]}]}' ${server.ipv4}:${AGENT_PORT} tcpstate.v1.AgentService/Subscribe
  ip netns exec ${client.name} curl http://${server.ipv4}:80/
Press Ctrl-C to stop and remove the namespace hosts, nginx, the agents and the collector.`);
    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve()));
  } finally {
    say('cleaning up');
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (error) {
        console.error(`demo: clean-up step failed: ${(error as Error).message}`);
      }
    }
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`demo: ${(error as Error).message}`);
    process.exit(1);
  },
);
