// Subscribe delivery under load: events per second the agent delivers to one
// unfiltered subscriber (a collector) and to many filtered ones (people each
// following one service), kernel time to client receipt, the agent's CPU and
// memory, and loss, against the kernel's own count in the same run.
//
//   scripts/node24 node test/bench/agent-stream.ts [--seconds 10] [--rounds 1] [--concurrency 16]
//       [--moderate-rate 500] [--filtered 50] [--profile DIR] [--json FILE]
//
// Needs root, the built agent and testbed (npx nx run-many -t build), bpftrace.
// Each run: fresh namespace, nginx on --filtered ports (18100...), the
// project's connect + close loop spread round robin over those ports
// (multi-port-loadgen.ts), the agent (--netns of the run), bpftrace counting
// the namespace's transitions by pair, and one of these subscriber sets,
// all grpc-js streams in ONE other process (subscriber-process.ts), each on
// its own HTTP/2 connection, the agent's default queue (10 000 events):
//   none       nobody subscribed: the agent's cost without delivery
//   1          one stream, no filter: every event, one per response
//   batched    one stream, no filter, max_batch 1000: every event, as the collector asks
//   N filtered N streams, stream k following server endpoint 127.0.0.1:(18100+k):
//              together every event once
//   collector  a real collector (apps/collector, SQLite in a temp dir) subscribed to the
//              agent: what it stored, the gaps it stored, its CPU (issue 5: does the
//              store keep up with what an agent sends at its maximum?)
//   catch-up   the load first, nobody subscribed (the agent keeps up to 600,000 events for
//              replay), then a real collector started: how fast it stores the agent's
//              window with the machine otherwise idle ("delivered/s": its ingest rate
//              end to end, decoding and storing, the agent replaying on the other core)
//   replay     as catch-up, but a grpc-js stream asking max_batch 1000 from seq 1 instead of the
//              collector: the most the agent sends of its window to one subscriber that only
//              counts (what a collector catching up is measured against)
// at the highest rate the machine sustains and at --moderate-rate conn/s,
// in rotating order. --profile DIR writes V8 CPU profiles of the agent (and of the collector).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type BenchAgent,
  CpuWindow,
  differingPairs,
  type KernelCounter,
  machineDescription,
  makeBenchNetwork,
  memoryMiB,
  profileCpu,
  reconcile,
  requireRoot,
  runMultiPortLoadgen,
  sleep,
  startAgent,
  startKernelCounter,
  startSubscribers,
  type SubscriberProcess,
  table,
} from './harness.ts';
import { startCollectorSubscriber } from './collector-subscriber.ts';
import type { SubscriberReport } from './subscriber-process.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '16' },
    'moderate-rate': { type: 'string', default: '500' },
    filtered: { type: 'string', default: '50' },
    sets: { type: 'string', default: 'none,1,filtered' },
    rates: { type: 'string', default: 'max,moderate' },
    profile: { type: 'string' },
    json: { type: 'string' },
  },
});
const SECONDS = Number(flags.seconds);
const ROUNDS = Number(flags.rounds);
const CONCURRENCY = Number(flags.concurrency);
const MODERATE_RATE = Number(flags['moderate-rate']);
const FILTERED = Number(flags.filtered);
const FIRST_PORT = 18100;
const LAST_PORT = FIRST_PORT + FILTERED - 1;
type Subscribers = 'none' | '1' | 'batched' | 'filtered' | 'collector' | 'catch-up' | 'replay';
const SUBSCRIBER_SETS = flags.sets.split(',') as Subscribers[];
const RATES = flags.rates.split(',').map((r) => (r === 'max' ? r : r === 'moderate' ? MODERATE_RATE : Number(r)));
if (
  !(SECONDS >= 1) ||
  !(ROUNDS >= 1) ||
  !(CONCURRENCY >= 1) ||
  !(MODERATE_RATE >= 1) ||
  !(FILTERED >= 2 && FILTERED <= 500) ||
  SUBSCRIBER_SETS.some((s) => !['none', '1', 'batched', 'filtered', 'collector', 'catch-up', 'replay'].includes(s)) ||
  RATES.some((r) => r !== 'max' && !(r >= 1 && Number.isInteger(r)))
) {
  console.error(
    'usage: agent-stream.ts [--seconds S>=1] [--rounds N>=1] [--concurrency C] [--moderate-rate R] [--filtered 2..500] ' +
      '[--sets none,1,batched,filtered,collector,catch-up,replay] [--rates max,moderate,N...] [--profile DIR] [--json FILE]',
  );
  process.exit(2);
}

const label = (s: Subscribers) => (s === 'filtered' ? `${FILTERED} filtered` : s);

