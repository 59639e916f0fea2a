// A separate process holding Subscribe streams to the agent through grpc-js
// (the reference gRPC implementation), as a collector or grpcurl would: the
// agent's delivery cost is then measured against a real client that pays
// for its own decoding, never inside the agent's process.
//
// Started by the benchmarks with an IPC channel:
//   node subscriber-process.ts AGENT_ADDRESS REQUESTS_JSON
// REQUESTS_JSON is an array of SubscribeRequest init objects, one stream each,
// each on its own HTTP/2 connection (as separate clients would be).
// Messages from the parent: {type: 'report'} -> {type: 'report', report: SubscriberReport},
// {type: 'counts'} -> {type: 'counts', events, lost}, {type: 'close'}.
import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { GapReason, Observation, type StateChange, SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema, TcpState } from '@tcpstate/proto';

/** What one stream received. */
export interface StreamReport {
  events: number;
  /** Events by Observation value (index = enum number). */
  byObservation: number[];
  /** Gap messages, and the events they say were lost: for this stream (its queue overflowed) or in the kernel (every stream hears of those). */
  gaps: number;
  lostEvents: number;
  kernelLostEvents: number;
  /** Set when the stream ended (it should not during a run). */
  ended?: string;
}

/** What the process reports to the benchmark. */
export interface SubscriberReport {
  streams: StreamReport[];
  /**
   * Events observed at an exact kernel time (TRACEPOINT, HANDOVER), by the
   * kernel's own old->new pair: a hand-over's X -> TIME_WAIT is the
   * tracepoint's X -> CLOSE. Comparable one to one with bpftrace's counts.
   */
  kernelPairs: Record<string, number>;
  /** Receipt wall time minus event.time, exact-time events only, in ms. */
  latencyMs: { count: number; p50: number; p99: number; max: number };
  cpuSeconds: number;
  rssMiB: number;
}

const [address, requestsJson] = process.argv.slice(2);
if (!address || !requestsJson || !process.send) {
  console.error('usage: node subscriber-process.ts AGENT_ADDRESS REQUESTS_JSON (with an IPC channel)');
  process.exit(2);
}

const requests = JSON.parse(requestsJson) as MessageInitShape<typeof SubscribeRequestSchema>[];
const streams: StreamReport[] = [];
const kernelPairs = new Map<string, number>();
// Latencies of every exact-time event, grown as needed (8 bytes each).
let latencies = new Float64Array(1 << 20);
let latencyCount = 0;
const clients: grpc.Client[] = [];

/** Wall-clock now in ms with sub-microsecond resolution. */
const nowMs = () => performance.timeOrigin + performance.now();

function record(stream: StreamReport, r: SubscribeResponse, receivedMs: number): void {
  if (r.response.case === 'gap') {
    stream.gaps++;
    if (r.response.value.reason === GapReason.KERNEL) stream.kernelLostEvents += Number(r.response.value.count);
    else stream.lostEvents += Number(r.response.value.count);
    return;
  }
  if (r.response.case === 'events') {
    for (const e of r.response.value.events) recordEvent(stream, e, receivedMs);
    return;
  }
  if (r.response.case !== 'event') return;
  recordEvent(stream, r.response.value, receivedMs);
}

function recordEvent(stream: StreamReport, e: StateChange, receivedMs: number): void {
  stream.events++;
  stream.byObservation[e.observedBy]++;
  if (e.observedBy !== Observation.TRACEPOINT && e.observedBy !== Observation.HANDOVER) return;
  const newState = e.observedBy === Observation.HANDOVER ? TcpState.CLOSE : e.newState;
  const pair = `${e.oldState}->${newState}`;
  kernelPairs.set(pair, (kernelPairs.get(pair) ?? 0) + 1);
  if (e.time) {
    if (latencyCount === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[latencyCount++] = receivedMs - (Number(e.time.seconds) * 1000 + e.time.nanos / 1e6);
  }
}

for (const init of requests) {
  // A local subchannel pool: one HTTP/2 connection per stream, as separate clients have.
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  clients.push(client);
  const stream: StreamReport = { events: 0, byObservation: [0, 0, 0, 0, 0, 0], gaps: 0, lostEvents: 0, kernelLostEvents: 0 };
  streams.push(stream);
  const call = client.makeServerStreamRequest(
    '/tcpstate.v1.AgentService/Subscribe',
    (r: Uint8Array) => Buffer.from(r),
    (b: Buffer) => fromBinary(SubscribeResponseSchema, b),
    toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, init)),
  );
  call.on('data', (r: SubscribeResponse) => record(stream, r, nowMs()));
  call.on('error', (err: Error) => (stream.ended = err.message));
  call.on('end', () => (stream.ended ??= 'ended'));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

process.on('message', (message: { type: string }) => {
  if (message.type === 'counts') {
    // Cheap (no percentiles): events and events lost for slow reading so far, all streams together.
    let events = 0;
    let lost = 0;
    for (const s of streams) {
      events += s.events;
      lost += s.lostEvents;
    }
    process.send!({ type: 'counts', events, lost });
  } else if (message.type === 'report') {
    const sorted = latencies.slice(0, latencyCount).sort();
    const usage = process.cpuUsage();
    const report: SubscriberReport = {
      streams,
      kernelPairs: Object.fromEntries(kernelPairs),
      latencyMs: { count: latencyCount, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN },
      cpuSeconds: (usage.user + usage.system) / 1e6,
      rssMiB: process.memoryUsage.rss() / 2 ** 20,
    };
    process.send!({ type: 'report', report });
  } else if (message.type === 'close') {
    for (const client of clients) client.close();
    process.disconnect();
    process.exit(0);
  }
});
process.send({ type: 'started' });
