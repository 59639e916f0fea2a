import http from 'node:http';
import { createServer, type Server } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type HandlerContext } from '@connectrpc/connect';
import { compressionGzip, createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import {
  AgentService,
  GetStatusRequestSchema,
  GetStatusResponseSchema,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from '@tcpstate/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectServer, serviceRegistration } from './connect-server.js';
import { ListenError, toListenError } from './listen-error.js';
import { formatListenAddress } from './listen-address.js';
import { fixedAgentService, FIXED_STATUS } from './test-support/agent-status.js';
import { grpcClient, serverStream, unary } from './test-support/grpc-client.js';
import { httpBase, TestServers } from './test-support/servers.js';

const servers = new TestServers();
const clients: grpc.Client[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await servers.closeAll();
  await Promise.all(blockers.splice(0).map((b) => new Promise((resolve) => b.close(resolve))));
});

function client(server: ConnectServer): grpc.Client {
  const c = grpcClient(server.grpcAddress);
  clients.push(c);
  return c;
}

/** A port something else already listens on. */
async function occupiedPort(): Promise<number> {
  const blocker = createServer();
  blockers.push(blocker);
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  return (blocker.address() as { port: number }).port;
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function unlistened(grpcPort: number, httpPort: number, host = '127.0.0.1') {
  return new ConnectServer([fixedAgentService()], {
    grpcListen: { host, port: grpcPort },
    httpListen: { host: '127.0.0.1', port: httpPort },
  });
}

/** Resolves when the next call of the returned hook happens. */
function signalled<T>() {
  let fire!: (value: T) => void;
  const fired = new Promise<T>((resolve) => (fire = resolve));
  return { fire, fired };
}

/** POSTs JSON over a keep-alive connection; the answer with its Connection header. */
function postJson(url: string, body: string): Promise<{ status?: number; connection?: string; body: unknown }> {
  const agent = new http.Agent({ keepAlive: true });
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          connection: res.headers.connection,
          body: JSON.parse(Buffer.concat(chunks).toString()),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const getStatusOf = (c: grpc.Client) =>
  unary(c, '/tcpstate.v1.AgentService/GetStatus', GetStatusRequestSchema, GetStatusResponseSchema,
    create(GetStatusRequestSchema));

describe('listen()', () => {
  it('binds both ports, port 0 giving real ports', async () => {
    const server = await servers.start([fixedAgentService()]);
    expect(server.state).toBe('listening');
    expect(server.grpcAddress.host).toBe('127.0.0.1');
    expect(server.grpcAddress.port).toBeGreaterThan(0);
    expect(server.httpAddress.port).toBeGreaterThan(0);
    expect(server.httpAddress.port).not.toBe(server.grpcAddress.port);
    expect(await getStatusOf(client(server))).toEqual(FIXED_STATUS);
  });

  it('says in one sentence that the gRPC address is in use', async () => {
    const port = await occupiedPort();
    const server = unlistened(port, 0);
    const error = await server.listen().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ListenError);
    expect((error as ListenError).message).toBe(`cannot listen on 127.0.0.1:${port} for gRPC: the address is already in use`);
    expect([(error as ListenError).code, (error as ListenError).listener]).toEqual(['EADDRINUSE', 'gRPC']);
    expect(server.state).toBe('closed');
  });

  it('says the HTTP address is in use, and releases the gRPC port it had bound', async () => {
    const grpcPort = await freePort();
    const httpPort = await occupiedPort();
    await expect(unlistened(grpcPort, httpPort).listen()).rejects.toHaveProperty('message', `cannot listen on 127.0.0.1:${httpPort} for HTTP: the address is already in use`);
    const again = createServer();
    blockers.push(again);
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(grpcPort, '127.0.0.1', resolve);
    });
  });

  it('names an address that is not this host\'s', async () => {
    await expect(unlistened(0, 0, '192.0.2.1').listen()).rejects.toHaveProperty('message', 'cannot listen on 192.0.2.1:0 for gRPC: the address does not belong to this host');
  });

  it('names a port out of range', async () => {
    await expect(unlistened(70000, 0).listen()).rejects.toHaveProperty('message', 'cannot listen on 127.0.0.1:70000 for gRPC: the port is not a number between 0 and 65535');
  });

  it('explains permission and name errors, and brackets IPv6 addresses', () => {
    const eacces = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), { code: 'EACCES' });
    expect(toListenError('gRPC', { host: '0.0.0.0', port: 80 }, eacces).message).toBe(
      'cannot listen on 0.0.0.0:80 for gRPC: permission denied (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability)',
    );
    const enotfound = Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), { code: 'ENOTFOUND' });
    expect(toListenError('HTTP', { host: 'nohost', port: 1 }, enotfound).message).toBe(
      'cannot listen on nohost:1 for HTTP: the host name does not resolve',
    );
    const odd = Object.assign(new Error('something odd'), { code: 'EODD' });
    expect(toListenError('HTTP', { host: '::', port: 4271 }, odd).message).toBe(
      'cannot listen on [::]:4271 for HTTP: something odd (EODD)',
    );
    expect(formatListenAddress({ host: 'fd00::1', port: 443 })).toBe('[fd00::1]:443');
  });

  it('listens once, and takes services only before', async () => {
    const server = await servers.start([fixedAgentService()]);
    await expect(server.listen()).rejects.toThrow('cannot listen: the server is already listening');
    expect(() => server.addService(fixedAgentService())).toThrow(
      'cannot add tcpstate.v1.AgentService: the server is already listening',
    );
  });

  it('refuses a service registered twice, built-in ones included', async () => {
    const { healthV1 } = await import('@tcpstate/proto');
    expect(() => unlistened(0, 0).addService(fixedAgentService())).toThrow(
      'service tcpstate.v1.AgentService is registered twice',
    );
    expect(() => unlistened(0, 0).addService(serviceRegistration(healthV1.Health, {}))).toThrow(
      'service grpc.health.v1.Health is registered twice',
    );
  });
});

