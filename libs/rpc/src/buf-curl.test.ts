// buf curl (a Go client, from node_modules) against a real server: reflection
// is what lets it work with no proto files.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectServer } from './connect-server.js';
import { fixedAgentService } from './test-support/agent-status.js';
import { TestServers } from './test-support/servers.js';

const buf = fileURLToPath(new URL('../../../node_modules/.bin/buf', import.meta.url));
// The server runs in this process: buf must run asynchronously.
const run = promisify(execFile);

const servers = new TestServers();
let server: ConnectServer;
let base: string;

beforeAll(async () => {
  server = await servers.start([fixedAgentService()]);
  base = `http://127.0.0.1:${server.grpcAddress.port}`;
});
afterAll(() => servers.closeAll());

describe.each(['grpc-v1', 'grpc-v1alpha'])('buf curl with reflection protocol %s', (reflectProtocol) => {
  const curl = (...args: string[]) =>
    run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--reflect-protocol', reflectProtocol, ...args]);

  it('lists every method (sorted, as buf prints them)', async () => {
    const { stdout } = await curl('--list-methods', base);
    expect(stdout.trim().split('\n')).toEqual([
      'grpc.health.v1.Health/Check',
      'grpc.health.v1.Health/Watch',
      'grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      'grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
      'tcpstate.v1.AgentService/GetStatus',
      'tcpstate.v1.AgentService/ListConnections',
      'tcpstate.v1.AgentService/Subscribe',
    ]);
  });

  it('calls GetStatus', async () => {
    const { stdout } = await curl('-d', '{}', `${base}/tcpstate.v1.AgentService/GetStatus`);
    expect(JSON.parse(stdout)).toEqual({ agentId: 'agent-under-test', hostname: 'test-host', nodeVersion: 'v24' });
  });

  it('reports UNIMPLEMENTED for a method the service left out', async () => {
    const failure = await curl('-d', '{}', `${base}/tcpstate.v1.AgentService/ListConnections`).catch((e) => e);
    expect(failure.code).not.toBe(0);
    expect(JSON.parse(failure.stderr)).toEqual({
      code: 'unimplemented',
      message: 'tcpstate.v1.AgentService.ListConnections is not implemented',
    });
  });
});
