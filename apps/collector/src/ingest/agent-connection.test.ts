import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { parseOptions } from '@tcpstate/config';
import { create, equals } from '@bufbuild/protobuf';
import { AgentService, GapReason, StateChangeSchema, type SubscribeResponse, SubscribeResponseSchema } from '@tcpstate/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectorOptionSpecs } from '../collector-options.js';
import { AgentConnection, SubscribeWireService } from './agent-connection.js';

// A real gRPC server whose GetStatus answers with the compressions the caller accepts (and the response is then
// gzipped by Connect when gzip is among them and the answer is large enough).
let server: Http2Server;

const change = (seq: bigint) =>
  create(StateChangeSchema, {
    agentId: 'a', bootId: 'b', seq, time: { seconds: 1_795_762_230n, nanos: 5 }, cookie: 77n, family: 2, localAddress: '10.0.0.1',
    localPort: 80, remoteAddress: '10.0.0.2', remotePort: 40_000, oldState: 1, newState: 4, side: 2, timeInOldState: { nanos: 3000 }, comm: 'nginx',
  });
/** One response of each kind, as an agent sends them. */
const SENT: SubscribeResponse[] = [
  create(SubscribeResponseSchema, { response: { case: 'events', value: { events: [change(1n), change(2n), change(3n)] } } }),
  create(SubscribeResponseSchema, { response: { case: 'gap', value: { reason: GapReason.KERNEL, count: 4n, firstSeq: 4n, lastSeq: 7n } } }),
  create(SubscribeResponseSchema, { response: { case: 'event', value: change(8n) } }),
  create(SubscribeResponseSchema, { response: { case: 'heartbeat', value: { bootId: 'b', lastSeq: 8n } } }),
];
let address: string;

beforeAll(async () => {
  const routes = (router: ConnectRouter) =>
    router.service(AgentService, {
      getStatus: (_request, context) => ({ agentId: 'a', hostname: context.requestHeader.get('grpc-accept-encoding') ?? '(none)', bootId: 'x'.repeat(4096) }),
      async *subscribe() {
        yield* SENT;
      },
    } as never);
  server = createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('AgentConnection', () => {
  it('asks agents for uncompressed streams by default', async () => {
    const connection = new AgentConnection(address, undefined, undefined, 5000);
    try {
      const headers: Headers[] = [];
      const status = await connection.client.getStatus({}, { onHeader: (h) => headers.push(h) });
      expect(status.hostname).toBe('(none)');
      expect(headers[0].get('grpc-encoding')).toBeNull();
    } finally {
      connection.close();
    }
  });

  it('asks for gzip with --agent-compression gzip, and the agent then gzips', async () => {
    const connection = new AgentConnection(address, undefined, undefined, 5000, true);
    try {
      const headers: Headers[] = [];
      const status = await connection.client.getStatus({}, { onHeader: (h) => headers.push(h) });
      expect(status.hostname).toBe('gzip');
      expect(headers[0].get('grpc-encoding')).toBe('gzip');
      expect(status.bootId).toBe('x'.repeat(4096));
    } finally {
      connection.close();
    }
  });
});

describe('AgentConnection.subscribe', () => {
  it('gives the responses an agent sends, events decoded by the collector\'s own decoder', async () => {
    const connection = new AgentConnection(address, undefined, undefined, 5000);
    try {
      const received: SubscribeResponse[] = [];
      for await (const r of connection.subscribe({})) received.push(r);
      expect(received.length).toBe(SENT.length);
      received.forEach((r, i) => expect(equals(SubscribeResponseSchema, r, SENT[i])).toBe(true));
    } finally {
      connection.close();
    }
  });
});

describe('AgentConnection.subscribe, events that cannot be decoded', () => {
  it('fails the stream with an error that says so, as last_error will', async () => {
    // A server that sends bytes no StateChange decodes (a length running past the end), through the wire view.
    const routes = (router: ConnectRouter) =>
      router.service(SubscribeWireService as never, {
        async *subscribe() {
          yield { response: { case: 'events', value: new Uint8Array([0x0a, 0x05, 0x22, 0x80]) } };
        },
      } as never);
    const broken = createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const connection = new AgentConnection(`127.0.0.1:${(broken.address() as AddressInfo).port}`, undefined, undefined, 5000);
    try {
      const read = async () => {
        for await (const _ of connection.subscribe({})) void _;
      };
      await expect(read()).rejects.toThrow('the agent sent events this collector cannot decode (premature EOF, 4 bytes)');
    } finally {
      connection.close();
      await new Promise<void>((resolve) => broken.close(() => resolve()));
    }
  });
});

describe('--agent-compression', () => {
  const parse = (argv: string[]) => parseOptions(collectorOptionSpecs, argv, {});
  it('is none unless gzip is asked for, and names what it takes when given something else', () => {
    expect(parse([]).values.agentCompression).toBe('none');
    expect(parse(['--agent-compression', 'GZIP']).values.agentCompression).toBe('gzip');
    expect(() => parse(['--agent-compression', 'zstd'])).toThrow(
      '--agent-compression: "zstd" is not a compression (none or gzip)',
    );
  });
});