/** The SubscribeRequest of each stream of a set. */
function requestsFor(set: Subscribers): object[] {
  if (set === 'none') return [];
  if (set === '1' || set === 'collector') return [{}];
  if (set === 'batched') return [{ maxBatch: 1000 }];
  return Array.from({ length: FILTERED }, (_, k) => ({ include: [{ serverEndpoint: [`127.0.0.1:${FIRST_PORT + k}`] }] }));
}

interface Run {
  subscribers: Subscribers;
  rate: 'max' | number;
  round: number;
  connPerSecond: number;
  machineBusyPercent: number;
  /** Records the agent received per second during the load. */
  capturedPerSecond: number;
  /** Events that reached the subscriber process per second during the load. */
  deliveredPerSecond: number;
  agentCpuPercent: number;
  agentRssMiB: number;
  agentPeakRssMiB: number;
  subscriberCpuPercent: number;
  kernelFired: number;
  agentRecords: number;
  /** Kernel firings without an agent record (see reconcile). */
  missingInAgent: number;
  kernelDrops: number;
  /** After the drain: events received, and events the streams' SLOW_SUBSCRIBER gaps said were lost. */
  delivered: number;
  lostWithGap: number;
  /** Agent records neither delivered nor reported lost: must be 0. */
  lostSilently: number;
  /** Records lost in the kernel (ring buffer full) that a KERNEL gap announced, per stream (every stream hears of all). */
  kernelGapPerStream: number;
  /** Pairs where the kernel's firings and the exact-time events delivered differ. */
  differing: string[];
  latencyMs?: { count: number; p50: number; p99: number; max: number };
  /** catch-up: the window's events per second from the subscription until their connection rows were all written. */
  rowsCurrentPerSecond?: number;
}

const cleanups: (() => Promise<void> | void)[] = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
}
process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));

async function measure(set: Subscribers, rate: Run['rate'], round: number): Promise<Run> {
  if (set === 'catch-up' || set === 'replay') return measureCatchUp(set, rate, round);
  const ports = Array.from({ length: FILTERED }, (_, k) => FIRST_PORT + k);
  const net = await makeBenchNetwork('lo', 'bas', 213, ports);
  cleanups.push(() => net.destroy());
  try {
    const agent: BenchAgent = await startAgent(net.netns, { inspect: flags.profile !== undefined });
    cleanups.push(() => agent.stop());
    const counter: KernelCounter = await startKernelCounter({ netns: net.netns });
    cleanups.push(async () => void (await counter.stop()));
    let subscribers: SubscriberProcess | undefined;
    if (set !== 'none') {
      subscribers = set === 'collector' ? await startCollectorSubscriber(agent, flags.profile) : await startSubscribers(agent, requestsFor(set));
      cleanups.push(() => subscribers!.close());
    }
    await sleep(1000);

    const capturedBefore = Number((await agent.status()).eventsCaptured);
    const deliveredBefore = subscribers ? (await subscribers.counts()).events : 0;
    const stopProfile = flags.profile ? await profileCpu(agent) : undefined;
    const cpu = new CpuWindow([agent.pid, subscribers?.pid ?? process.pid]);
    const load = await runMultiPortLoadgen(net.client, net.target, { first: FIRST_PORT, last: LAST_PORT }, {
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      rate: rate === 'max' ? undefined : rate,
    });
    const used = cpu.end();
    await stopProfile?.(join(flags.profile ?? '.', `agent-stream-${set}-${rate}-${round}.cpuprofile`));
    const memory = memoryMiB(agent.pid);
    const capturedAfter = Number((await agent.status()).eventsCaptured);
    const deliveredAfter = subscribers ? (await subscribers.counts()).events : 0;

    // Drain: the last closes, the agent, the subscribers; then the kernel's count.
    await sleep(500);
    await agent.settledEventsCaptured();
    const report = await subscribers?.settledReport();
    const kernel = await counter.stop();
    return {
      subscribers: set,
      rate,
      round,
      connPerSecond: load.rate,
      machineBusyPercent: used.machineBusy,
      capturedPerSecond: (capturedAfter - capturedBefore) / load.seconds,
      deliveredPerSecond: (deliveredAfter - deliveredBefore) / load.seconds,
      agentCpuPercent: used.processes[0],
      agentRssMiB: memory.rss,
      agentPeakRssMiB: memory.peak,
      subscriberCpuPercent: subscribers ? used.processes[1] : NaN,
      ...(await accounting(agent, kernel, report)),
      latencyMs: report?.latencyMs,
    };
  } finally {
    await cleanUp();
  }
}

/**
 * A run's loss accounting: what the kernel fired (bpftrace), what the agent recorded, and what the
 * subscribers received or were told they lost (`report` undefined: nobody subscribed).
 */