describe('compression', () => {
  // A response larger than Connect's 1 KiB threshold, and a client that accepts gzip (as grpc-js does unasked).
  const largeStatus = serviceRegistration(AgentService, { getStatus: () => create(GetStatusResponseSchema, { hostname: 'h'.repeat(4096) }) });
  const encodingOf = async (server: ConnectServer) => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcAddress.port}`, acceptCompression: [compressionGzip] });
    let encoding: string | null = 'no header';
    const status = await createClient(AgentService, transport).getStatus({}, { onHeader: (h) => (encoding = h.get('grpc-encoding')) });
    expect(status.hostname).toBe('h'.repeat(4096));
    return encoding;
  };

  it('gzips responses for clients that accept it, unless turned off', async () => {
    expect(await encodingOf(await servers.start([largeStatus]))).toBe('gzip');
    expect(await encodingOf(await servers.start([largeStatus], { compression: false }))).toBeNull();
  });
});

describe('close()', () => {
  it('aborts open server streams, whose handlers see their signal fire, and resolves', async () => {
    const aborted = signalled<unknown>();
    const server = await servers.start([
      serviceRegistration(AgentService, {
        async *subscribe(_request, context: HandlerContext) {
          yield { response: { case: 'heartbeat', value: {} } };
          await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
          aborted.fire(context.signal.reason);
          throw context.signal.reason;
        },
      }),
    ]);
    const stream = serverStream(client(server), '/tcpstate.v1.AgentService/Subscribe', SubscribeRequestSchema,
      SubscribeResponseSchema, create(SubscribeRequestSchema));
    await stream.receivedAtLeast(1);

    // A grace far beyond the test timeout: close() must not wait for it.
    await server.close(600_000);

    const reason = await aborted.fired;
    expect(reason).toBeInstanceOf(ConnectError);
    expect((reason as ConnectError).code).toBe(Code.Unavailable);
    expect(await stream.ended).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'the server is shutting down' });
    expect(server.state).toBe('closed');
  });

  it('lets unary calls in flight finish (gRPC and HTTP/1.1), refusing new ones', async () => {
    const entered = [signalled<void>(), signalled<void>()];
    const release = signalled<void>();
    const signalsAborted: boolean[] = [];
    let calls = 0;
    const server = await servers.start([
      serviceRegistration(AgentService, {
        async getStatus(_request, context) {
          entered[calls++].fire();
          await release.fired;
          signalsAborted.push(context.signal.aborted);
          return FIXED_STATUS;
        },
      }),
    ]);
    const c = client(server);
    const viaGrpc = getStatusOf(c);
    await entered[0].fired;
    // node:http with a keep-alive agent that never closes idle sockets itself:
    // only the server ending keep-alive lets close() finish before its grace.
    const viaHttp = postJson(`${httpBase(server)}/tcpstate.v1.AgentService/GetStatus`, '{}');
    await entered[1].fired;

    const closed = server.close(600_000);
    expect(server.state).toBe('closing');
    await expect(fetch(`${httpBase(server)}/healthz`)).rejects.toThrow('fetch failed');

    release.fire();
    expect(await viaGrpc).toEqual(FIXED_STATUS);
    expect(await viaHttp).toEqual({
      status: 200,
      connection: 'close',
      body: { agentId: 'agent-under-test', hostname: 'test-host', nodeVersion: 'v24' },
    });
    await closed;
    expect(signalsAborted).toEqual([false, false]);
    expect(server.state).toBe('closed');
  });

  it('cuts what is still running when the grace period ends, aborting unary handlers too', async () => {
    const entered = signalled<void>();
    const aborted = signalled<unknown>();
    const server = await servers.start([
      serviceRegistration(AgentService, {
        async getStatus(_request, context) {
          entered.fire();
          await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
          aborted.fire(context.signal.reason);
          return FIXED_STATUS;
        },
        // A stream that ignores its signal: only cutting the connection ends it.
        async *subscribe() {
          yield { response: { case: 'heartbeat', value: {} } };
          await new Promise(() => undefined);
        },
      }),
    ]);
    const c = client(server);
    const call = getStatusOf(c);
    call.catch(() => undefined);
    await entered.fired;
    const stream = serverStream(c, '/tcpstate.v1.AgentService/Subscribe', SubscribeRequestSchema,
      SubscribeResponseSchema, create(SubscribeRequestSchema));
    await stream.receivedAtLeast(1);

    await server.close(50);

    expect(((await aborted.fired) as ConnectError).code).toBe(Code.Unavailable);
    await expect(call).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((await stream.ended).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('is idempotent, and closes a server that never listened', async () => {
    const server = await servers.start([fixedAgentService()]);
    const first = server.close(0);
    expect(server.close(0)).toBe(first);
    await first;

    const idle = unlistened(0, 0);
    await idle.close();
    expect(idle.state).toBe('closed');
    await expect(idle.listen()).rejects.toThrow('cannot listen: the server is already closed');
  });
});
