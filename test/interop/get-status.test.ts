// GetStatus through real third-party gRPC clients against a real agent
// process: @grpc/grpc-js (the reference implementation), a Python client
// generated with protoc + grpc_python_plugin, and buf curl via reflection.
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { GetStatusRequestSchema, GetStatusResponseSchema, type GetStatusResponse } from '@tcpstate/proto';
import { release, hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufBin, run, type RunningProgram, startProgram } from '@tcpstate/testbed';
import { generatePythonClient, pythonClient } from './python-client.js';

let agent: RunningProgram;

beforeAll(async () => {
  agent = await startProgram('agent', ['--agent-id', 'interop-agent', '--no-capture']);
});
afterAll(async () => {
  await agent?.stop();
});

function grpcJsGetStatus(address: string): Promise<GetStatusResponse> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      '/tcpstate.v1.AgentService/GetStatus',
      (req: object) => Buffer.from(toBinary(GetStatusRequestSchema, create(GetStatusRequestSchema, req))),
      (buf: Buffer) => fromBinary(GetStatusResponseSchema, buf),
      {},
      (err, value) => {
        client.close();
        if (err) reject(err);
        else resolve(value!);
      },
    );
  });
}

describe('GetStatus interop', () => {
  it('answers @grpc/grpc-js', async () => {
    const s = await grpcJsGetStatus(agent.grpcAddress);
    expect(s.agentId).toBe('interop-agent');
    expect(s.hostname).toBe(hostname());
    expect(s.kernelRelease).toBe(release());
    expect(s.nodeVersion).toMatch(/^v24\./);
    expect(s.btfAvailable).toBe(true);
    expect(s.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.version).toBe('0.1.0');
  });

  it('answers a Python client generated from proto/', async () => {
    const gen = await generatePythonClient();
    const r = await pythonClient(gen, agent.grpcAddress, 'status');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.agentId).toBe('interop-agent');
    expect(s.kernelRelease).toBe(release());
    expect(s.nodeVersion).toMatch(/^v24\./);
  });

  it('lists its methods and answers buf curl through reflection, without proto files', async () => {
    const list = await run(bufBin, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', `http://${agent.grpcAddress}`]);
    expect(list.stderr).toBe('');
    expect(list.stdout.trim().split('\n').filter((l) => l.startsWith('tcpstate.')).sort()).toEqual([
      'tcpstate.v1.AgentService/GetStatus',
      'tcpstate.v1.AgentService/ListConnections',
      'tcpstate.v1.AgentService/Subscribe',
    ]);
    const call = await run(bufBin, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `http://${agent.grpcAddress}/tcpstate.v1.AgentService/GetStatus`]);
    expect(call.code).toBe(0);
    expect(JSON.parse(call.stdout)).toMatchObject({ agentId: 'interop-agent', kernelRelease: release(), btfAvailable: true });
  });

  it('says why ListConnections cannot answer without kernel capture, and keeps serving', async () => {
    const call = await run(bufBin, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `http://${agent.grpcAddress}/tcpstate.v1.AgentService/ListConnections`]);
    expect(call.code).not.toBe(0);
    expect(JSON.parse(call.stderr)).toEqual({ code: 'failed_precondition', message: 'ListConnections needs kernel capture: capture disabled (--no-capture)' });
    const s = await grpcJsGetStatus(agent.grpcAddress);
    expect(s.agentId).toBe('interop-agent');
  });
});