async function accounting(agent: BenchAgent, kernel: Awaited<ReturnType<KernelCounter['stop']>>, report: SubscriberReport | undefined) {
  const status = await agent.status();
  const agentSide = reconcile(kernel.all, await agent.transitionCounts());
  const delivered = report ? report.streams.reduce((sum, s) => sum + s.events, 0) : 0;
  const lostWithGap = report ? report.streams.reduce((sum, s) => sum + s.lostEvents, 0) : 0;
  return {
    kernelFired: kernel.all.total,
    agentRecords: agentSide.agentCaptured,
    missingInAgent: agentSide.missing,
    kernelDrops: Number(status.kernelDrops),
    delivered,
    lostWithGap,
    // Records lost in the kernel never became agent records: they are not in eventsCaptured.
    lostSilently: report ? Number(status.eventsCaptured) - delivered - lostWithGap : 0,
    kernelGapPerStream: report ? Math.max(...report.streams.map((s) => s.kernelLostEvents)) : 0,
    differing: report ? differingPairs(kernel.all.pairs, report.kernelPairs) : [],
  };
}

/** A process's three busiest threads as "name tid: seconds" (/proc/PID/task). */
function busiestThreads(pid: number): string {
  const threads = readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { label: `${name} ${tid}`, seconds: (Number(fields[11]) + Number(fields[12])) / 100 };
  });
  return threads.sort((a, b) => b.seconds - a.seconds).slice(0, 3).map((t) => `${t.label}: ${t.seconds.toFixed(1)}`).join(', ');
}

/** Events the agent keeps for replay in the catch-up set: more than its maximum rate fills in the load window. */
const CATCH_UP_WINDOW = 600_000;

/**
 * The catch-up and replay sets: load with nobody subscribed, then a collector
 * (or a batched grpc-js stream from seq 1) started on the agent's replay
 * window; delivered/s is its rate storing (receiving) the window, CPU is
 * measured over that catch-up (the load is over by then).
 */
async function measureCatchUp(set: 'catch-up' | 'replay', rate: Run['rate'], round: number): Promise<Run> {
  const ports = Array.from({ length: FILTERED }, (_, k) => FIRST_PORT + k);
  const net = await makeBenchNetwork('lo', 'bas', 213, ports);
  cleanups.push(() => net.destroy());
  try {
    const agent = await startAgent(net.netns, { args: ['--replay-events', String(CATCH_UP_WINDOW), '--replay-bytes', '1GiB'] });
    cleanups.push(() => agent.stop());
    const counter = await startKernelCounter({ netns: net.netns });
    cleanups.push(async () => void (await counter.stop()));
    await sleep(1000);
    const capturedBefore = Number((await agent.status()).eventsCaptured);
    const load = await runMultiPortLoadgen(net.client, net.target, { first: FIRST_PORT, last: LAST_PORT }, {
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      rate: rate === 'max' ? undefined : rate,
    });
    await sleep(500);
    const records = await agent.settledEventsCaptured();
    const kernel = await counter.stop();
    if (records > CATCH_UP_WINDOW) console.log(`  catch-up: ${records} events captured, more than the window of ${CATCH_UP_WINDOW}: use fewer --seconds`);

    const collector =
      set === 'catch-up' ? await startCollectorSubscriber(agent, flags.profile) : await startSubscribers(agent, [{ since: { case: 'sinceSeq', value: '1' }, maxBatch: 1000 }]);
    cleanups.push(() => collector.close());
    // Timed from its subscription (the process start left out) to the window stored.
    const started = performance.now();
    const storedAtStart = (await collector.counts()).events;
    const cpu = new CpuWindow([agent.pid, collector.pid]);
    const expected = Math.min(records, CATCH_UP_WINDOW);
    for (let stored = storedAtStart; stored < expected; stored = (await collector.counts()).events) {
      if (performance.now() - started > 600_000) throw new Error(`the collector stored ${stored} of ${expected} events in 10 minutes`);
      await sleep(200); // its /metrics is read at each poll: not so often that reading it costs much
    }
    const seconds = (performance.now() - started) / 1000;
    const used = cpu.end();
    // The collector's store writes connection rows after ingest: until when do they trail it?
    let rowsCurrentPerSecond: number | undefined;
    if (collector.rowsPending) {
      while ((await collector.rowsPending()) > 0) {
        if (performance.now() - started > 900_000) throw new Error(`the collector's connection rows were not current 15 minutes after it subscribed`);
        await sleep(100);
      }
      rowsCurrentPerSecond = (expected - storedAtStart) / ((performance.now() - started) / 1000);
      console.log(`  ${set}: stored at ${((expected - storedAtStart) / seconds).toFixed(0)} events/s; connection rows current at ${rowsCurrentPerSecond.toFixed(0)} events/s (${((performance.now() - started) / 1000 - seconds).toFixed(1)} s after)`);
    }
    console.log(`  ${set}: the ${set === 'catch-up' ? 'collector' : 'subscriber'}'s busiest threads (CPU seconds since it started): ${busiestThreads(collector.pid)}`);
    const report = await collector.settledReport();
    return {
      subscribers: set,
      rate,
      round,
      connPerSecond: load.rate,
      machineBusyPercent: used.machineBusy,
      capturedPerSecond: (records - capturedBefore) / load.seconds,
      deliveredPerSecond: (expected - storedAtStart) / seconds,
      agentCpuPercent: used.processes[0],
      agentRssMiB: memoryMiB(agent.pid).rss,
      agentPeakRssMiB: memoryMiB(agent.pid).peak,
      subscriberCpuPercent: used.processes[1],
      rowsCurrentPerSecond,
      ...(await accounting(agent, kernel, report)),
    };
  } finally {
    await cleanUp();
  }
}

