// A subscriber that stops reading gets SLOW_SUBSCRIBER gaps and continues;
// a fast one beside it receives every seq; the agent counts the drops.
import { GapReason } from '@tcpstate/proto';
import { loadgenScript, nodeBin, type NetnsHost, type RunningProgram } from '@tcpstate/testbed';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GrpcJsAgent } from '../support/grpc-js-agent.js';
import { type SeedHosts, startSeedHosts } from '../support/seed-hosts.js';

let hosts: SeedHosts;
let server: NetnsHost;
let client: NetnsHost;
let agent: RunningProgram;

beforeAll(async () => {
  hosts = await startSeedHosts('slow', 63, [['--queue-events', '3000']]);
  ({ server, client } = hosts);
  [agent] = hosts.agents;
});
afterAll(async () => {
  await hosts?.stop();
});

it('gives a slow subscriber gaps while a fast one receives everything', async () => {
  const fastClient = new GrpcJsAgent(agent.grpcAddress);
  const slowClient = new GrpcJsAgent(agent.grpcAddress, { ownConnection: true });
  const fast = fastClient.subscribe({});
  const slow = slowClient.subscribe({});
  await new Promise((r) => setTimeout(r, 500));
  slow.call.pause(); // stops reading: HTTP/2 flow control backs up to the agent's queue for it

  // A steady rate the 2-core machine sustains beside the agent: the point is
  // the slow reader, not saturating the host.
  const out = await client.run(nodeBin, [loadgenScript, server.ipv4, '80', '--count', '1500', '--rate', '300', '--concurrency', '4']);
  expect(JSON.parse(out)).toMatchObject({ connections: 1500, errors: 0 });
  const total = await fastClient.settledEventCount();
  expect(total).toBeGreaterThanOrEqual(12_000); // about 10 transitions per connection
  await fast.until((s) => s.events.length >= total, 30_000, `all ${total} events on the fast stream`);
  expect(fast.events.map((e) => Number(e.seq))).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  // Kernel gaps (transitions the kernel skipped, see BENCHMARKS.md) carry no seq and reach everyone.
  const slowGaps = (sub: typeof slow) => sub.gaps.filter((g) => g.reason !== GapReason.KERNEL);
  expect(slowGaps(fast)).toEqual([]);

  slow.call.resume();
  // Everything the slow stream did not get is accounted for by its gaps.
  await slow.until((s) => s.events.length + slowGaps(s).reduce((n, g) => n + Number(g.count), 0) >= total, 30_000, 'the slow stream to catch up');
  expect(slowGaps(slow).length).toBeGreaterThan(0);
  for (const g of slowGaps(slow)) {
    expect(g.reason).toBe(GapReason.SLOW_SUBSCRIBER);
    expect(Number(g.lastSeq) - Number(g.firstSeq) + 1).toBe(Number(g.count));
  }
  const received = new Set(slow.events.map((e) => Number(e.seq)));
  const dropped = slowGaps(slow).flatMap((g) => Array.from({ length: Number(g.count) }, (_, i) => Number(g.firstSeq) + i));
  expect(received.size + dropped.length).toBe(total);
  expect(dropped.filter((s) => received.has(s))).toEqual([]);

  const after = await fastClient.getStatus();
  expect(after.subscriberDrops).toBe(BigInt(dropped.length));
  fast.cancel();
  slow.cancel();
  fastClient.close();
  slowClient.close();
});
