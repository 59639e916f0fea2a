import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { healthV1 } from '@tcpstate/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthState, ServingStatus } from './health.js';
import { fixedAgentService } from './test-support/agent-status.js';
import { grpcClient, serverStream, unary } from './test-support/grpc-client.js';
import { TestServers } from './test-support/servers.js';

const { HealthCheckRequestSchema, HealthCheckResponseSchema } = healthV1;
const servers = new TestServers();
const clients: grpc.Client[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await servers.closeAll();
});

async function startWithClient() {
  const server = await servers.start([fixedAgentService()]);
  const client = grpcClient(server.grpcAddress);
  clients.push(client);
  return { server, client };
}

const check = (client: grpc.Client, service: string) =>
  unary(client, '/grpc.health.v1.Health/Check', HealthCheckRequestSchema, HealthCheckResponseSchema,
    create(HealthCheckRequestSchema, { service }));

const watch = (client: grpc.Client, service: string) =>
  serverStream(client, '/grpc.health.v1.Health/Watch', HealthCheckRequestSchema, HealthCheckResponseSchema,
    create(HealthCheckRequestSchema, { service }));

describe('grpc.health.v1 through grpc-js', () => {
  it('reports the server and each registered service SERVING, and NOT_FOUND for others', async () => {
    const { client } = await startWithClient();
    expect((await check(client, '')).status).toBe(ServingStatus.SERVING);
    expect((await check(client, 'tcpstate.v1.AgentService')).status).toBe(ServingStatus.SERVING);
    await expect(check(client, 'tcpstate.v1.Nope')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'unknown service "tcpstate.v1.Nope"',
    });
  });

  it('lets the app change a status, and Watch sees it', async () => {
    const { server, client } = await startWithClient();
    const stream = watch(client, 'tcpstate.v1.Later');
    await stream.receivedAtLeast(1);
    server.health.set('tcpstate.v1.Later', ServingStatus.NOT_SERVING);
    server.health.set('tcpstate.v1.Later', ServingStatus.SERVING);
    await stream.receivedAtLeast(3);
    expect(stream.received.map((r) => r.status)).toEqual([
      ServingStatus.SERVICE_UNKNOWN,
      ServingStatus.NOT_SERVING,
      ServingStatus.SERVING,
    ]);
    expect((await check(client, 'tcpstate.v1.Later')).status).toBe(ServingStatus.SERVING);
    stream.call.cancel();
  });

  it('turns NOT_SERVING when close begins: watchers see it, then new calls are refused', async () => {
    const { server, client } = await startWithClient();
    const overall = watch(client, '');
    const agent = watch(client, 'tcpstate.v1.AgentService');
    await Promise.all([overall.receivedAtLeast(1), agent.receivedAtLeast(1)]);

    await server.close(60_000);

    for (const stream of [overall, agent]) {
      expect(stream.received.map((r) => r.status)).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      expect((await stream.ended).code).toBe(grpc.status.OK);
    }
    expect(server.health.get('')).toBe(ServingStatus.NOT_SERVING);
    await expect(check(client, '')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});

describe('HealthState', () => {
  it('stays NOT_SERVING after shutdown whatever the app sets', () => {
    const state = new HealthState();
    state.set('', ServingStatus.SERVING);
    state.set('a', ServingStatus.SERVING);
    state.shutdown();
    state.set('a', ServingStatus.SERVING);
    expect([state.get(''), state.get('a'), state.shuttingDown]).toEqual([
      ServingStatus.NOT_SERVING,
      ServingStatus.NOT_SERVING,
      true,
    ]);
  });

  it('delivers changes made before the abort, then ends', async () => {
    const state = new HealthState();
    state.set('', ServingStatus.SERVING);
    const abort = new AbortController();
    const seen: ServingStatus[] = [];
    const watching = (async () => {
      for await (const status of state.watch('', abort.signal)) {
        seen.push(status);
        if (seen.length === 1) {
          state.shutdown();
          abort.abort();
        }
      }
    })();
    await watching;
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  });
});
