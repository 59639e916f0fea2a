// Resume by sequence number across clients and languages: @grpc/grpc-js and
// a Python client generated from proto/ each disconnect mid-stream and resume
// with since_seq; between them every seq arrives exactly once. A resume from a
// seq that left the replay window yields the exact REPLAY_EVICTED gap.
import { createClient } from '@connectrpc/connect';
import { compressionGzip, createGrpcTransport } from '@connectrpc/connect-node';
import { AgentService, GapReason } from '@tcpstate/proto';
import { loadgenScript, nodeBin, type NetnsHost, type RunningProgram } from '@tcpstate/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePythonClient, pythonClient } from '../interop/python-client.js';
import { GrpcJsAgent } from '../support/grpc-js-agent.js';
import { type SeedHosts, startSeedHosts } from '../support/seed-hosts.js';

let hosts: SeedHosts;
let server: NetnsHost;
let client: NetnsHost;
let agent: RunningProgram;
let small: RunningProgram;

/** Opens and closes `count` connections from the client host (about 10 transitions each). */
function connections(count: number) {
  const out = client.exec(nodeBin, [loadgenScript, server.ipv4, '80', '--count', String(count), '--concurrency', '4']);
  expect(JSON.parse(out)).toMatchObject({ connections: count, errors: 0 });
}

beforeAll(async () => {
  hosts = await startSeedHosts('resum', 62, [
    ['--agent-id', 'resume'],
    ['--agent-id', 'small-window', '--replay-events', '20'],
  ]);
  ({ server, client } = hosts);
  [agent, small] = hosts.agents;
});
afterAll(async () => {
  await hosts?.stop();
});