requireRoot();
const startedAt = new Date();
const machine = machineDescription();
console.log(`agent-stream benchmark: ${machine}`);
console.log(`${ROUNDS} round(s), ${SECONDS} s per run, load over ${FILTERED} ports, concurrency ${CONCURRENCY}, moderate rate ${MODERATE_RATE} conn/s\n`);
const runs: Run[] = [];
try {
  let turn = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const rate of RATES) {
      for (let i = 0; i < SUBSCRIBER_SETS.length; i++) {
        const set = SUBSCRIBER_SETS[(i + turn) % SUBSCRIBER_SETS.length];
        const run = await measure(set, rate, round);
        runs.push(run);
        console.log(
          `${String(rate).padEnd(4)} ${label(set).padEnd(11)} ${run.connPerSecond.toFixed(0).padStart(5)} conn/s, captured ${run.capturedPerSecond.toFixed(0)}/s, ` +
            `delivered ${run.deliveredPerSecond.toFixed(0)}/s, agent ${run.agentCpuPercent.toFixed(0)}% CPU ${run.agentRssMiB.toFixed(0)} MiB, ` +
            `lost ${run.lostWithGap} (+${run.lostSilently} silently), latency p50 ${run.latencyMs?.p50.toFixed(0) ?? '-'} ms`,
        );
      }
      turn++;
    }
  }
} finally {
  await cleanUp();
}

console.log('\nDelivery (per run; events/s are over the load window, counts after the drain):\n');
console.log(
  table([
    [
      'rate',
      'subscribers',
      'conn/s',
      'captured/s',
      'delivered/s',
      'agent CPU %',
      'agent RSS MiB',
      'subscriber CPU %',
      'p50 ms',
      'p99 ms',
      'max ms',
      'machine busy %',
    ],
    ...runs.map((r) => [
      String(r.rate),
      label(r.subscribers),
      r.connPerSecond,
      r.capturedPerSecond,
      r.deliveredPerSecond,
      r.agentCpuPercent,
      r.agentRssMiB,
      r.subscriberCpuPercent,
      r.latencyMs?.p50 ?? NaN,
      r.latencyMs?.p99 ?? NaN,
      r.latencyMs?.max ?? NaN,
      r.machineBusyPercent,
    ]),
  ]),
);
console.log('\nLoss against the kernel (bpftrace, same namespace, same run):\n');
console.log(
  table([
    ['rate', 'subscribers', 'kernel fired', 'agent records', 'missing in agent', 'kernel drops', 'kernel gap', 'delivered', 'lost (gap)', 'lost silently', 'pairs differing'],
    ...runs.map((r) => [
      String(r.rate),
      label(r.subscribers),
      r.kernelFired,
      r.agentRecords,
      r.missingInAgent,
      r.kernelDrops,
      r.subscribers === 'none' ? '-' : r.kernelGapPerStream,
      r.subscribers === 'none' ? '-' : r.delivered,
      r.subscribers === 'none' ? '-' : r.lostWithGap,
      r.subscribers === 'none' ? '-' : r.lostSilently,
      r.subscribers === 'none' ? '-' : r.differing.length,
    ]),
  ]),
);
for (const r of runs) for (const d of r.differing) console.log(`  ${r.rate} ${label(r.subscribers)}: ${d}`);
console.log(`
"missing in agent": firings with no agent record: kernel drops (ring buffer full, announced to every
stream by a KERNEL gap: "kernel gap") and transitions the kernel skipped running the agent's program for
(nested on a CPU, announced to nobody: see BENCHMARKS.md). "pairs differing" counts both. "lost (gap)":
events dropped for a stream whose queue was full, announced to it by a SLOW_SUBSCRIBER gap.
"lost silently" = agent records - delivered - lost (gap): must be 0.`);

if (flags.json) {
  writeFileSync(flags.json, JSON.stringify({ startedAt, machine, seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, filtered: FILTERED, runs }, null, 2));
  console.log(`runs written to ${flags.json}`);
}
