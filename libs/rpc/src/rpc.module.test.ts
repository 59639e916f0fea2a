import 'reflect-metadata';
import { createServer, type Server } from 'node:net';
import { create } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import { Inject, Injectable, Module, Scope, type BeforeApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  AgentService,
  GetStatusRequestSchema,
  GetStatusResponseSchema,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from '@tcpstate/proto';
import type { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectServer } from './connect-server.js';
import type { HealthState } from './health.js';
import { ListenError } from './listen-error.js';
import { RpcModule } from './rpc.module.js';
import { RpcService } from './rpc-service.decorator.js';
import { RPC_HEALTH, RPC_METRICS_REGISTRY, RPC_SERVER } from './rpc.tokens.js';
import { FIXED_STATUS } from './test-support/agent-status.js';
import { grpcClient, serverStream, unary } from './test-support/grpc-client.js';

// What happened during shutdown, in order.
const events: string[] = [];

const LISTEN = Symbol('LISTEN');

/** Stands for the app's kernel capture: released after RPC has stopped. */
@Injectable()
class Capture implements BeforeApplicationShutdown {
  readonly hostname = 'host-from-di';

  constructor(@Inject(RPC_SERVER) private readonly server: ConnectServer) {}

  beforeApplicationShutdown(): void {
    events.push(`capture released, rpc server ${this.server.state}`);
  }
}

@RpcService(AgentService)
@Injectable()
class AgentRpc {
  constructor(@Inject(Capture) private readonly capture: Capture) {}

  getStatus() {
    return { ...FIXED_STATUS, hostname: this.capture.hostname };
  }

  async *subscribe(_request: unknown, context: HandlerContext) {
    yield { response: { case: 'heartbeat' as const, value: {} } };
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
    events.push('stream aborted');
    throw context.signal.reason;
  }
}

/** App configuration, as a config module would provide it. */
@Module({
  providers: [{ provide: LISTEN, useFactory: () => listenConfig }],
  exports: [LISTEN],
})
class ConfigModule {}

let listenConfig = { grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } };

@Module({
  imports: [
    RpcModule.forRootAsync({
      imports: [ConfigModule],
      inject: [LISTEN],
      useFactory: (listen: typeof listenConfig) => ({ grpcListen: listen.grpc, httpListen: listen.http, graceMs: 600_000 }),
    }),
  ],
  providers: [Capture, AgentRpc],
})
class AppModule {}

const clients: grpc.Client[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await Promise.all(blockers.splice(0).map((b) => new Promise((resolve) => b.close(resolve))));
  events.length = 0;
  listenConfig = { grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } };
});

describe('RpcModule', () => {
  it('serves @RpcService providers once the app boots, and exposes the server, metrics and health', async () => {
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      const server = app.get<ConnectServer>(RPC_SERVER);
      expect(server.state).toBe('listening');
      expect(app.get<Registry>(RPC_METRICS_REGISTRY)).toBe(server.metrics);
      expect(app.get<HealthState>(RPC_HEALTH)).toBe(server.health);

      const client = grpcClient(server.grpcAddress);
      clients.push(client);
      const status = await unary(client, '/tcpstate.v1.AgentService/GetStatus', GetStatusRequestSchema,
        GetStatusResponseSchema, create(GetStatusRequestSchema));
      expect(status.hostname).toBe('host-from-di');
      await expect(unary(client, '/tcpstate.v1.AgentService/ListConnections', GetStatusRequestSchema,
        GetStatusResponseSchema, create(GetStatusRequestSchema))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    } finally {
      await app.close();
    }
  });

  it('on app.close() stops RPC first (streams aborted, server closed), then the app releases its resources', async () => {
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    const server = app.get<ConnectServer>(RPC_SERVER);
    const client = grpcClient(server.grpcAddress);
    clients.push(client);
    const stream = serverStream(client, '/tcpstate.v1.AgentService/Subscribe', SubscribeRequestSchema,
      SubscribeResponseSchema, create(SubscribeRequestSchema));
    await stream.receivedAtLeast(1);

    await app.close();

    expect(events).toEqual(['stream aborted', 'capture released, rpc server closed']);
    expect((await stream.ended).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('fails to boot with the one-sentence listen error when the port is taken', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    listenConfig = { ...listenConfig, http: { host: '127.0.0.1', port } };
    const failure = await NestFactory.createApplicationContext(AppModule, { logger: false }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ListenError);
    expect((failure as Error).message).toBe(`cannot listen on 127.0.0.1:${port} for HTTP: the address is already in use`);
  });

  it('refuses a request-scoped implementation', async () => {
    @RpcService(AgentService)
    @Injectable({ scope: Scope.REQUEST })
    class PerRequestRpc {}

    @Module({ imports: [RpcModule.forRoot({ grpcListen: listenConfig.grpc, httpListen: listenConfig.http })], providers: [PerRequestRpc] })
    class PerRequestModule {}

    await expect(NestFactory.createApplicationContext(PerRequestModule, { logger: false })).rejects.toHaveProperty(
      'message',
      'PerRequestRpc implements tcpstate.v1.AgentService and must be a singleton provider',
    );
  });
});
