// Invalid requests get INVALID_ARGUMENT with a message naming the field, and
// the agent keeps serving.
import { Side, TcpState } from '@tcpstate/proto';
import { type RunningProgram, startProgram } from '@tcpstate/testbed';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcJsAgent, type SubscribeInit } from '../support/grpc-js-agent.js';

let agent: RunningProgram;
let api: GrpcJsAgent;

beforeAll(async () => {
  agent = await startProgram('agent', ['--port', '1']);
  api = new GrpcJsAgent(agent.grpcAddress);
});
afterAll(async () => {
  api?.close();
  await agent?.stop();
});

const future = { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 };

describe('Subscribe rejects', () => {
  it.each<[string, SubscribeInit, RegExp]>([
    ['a bad CIDR', { include: [{ address: ['10.0.0.0/8', '10.0.0.300/8'] }] }, /^include\[0\]\.address\[1\]: "10\.0\.0\.300\/8" is not an IP address or CIDR/],
    ['a port above 65535', { exclude: [{}, { port: [70000] }] }, /^exclude\[1\]\.port\[0\]: 70000/],
    ['an unknown state', { include: [{ newState: [99 as TcpState] }] }, /^include\[0\]\.new_state\[0\]: 99 is not a TCP state/],
    ['an unknown side', { include: [{ side: [7 as Side] }] }, /^include\[0\]\.side\[0\]: 7 is not a side/],
    ['a bad server endpoint', { include: [{ serverEndpoint: ['10.0.0.1'] }] }, /^include\[0\]\.server_endpoint\[0\]/],
    ['since_time in the future', { since: { case: 'sinceTime', value: future } }, /^since_time: .* is in the future/],
    ['first with last', { first: 5n, last: 5n }, /first.*last/],
    ['last with since_seq', { last: 5n, since: { case: 'sinceSeq', value: 1n } }, /last.*since_seq/],
    ['more than 10000 events per response', { maxBatch: 10_001 }, /^max_batch: 10001 is more than 10000 events per response$/],
  ])('%s', async (_, request, message) => {
    const sub = api.subscribe(request);
    const status = await sub.ended;
    expect(status.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(status.details).toMatch(message);
    expect(sub.responses).toEqual([]);
  });

  it('a since_seq beyond the newest seq', async () => {
    const sub = api.subscribe({ since: { case: 'sinceSeq', value: 1000n } });
    const status = await sub.ended;
    expect(status.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(status.details).toMatch(/^since_seq: /);
  });
});

describe('ListConnections rejects', () => {
  it('a bad address filter', async () => {
    await expect(api.listConnections({ include: [{ address: ['nope'] }] })).rejects.toMatchObject({
      code: grpcStatus.INVALID_ARGUMENT,
      details: expect.stringMatching(/^include\[0\]\.address\[0\]/),
    });
  });
});

it('keeps serving after all of that', async () => {
  const s = await api.getStatus();
  expect(s.capturing).toBe(true);
  // This kernel refuses fentry/fexit and has no kprobes: the agent says so and follows the timewait timer.
  expect(s.strategies.map((x) => [x.concern, x.name, x.active])).toEqual([
    ['state', 'tp_btf/inet_sock_set_state', true],
    ['time_wait', 'fexit', false],
    ['time_wait', 'kprobe', false],
    ['time_wait', 'timer', true],
  ]);
  expect(s.strategies[1].refusedReason).toMatch(/errno 1/);
});