describe('Subscribe resume', () => {
  it('hands the stream between grpc-js and Python with every seq exactly once', async () => {
    const grpcJs = new GrpcJsAgent(agent.grpcAddress);
    connections(6);
    const total = await grpcJs.settledEventCount();
    expect(total).toBeGreaterThanOrEqual(60);

    // grpc-js: from the start, disconnects after 20 events.
    const first = grpcJs.subscribe({ since: { case: 'sinceSeq', value: 1n } });
    await first.until((s) => s.events.length >= 20, 20_000, '20 events');
    first.cancel();
    const a = first.events.slice(0, 20).map((e) => Number(e.seq));
    expect(a).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // Python: resumes after the last seq grpc-js kept, disconnects after 15.
    const gen = await generatePythonClient();
    const py = await pythonClient(gen, agent.grpcAddress, 'subscribe', JSON.stringify({ sinceSeq: String(a.at(-1)! + 1) }), '15');
    expect(py.stderr).toBe('');
    const b = py.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.event).map((r) => Number(r.event.seq));
    expect(b).toEqual(Array.from({ length: 15 }, (_, i) => i + 21));

    // grpc-js again: the rest of the replay, then the stream ends (follow=false).
    const rest = grpcJs.subscribe({ since: { case: 'sinceSeq', value: BigInt(b.at(-1)! + 1) }, follow: false });
    const status = await rest.ended;
    expect(status.code).toBe(0);
    const c = rest.events.map((e) => Number(e.seq));
    const all = [...a, ...b, ...c];
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(all.length).toBeGreaterThanOrEqual(total);
    expect(rest.gaps.filter((g) => g.reason !== GapReason.KERNEL)).toEqual([]);
    grpcJs.close();
  });

  it('sends the same events in batches of at most max_batch to grpc-js and to Python', async () => {
    const grpcJs = new GrpcJsAgent(agent.grpcAddress);
    connections(4);
    const total = await grpcJs.settledEventCount();
    const single = grpcJs.subscribe({ since: { case: 'sinceSeq', value: 1n }, follow: false });
    const batched = grpcJs.subscribe({ since: { case: 'sinceSeq', value: 1n }, follow: false, maxBatch: 16 });
    expect((await single.ended).code).toBe(0);
    expect((await batched.ended).code).toBe(0);
    const seqs = (events: { seq: bigint }[]) => events.map((e) => Number(e.seq));
    expect(seqs(single.events).length).toBeGreaterThanOrEqual(total);
    expect(seqs(batched.events)).toEqual(seqs(single.events));
    // A replay of more than 16 events: full batches of 16 (gaps between them aside), none empty or larger.
    const sizes = batched.responses.flatMap((r) => (r.response.case === 'events' ? [r.response.value.events.length] : []));
    expect(batched.responses.some((r) => r.response.case === 'event')).toBe(false);
    expect(sizes.every((n) => n >= 1 && n <= 16)).toBe(true);
    expect(sizes.filter((n) => n === 16).length).toBeGreaterThanOrEqual(Math.floor(total / 16) - batched.gaps.length);

    // Python, generated from proto/: the same batches by the proto3 JSON mapping.
    const gen = await generatePythonClient();
    const py = await pythonClient(gen, agent.grpcAddress, 'subscribe', JSON.stringify({ sinceSeq: '1', follow: false, maxBatch: 16 }), String(total + 1000));
    expect(py.stderr).toBe('');
    const replies = py.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const pySeqs = replies.flatMap((r) => (r.events ? r.events.events.map((e: { seq: string }) => Number(e.seq)) : []));
    expect(pySeqs.slice(0, single.events.length)).toEqual(seqs(single.events));

    // Batches are larger than Connect's 1 KiB threshold, and a client that accepts gzip (grpc-js and Connect do
    // unasked) still gets them as they are: the agent compresses only with --compression gzip.
    const transport = createGrpcTransport({ baseUrl: `http://${agent.grpcAddress}`, acceptCompression: [compressionGzip] });
    let encoding: string | null = 'no header';
    let viaConnect = 0;
    const stream = createClient(AgentService, transport).subscribe(
      { since: { case: 'sinceSeq', value: 1n }, follow: false, maxBatch: 16 },
      { onHeader: (h) => (encoding = h.get('grpc-encoding')) },
    );
    for await (const r of stream) if (r.response.case === 'events') viaConnect += r.response.value.events.length;
    expect(viaConnect).toBeGreaterThanOrEqual(single.events.length);
    expect(encoding).toBeNull();

    // A JSON client (gRPC with JSON messages) gets the same events: binary clients get them encoded by the
    // agent's own encoder, JSON clients as messages Connect writes as JSON.
    const json = createClient(AgentService, createGrpcTransport({ baseUrl: `http://${agent.grpcAddress}`, useBinaryFormat: false }));
    const viaJson: number[] = [];
    for await (const r of json.subscribe({ since: { case: 'sinceSeq', value: 1n }, follow: false, maxBatch: 16 })) {
      if (r.response.case === 'events') viaJson.push(...r.response.value.events.map((e) => Number(e.seq)));
    }
    expect(viaJson.slice(0, single.events.length)).toEqual(seqs(single.events));
    grpcJs.close();
  });

  it('answers a resume from an evicted seq with the exact gap, then the window', async () => {
    const grpcJs = new GrpcJsAgent(small.grpcAddress);
    connections(4);
    await grpcJs.settledEventCount();
    const status = await grpcJs.getStatus();
    const newest = Number(status.replayWindow!.lastSeq);
    const oldest = Number(status.replayWindow!.firstSeq);
    expect(newest).toBeGreaterThanOrEqual(40);
    expect(newest - oldest + 1).toBe(20);

    const sub = grpcJs.subscribe({ since: { case: 'sinceSeq', value: 1n }, follow: false });
    expect((await sub.ended).code).toBe(0);
    const [gap, ...others] = sub.responses;
    expect(gap.response.case).toBe('gap');
    expect(gap.response.value).toMatchObject({
      reason: GapReason.REPLAY_EVICTED,
      firstSeq: 1n,
      lastSeq: BigInt(oldest - 1),
      count: BigInt(oldest - 1),
      agentId: 'small-window',
    });
    const seqs = others.flatMap((r) => (r.response.case === 'event' ? [Number(r.response.value.seq)] : []));
    expect(seqs.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => oldest + i));
    grpcJs.close();
  });
});
