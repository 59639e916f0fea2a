// Records real StateChange events once, for the storage benchmark to replay
// (store-bench.ts): an agent on two private namespaces, nginx on one, the
// project's load generator on the other (half its connections plain
// connect + close, the client closing first; half with an HTTP request, nginx
// closing first), and every event of the run, TIME_WAIT exits included (the
// agent's sweep reports them 60 s after the load), written as length-delimited
// protobuf (varint size, StateChange bytes), gzipped.
//
//   scripts/node24 node test/bench/record-events.ts [--seconds 3] [--rate 500] [--out test/bench/fixtures/real-events.binpb.gz]
//
// Needs root (eBPF, namespaces). Uses namespace tag "rec", subnet 95.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { sizeDelimitedEncode } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import { GapReason, type StateChange, StateChangeSchema, SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema } from '@tcpstate/proto';
import { loadgenScript, nodeBin } from '@tcpstate/testbed';
import {
  makeBenchNetwork,
  requireRoot,
  runLoadgen,
  sleep,
  startAgent,
} from './harness.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '500' },
    out: { type: 'string', default: new URL('./fixtures/real-events.binpb.gz', import.meta.url).pathname },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const PORT = 8080;
/** The kernel keeps a socket in TIME_WAIT for 60 s; the sweep (every second) then reports its exit. */
const TIME_WAIT_MS = 60_000 + 5_000;

requireRoot();
const network = await makeBenchNetwork('veth', 'rec', 95, [PORT]);
const agent = await startAgent(network.netns).catch(async (error: unknown) => {
  await network.destroy();
  throw error;
});
const client = new grpc.Client(agent.program.grpcAddress, grpc.credentials.createInsecure());
try {
  // Two shapes at once: the client closes first, and nginx closes first (HTTP with Connection: close).
  const [plain, http] = await Promise.all([
    runLoadgen(network.client, network.target, PORT, { seconds, concurrency: 8, rate: rate / 2 }),
    requestLoad(seconds, rate / 2),
  ]);
  console.log(`load: ${plain.connections} plain connections, ${http.connections} with an HTTP request (${plain.errors + http.errors} errors)`);
  console.log(`waiting ${TIME_WAIT_MS / 1000} s for TIME_WAIT exits...`);
  await sleep(TIME_WAIT_MS);

  // Everything from the agent's replay window (100,000 events by default), at
  // the reader's pace: a live subscriber on a busy machine can fall behind and
  // get SLOW_SUBSCRIBER gaps, a replay cannot.
  const events: StateChange[] = [];
  const gaps: string[] = [];
  const call = client.makeServerStreamRequest(
    '/tcpstate.v1.AgentService/Subscribe',
    (r: Uint8Array) => Buffer.from(r),
    (b: Buffer) => fromBinary(SubscribeResponseSchema, b),
    toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { since: { case: 'sinceSeq', value: 1n }, follow: false })),
  );
  call.on('data', (r: SubscribeResponse) => {
    if (r.response.case === 'event') events.push(r.response.value);
    if (r.response.case === 'gap') gaps.push(`${GapReason[r.response.value.reason]} x${r.response.value.count}`);
  });
  await new Promise<void>((resolve, reject) => {
    call.on('end', resolve);
    call.on('error', reject);
  });
  // The kernel skips a program run now and then (recursion misses, KERNEL gaps): a few holes are part of real data.
  const lost = events.length === 0 ? 1 : gaps.reduce((n, g) => n + Number(g.split(' x')[1]), 0) / events.length;
  if (gaps.length > 0) console.log(`gaps reported by the agent: ${gaps.join(', ')}`);
  if (lost > 0.01) throw new Error(`the agent lost ${(lost * 100).toFixed(1)}% of the events: record again on a quieter machine`);

  const parts = events.map((e) => sizeDelimitedEncode(StateChangeSchema, create(StateChangeSchema, { ...e, agentId: '', bootId: '' })));
  const raw = Buffer.concat(parts);
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(values.out, gz);
  const connections = new Set(events.map((e) => e.cookie)).size;
  console.log(`${events.length} events of ${connections} connections: ${raw.length} bytes, ${gz.length} gzipped, in ${values.out}`);
} finally {
  client.close();
  await agent.stop();
  await network.destroy();
}

/** The load generator with --request (runLoadgen has no such option). */
async function requestLoad(forSeconds: number, perSecond: number): Promise<{ connections: number; errors: number }> {
  const out = await network.client.run(nodeBin, [
    loadgenScript, network.target, String(PORT), '--seconds', String(forSeconds), '--concurrency', '8', '--rate', String(perSecond), '--request',
  ]);
  return JSON.parse(out.trim().split('\n').pop()!) as { connections: number; errors: number };
}
