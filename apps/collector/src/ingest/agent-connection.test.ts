import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { parseOptions } from '@tcpstate/config';
import { AgentService } from '@tcpstate/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectorOptionSpecs } from '../collector-options.js';
import { AgentConnection } from './agent-connection.js';

// A real gRPC server whose GetStatus answers with the compressions the caller accepts (and the response is then
// gzipped by Connect when gzip is among them and the answer is large enough).
let server: Http2Server;
let address: string;

beforeAll(async () => {
  const routes = (router: ConnectRouter) =>
    router.service(AgentService, {
      getStatus: (_request, context) => ({ agentId: 'a', hostname: context.requestHeader.get('grpc-accept-encoding') ?? '(none)', bootId: 'x'.repeat(4096) }),
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
