// The demo behind `npm run demo`: the seed's experiment for real. An nginx
// server and a curl client in two namespace hosts, the agent capturing on
// this host, every transition of both sides printed as it happens, including
// TIME_WAIT's end about 60 s later. Ctrl-C removes everything it made.
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { stateName } from '@tcpstate/model';
import { AgentService, Side, type StateChange } from '@tcpstate/proto';
import { createNetwork, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';

const sideName = (s: Side) => (s === Side.CLIENT ? 'client' : s === Side.SERVER ? 'server' : 'unknown');

function line(e: StateChange): string {
  const t = e.time ? timestampDate(e.time).toISOString().slice(11, 23) : '?';
  const took = e.timeInOldState ? ` after ${(Number(e.timeInOldState.seconds) * 1e3 + e.timeInOldState.nanos / 1e6).toFixed(3)} ms` : '';
  return `${t}  #${e.seq}  ${sideName(e.side).padEnd(6)} ${e.localAddress}:${e.localPort} -> ${e.remoteAddress}:${e.remotePort}  ${stateName(e.oldState)} -> ${stateName(e.newState)}${took}  [${e.comm || '-'} ${e.pid || ''}]`;
}

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  try {
    console.log('demo: building two namespace hosts: server 10.77.0.1, client 10.77.0.2');
    const net = createNetwork('demo', 77, 2);
    cleanups.push(() => net.destroy());
    const [server, client] = net.hosts;
    // Port 80 keeps connections alive (the client closes first); port 81
    // closes after each response (the server closes first).
    const nginx = await startNginx(server, [{ listen: [`${server.ipv4}:80`] }, { listen: [`${server.ipv4}:81`], keepaliveTimeout: 0 }]);
    cleanups.push(() => nginx.stop());

    const endpoints = [`${server.ipv4}:80`, `${server.ipv4}:81`];
    const agent: RunningProgram = await startProgram('agent', endpoints.flatMap((e) => ['--server-endpoint', e]), {
      grpcListen: '0.0.0.0:4270',
      httpListen: '0.0.0.0:4271',
    });
    cleanups.push(() => agent.stop());
    console.log(`demo: agent serving gRPC on ${agent.grpcAddress}, HTTP on ${agent.httpAddress}`);

    const agentClient = createClient(AgentService, createGrpcTransport({ baseUrl: `http://127.0.0.1:4270` }));
    const status = await agentClient.getStatus({});
    for (const s of status.strategies) console.log(`demo: ${s.concern} strategy ${s.name}: ${s.active ? 'active' : `refused (${s.refusedReason})`}`);

    const stream = agentClient.subscribe({ include: [{ serverEndpoint: endpoints }] }, { signal: stop.signal });
    void (async () => {
      for await (const r of stream) {
        if (r.response.case === 'event') console.log(line(r.response.value));
        else if (r.response.case === 'gap') console.log(`gap: ${r.response.value.count} events lost (${r.response.value.message})`);
      }
    })().catch((err) => {
      if (!stop.signal.aborted) throw err;
    });

    await new Promise((r) => setTimeout(r, 500));
    console.log(`\ndemo: curl http://${server.ipv4}:80/  (keep-alive: the client closes first, so the client goes through TIME_WAIT)`);
    client.exec('curl', ['-s', '-o', '/dev/null', `http://${server.ipv4}:80/`]);
    await new Promise((r) => setTimeout(r, 1500));
    console.log(`\ndemo: curl http://${server.ipv4}:81/  (the server closes first, so the server goes through TIME_WAIT)`);
    client.exec('curl', ['-s', '-o', '/dev/null', `http://${server.ipv4}:81/`]);
    await new Promise((r) => setTimeout(r, 1500));
    console.log(`
demo: TIME_WAIT ends about 60 s after it began; its exit will appear above.
demo: meanwhile, from another shell:
  npx buf curl --protocol grpc --http2-prior-knowledge --list-methods http://127.0.0.1:4270
  npx buf curl --protocol grpc --http2-prior-knowledge -d '{"include":[{"serverEndpoint":["${server.ipv4}:80"]}]}' http://127.0.0.1:4270/tcpstate.v1.AgentService/Subscribe
  grpcurl -plaintext -d '{"include":[{"newState":["TCP_STATE_TIME_WAIT"]}]}' 127.0.0.1:4270 tcpstate.v1.AgentService/Subscribe
  sudo ip netns exec ${client.name} curl http://${server.ipv4}:80/
Press Ctrl-C to stop and remove the namespace hosts.`);
    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve()));
  } finally {
    console.log('\ndemo: cleaning up');
    await cleanup();
  }
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`);
  process.exit(1);
});
