import { createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { AgentService, GetStatusRequestSchema, GetStatusResponseSchema, reflectionV1 } from '@tcpstate/proto';
import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedAgentService } from './test-support/agent-status.js';
import { bidiAll, grpcClient, unary } from './test-support/grpc-client.js';
import { httpBase, TestServers } from './test-support/servers.js';

const servers = new TestServers();
afterEach(() => servers.closeAll());

describe('the HTTP/1.1 listener', () => {
  it('answers /healthz with 200 "ok" while serving and 503 once shutdown begins', async () => {
    const server = await servers.start([fixedAgentService()]);
    const before = await fetch(`${httpBase(server)}/healthz`);
    expect([before.status, await before.text()]).toEqual([200, 'ok']);
    server.health.shutdown();
    const after = await fetch(`${httpBase(server)}/healthz`);
    expect([after.status, await after.text()]).toEqual([503, 'shutting down']);
  });

  it('serves Prometheus metrics: process defaults, per-RPC counters by code, and the app\'s own', async () => {
    const server = await servers.start([fixedAgentService()]);
    new Counter({ name: 'app_things_total', help: 'Things the app counted.', registers: [server.metrics] }).inc(3);
    const client = grpcClient(server.grpcAddress);
    try {
      const getStatus = () => unary(client, '/tcpstate.v1.AgentService/GetStatus', GetStatusRequestSchema,
        GetStatusResponseSchema, create(GetStatusRequestSchema));
      await getStatus();
      await getStatus();
      await expect(unary(client, '/tcpstate.v1.AgentService/ListConnections', GetStatusRequestSchema,
        GetStatusResponseSchema, create(GetStatusRequestSchema))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
      await bidiAll(client, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        reflectionV1.ServerReflectionRequestSchema, reflectionV1.ServerReflectionResponseSchema,
        [create(reflectionV1.ServerReflectionRequestSchema, { messageRequest: { case: 'listServices', value: '' } })]);
    } finally {
      client.close();
    }

    const response = await fetch(`${httpBase(server)}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const rpcLines = text.split('\n').filter((l) => l.startsWith('tcpstate_rpc_requests_total{'));
    expect(rpcLines).toEqual([
      'tcpstate_rpc_requests_total{service="tcpstate.v1.AgentService",method="GetStatus",code="OK"} 2',
      'tcpstate_rpc_requests_total{service="tcpstate.v1.AgentService",method="ListConnections",code="UNIMPLEMENTED"} 1',
      'tcpstate_rpc_requests_total{service="grpc.reflection.v1.ServerReflection",method="ServerReflectionInfo",code="OK"} 1',
    ]);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).toMatch(/^app_things_total 3$/m);
  });

  it('serves the Connect protocol with JSON to any origin', async () => {
    const server = await servers.start([fixedAgentService()]);
    const response = await fetch(`${httpBase(server)}/tcpstate.v1.AgentService/GetStatus`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'http://example.test' },
      body: '{}',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(await response.json()).toEqual({ agentId: 'agent-under-test', hostname: 'test-host', nodeVersion: 'v24' });
  });

  it('answers CORS preflights for Connect and gRPC-Web headers', async () => {
    const server = await servers.start([fixedAgentService()]);
    const response = await fetch(`${httpBase(server)}/tcpstate.v1.AgentService/GetStatus`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://example.test',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,connect-protocol-version',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(response.headers.get('access-control-allow-headers')).toContain('Connect-Protocol-Version');
    expect(response.headers.get('access-control-expose-headers')).toContain('Grpc-Status');
  });

  it('serves gRPC-Web over HTTP/1.1', async () => {
    const server = await servers.start([fixedAgentService()]);
    const client = createClient(AgentService, createGrpcWebTransport({ baseUrl: httpBase(server), httpVersion: '1.1' }));
    const status = await client.getStatus({});
    expect([status.agentId, status.hostname]).toEqual(['agent-under-test', 'test-host']);
  });

  it('answers 404 for unknown paths', async () => {
    const server = await servers.start([fixedAgentService()]);
    expect((await fetch(`${httpBase(server)}/nope`)).status).toBe(404);
  });
});
