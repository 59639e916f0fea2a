// Kernel capture under the highest connection rate this machine sustains:
// what capturing costs the traffic, whether every transition reaches the
// agent, and what the agent pays for it.
//
//   scripts/node24 node test/bench/kernel-capture.ts [--seconds 10] [--rounds 3] [--concurrency 16]
//       [--path lo|veth] [--moderate-rate 2000] [--modes LIST] [--profile DIR] [--json FILE]
//
// Needs root, the built agent and testbed (npx nx run-many -t build), bpftrace.
// Each run gets fresh namespaces with nginx and the project's load generator
// (libs/testbed, connect + close loop, 10 transitions per connection) and one
// of these beside it, interleaved round by round in rotating order (the
// machine is noisy; drift cancels out of the medians):
//   untraced     nothing attached: the baseline
//   bpftrace     bpftrace -e 'tracepoint:sock:inet_sock_set_state { @ = count(); }' (counts, records nothing)
//   agent        the agent capturing (--netns of the run), nobody subscribed: the capture's own cost
//   agent+count  the accounting run: the agent, bpftrace counting the same namespaces by (old, new)
//                pair beside it, kernel.bpf_stats_enabled (BPF ns per run), and a latency probe:
//                20 conn/s more to a second port, followed by a grpc-js subscriber in another
//                process filtered to that port (kernel time -> client receipt, under full load)
// then agent and agent+count once more at a fixed moderate rate, for CPU at a known events/s.
// --profile DIR writes a V8 CPU profile of the agent for each agent run's load window.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type BenchAgent,
  type BpfCost,
  type BenchNetwork,
  bpfCostPerRun,
  bpfProgramStats,
  CpuWindow,
  type KernelCounter,
  machineDescription,
  makeBenchNetwork,
  median,
  memoryMiB,
  type NetworkPath,
  profileCpu,
  type Reconciliation,
  reconcile,
  requireRoot,
  runLoadgen,
  sleep,
  startAgent,
  startKernelCounter,
  startSubscribers,
  type SubscriberProcess,
  table,
  withBpfStats,
} from './harness.ts';
import type { SubscriberReport } from './subscriber-process.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    path: { type: 'string', default: 'lo' },
    'moderate-rate': { type: 'string', default: '2000' },
    modes: { type: 'string', default: 'untraced,bpftrace,agent,agent+count' },
    profile: { type: 'string' },
    json: { type: 'string' },
  },
});

/** What runs beside the load in each mode. */
const MODE_SETUPS = {
  untraced: { agent: false, counter: 'none', probe: false },
  bpftrace: { agent: false, counter: 'all', probe: false },
  agent: { agent: true, counter: 'none', probe: false },
  'agent+count': { agent: true, counter: 'netns', probe: true },
  // For telling costs apart (--modes); not in the default set.
  'agent+bpftrace': { agent: true, counter: 'netns', probe: false },
  // The agent with the iter/tcp sweep instead of the strategy the kernel allows (the timer here).
  'agent-sweep': { agent: true, counter: 'none', probe: false, args: ['--time-wait-strategy', 'sweep'] },
} as const;
type Mode = keyof typeof MODE_SETUPS;

const SECONDS = Number(flags.seconds);
const ROUNDS = Number(flags.rounds);
const CONCURRENCY = Number(flags.concurrency);
const PATH = flags.path as NetworkPath;
const MODERATE_RATE = Number(flags['moderate-rate']);
const MODES = flags.modes.split(',') as Mode[];
const PORT = 18080;
const PROBE_PORT = 18081;
const PROBE_RATE = 20;
if (
  !(SECONDS >= 1) ||
  !(ROUNDS >= 1) ||
  !(CONCURRENCY >= 1) ||
  !(MODERATE_RATE >= 1) ||
  !['lo', 'veth'].includes(PATH) ||
  MODES.some((m) => !(m in MODE_SETUPS))
) {
  console.error(
    `usage: kernel-capture.ts [--seconds S>=1] [--rounds N>=1] [--concurrency C] [--path lo|veth] [--moderate-rate R] ` +
      `[--modes ${Object.keys(MODE_SETUPS).join(',')}] [--profile DIR] [--json FILE]`,
  );
  process.exit(2);
}

/** One run's measurements (agent fields only where an agent ran). */
interface Run {
  mode: Mode;
  round: number | 'moderate';
  connPerSecond: number;
  errors: number;
  machineBusyPercent: number;
  agent?: {
    cpuPercent: number;
    /** The part of cpuPercent spent in the kernel: reading the ring, the TIME_WAIT sweep's iter/tcp runs. */
    systemCpuPercent: number;
    rssMiB: number;
    peakRssMiB: number;
    /** Records the agent's JS received during the load window, per second. */
    eventsPerSecond: number;
    kernelDrops: number;
  };
  accounting?: Reconciliation & {
    /** The agent's BPF programs, and bpftrace's counting program beside them. */
    bpf: BpfCost[];
  };
  probe?: {
    kernelFired: number;
    /** Exact-time records delivered to the probe's subscriber. */
    delivered: number;
    lost: number;
    differing: string[];
    latencyMs: SubscriberReport['latencyMs'];
  };
}

/** What a run has started, stopped in reverse order whatever happens. */
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

async function measure(mode: Mode, round: Run['round'], rate?: number): Promise<Run> {
  const setup = MODE_SETUPS[mode];
  const net: BenchNetwork = await makeBenchNetwork(PATH, 'bkc', 211, [PORT, PROBE_PORT]);
  cleanups.push(() => net.destroy());
  try {
    let agent: BenchAgent | undefined;
    let counter: KernelCounter | undefined;
    let subscriber: SubscriberProcess | undefined;
    if (setup.agent) {
      agent = await startAgent(net.netns, { inspect: flags.profile !== undefined, args: 'args' in setup ? [...setup.args] : [] });
      cleanups.push(() => agent!.stop());
    }
    if (setup.counter !== 'none') {
      counter = await startKernelCounter(setup.counter === 'netns' ? { netns: net.netns, probePort: setup.probe ? PROBE_PORT : undefined } : {});
      cleanups.push(async () => void (await counter!.stop()));
    }
    if (setup.probe) {
      subscriber = await startSubscribers(agent!, [{ include: [{ port: [PROBE_PORT] }] }]);
      cleanups.push(() => subscriber!.close());
    }
    // Let start-up work (module loading, JIT, first sweep) settle before measuring.
    await sleep(1000);

    const bpfPids = [agent?.pid, setup.counter === 'netns' ? counter!.pid : undefined].filter((pid) => pid !== undefined);
    const bpfBefore = bpfPids.map(bpfProgramStats);
    const capturedBefore = agent ? Number((await agent.status()).eventsCaptured) : 0;
    const stopProfile = agent && flags.profile ? await profileCpu(agent) : undefined;
    const cpu = new CpuWindow([agent?.pid ?? process.pid]);
    const [load] = await Promise.all([
      runLoadgen(net.client, net.target, PORT, { seconds: SECONDS, concurrency: CONCURRENCY, rate }),
      setup.probe ? runLoadgen(net.client, net.target, PROBE_PORT, { seconds: SECONDS, concurrency: 1, rate: PROBE_RATE }) : undefined,
    ]);
    const used = cpu.end();
    await stopProfile?.(join(flags.profile ?? '.', `kernel-capture-${mode}-${round}.cpuprofile`));
    const run: Run = { mode, round, connPerSecond: load.rate, errors: load.errors, machineBusyPercent: used.machineBusy };
    if (!agent) return run;

    const bpfAfter = bpfPids.map(bpfProgramStats);
    const memory = memoryMiB(agent.pid);
    const capturedAtLoadEnd = Number((await agent.status()).eventsCaptured);
    // The last connections' closing handshakes, then everything drained:
    // the agent's count and the subscriber's, and only then the kernel's.
    await sleep(500);
    await agent.settledEventsCaptured();
    const report = await subscriber?.settledReport();
    const kernel = setup.counter === 'netns' ? await counter!.stop() : undefined;
    const status = await agent.status();
    run.agent = {
      cpuPercent: used.processes[0],
      systemCpuPercent: used.processesSystem[0],
      rssMiB: memory.rss,
      peakRssMiB: memory.peak,
      eventsPerSecond: (capturedAtLoadEnd - capturedBefore) / load.seconds,
      kernelDrops: Number(status.kernelDrops),
    };
    if (kernel) {
      const bpf = [
        ...bpfCostPerRun(bpfBefore[0], bpfAfter[0]),
        ...bpfCostPerRun(bpfBefore[1], bpfAfter[1]).map((c) => ({ ...c, name: `bpftrace ${c.name}` })),
      ];
      run.accounting = { ...reconcile(kernel.all, await agent.transitionCounts()), bpf };
    }
    if (kernel?.probe && report) {
      const stream = report.streams[0];
      const pairs = new Set([...kernel.probe.pairs.keys(), ...Object.keys(report.kernelPairs)]);
      run.probe = {
        kernelFired: kernel.probe.total,
        delivered: Object.values(report.kernelPairs).reduce((a, b) => a + b, 0),
        lost: stream.lostEvents,
        differing: [...pairs]
          .filter((p) => (kernel.probe!.pairs.get(p) ?? 0) !== (report.kernelPairs[p] ?? 0))
          .map((p) => `${p}: kernel ${kernel.probe!.pairs.get(p) ?? 0}, delivered ${report.kernelPairs[p] ?? 0}`),
        latencyMs: report.latencyMs,
      };
    }
    return run;
  } finally {
    await cleanUp();
  }
}

/** Microseconds of agent CPU per event captured. */
function usPerEvent(a: NonNullable<Run['agent']>): number {
  return (a.cpuPercent * 10_000) / a.eventsPerSecond;
}

function describe(run: Run): string {
  const { agent: a, accounting: c, probe: p } = run;
  return [
    `${String(run.round).padEnd(8)} ${run.mode.padEnd(11)} ${run.connPerSecond.toFixed(0).padStart(6)} conn/s`,
    a
      ? `agent ${a.cpuPercent.toFixed(1)}% CPU (${a.systemCpuPercent.toFixed(1)}% in the kernel) ${a.rssMiB.toFixed(0)} MiB, ${a.eventsPerSecond.toFixed(0)} events/s = ${usPerEvent(a).toFixed(2)} us/event, kernel drops ${a.kernelDrops}`
      : '',
    c ? `kernel fired ${c.kernelFired}, agent ${c.agentCaptured} (${c.sweepExits} TIME_WAIT exits), missing ${c.missing}` : '',
    p ? `probe ${p.delivered}/${p.kernelFired}, latency p50 ${p.latencyMs.p50.toFixed(1)} ms p99 ${p.latencyMs.p99.toFixed(1)} ms` : '',
    `machine ${run.machineBusyPercent.toFixed(0)}% busy`,
  ]
    .filter(Boolean)
    .join(' | ');
}

async function measureWithStats(mode: Mode, round: Run['round'], rate?: number): Promise<Run> {
  // Kernel run-time statistics cost a little per program run: only in the accounting run.
  return mode === 'agent+count' ? withBpfStats(() => measure(mode, round, rate)) : measure(mode, round, rate);
}

requireRoot();
const startedAt = new Date();
const machine = machineDescription();
console.log(`kernel-capture benchmark: ${machine}`);
console.log(`${ROUNDS} rounds x ${MODES.length} modes, ${SECONDS} s each, path ${PATH}, load generator concurrency ${CONCURRENCY}\n`);
const runs: Run[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < MODES.length; i++) {
      const run = await measureWithStats(MODES[(i + round - 1) % MODES.length], round);
      runs.push(run);
      console.log(describe(run));
    }
  }
  for (const mode of MODES.filter((m) => MODE_SETUPS[m].agent)) {
    const run = await measureWithStats(mode, 'moderate', MODERATE_RATE);
    runs.push(run);
    console.log(describe(run));
  }
} finally {
  await cleanUp();
}

// ---------------------------------------------------------------- report
const atMax = runs.filter((r) => r.round !== 'moderate');
const med = (mode: Mode, pick: (r: Run) => number | undefined) =>
  median(atMax.filter((r) => r.mode === mode).flatMap((r) => (pick(r) === undefined ? [] : [pick(r)!])));
/**
 * A mode's rate against the untraced run of the same round, per round: the
 * machine drifts (other work comes and goes) more between rounds than within one.
 */
const roundRatios = (mode: Mode) =>
  atMax.flatMap((r) => {
    const base = atMax.find((u) => u.mode === 'untraced' && u.round === r.round);
    return r.mode === mode && base ? [r.connPerSecond / base.connPerSecond] : [];
  });
const ratioText = (mode: Mode) => {
  const ratios = roundRatios(mode);
  if (ratios.length === 0) return '-';
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  return `${pct(median(ratios))} (${pct(Math.min(...ratios))}-${pct(Math.max(...ratios))})`;
};

console.log(`\nMaximum rate, medians of ${ROUNDS} interleaved runs; "vs untraced": median (range) of the per-round ratios:\n`);
console.log(
  table([
    ['mode', 'conn/s', 'vs untraced', 'agent CPU %', 'in kernel %', 'us/event', 'agent RSS MiB', 'events/s', 'kernel drops', 'machine busy %'],
    ...MODES.map((mode) => [
      mode,
      med(mode, (r) => r.connPerSecond),
      ratioText(mode),
      med(mode, (r) => r.agent?.cpuPercent),
      med(mode, (r) => r.agent?.systemCpuPercent),
      med(mode, (r) => (r.agent ? usPerEvent(r.agent) : undefined)),
      med(mode, (r) => r.agent?.rssMiB),
      med(mode, (r) => r.agent?.eventsPerSecond),
      med(mode, (r) => r.agent?.kernelDrops),
      med(mode, (r) => r.machineBusyPercent),
    ]),
  ]),
);

const accounted = runs.filter((r) => r.accounting);
/** Runs of the tracepoint each side's programs skipped (nested on a CPU), over the load window. */
const recursionMisses = (r: Run, bpftrace: boolean) =>
  r.accounting!.bpf.filter((b) => b.name.startsWith('bpftrace') === bpftrace && (bpftrace || b.name === 'handle_set_state')).reduce((sum, b) => sum + b.recursionMisses, 0);
console.log('\nAccounting: tracepoint firings counted by bpftrace in the same namespaces vs records the agent received (/metrics)\n');
console.log(
  table([
    ['run', 'mode', 'conn/s', 'kernel fired', 'agent records', 'TIME_WAIT exits', 'missing', 'kernel drops', 'agent recursion misses', 'bpftrace recursion misses', 'pairs differing'],
    ...accounted.map((r) => {
      const c = r.accounting!;
      return [
        String(r.round),
        r.mode,
        r.connPerSecond,
        c.kernelFired,
        c.agentCaptured,
        c.sweepExits,
        c.upTo ? `${c.missing}..${c.missing + c.upTo}` : c.missing,
        r.agent!.kernelDrops,
        recursionMisses(r, false),
        recursionMisses(r, true),
        c.differing.length,
      ];
    }),
  ]),
);
console.log(
  '"kernel fired" is bpftrace\'s count, itself short by its own recursion misses; "missing" = kernel fired - (agent records - TIME_WAIT exits).\n' +
    'When missing + bpftrace recursion misses = agent recursion misses, every lost record is one the kernel skipped running the agent\'s program for.',
);
for (const r of accounted) for (const d of r.accounting!.differing) console.log(`  ${r.round} ${r.mode}: ${d}`);

const probed = runs.filter((r) => r.probe);
console.log(`\nLatency probe: ${PROBE_RATE} conn/s to port ${PROBE_PORT} beside the load, one grpc-js subscriber filtered to it (kernel event time -> receipt in another process)\n`);
console.log(
  table([
    ['run', 'conn/s (load)', 'kernel fired', 'delivered', 'lost', 'pairs differing', 'p50 ms', 'p99 ms', 'max ms'],
    ...probed.map((r) => {
      const p = r.probe!;
      return [String(r.round), r.connPerSecond, p.kernelFired, p.delivered, p.lost, p.differing.length, p.latencyMs.p50, p.latencyMs.p99, p.latencyMs.max];
    }),
  ]),
);
for (const r of probed) for (const d of r.probe!.differing) console.log(`  ${r.round}: ${d}`);

const withBpf = accounted.filter((r) => r.accounting!.bpf.length > 0);
if (withBpf.length > 0) {
  console.log(
    '\nKernel cost of each BPF program over the load window (kernel.bpf_stats_enabled; every socket of the machine runs them, the namespace filters are inside).\n' +
      'Recursion misses: runs the kernel skipped because the program was already running on that CPU (a softirq transition interrupting a process-context one): lost records.\n',
  );
  const rows: (string | number)[][] = [['run', 'program', 'runs', 'ns/run', 'recursion misses']];
  for (const r of withBpf) for (const b of r.accounting!.bpf) rows.push([String(r.round), b.name, b.runs, b.nsPerRun, b.recursionMisses]);
  console.log(table(rows));
}

const moderate = runs.filter((r) => r.round === 'moderate');
if (moderate.length > 0) {
  console.log(`\nFixed rate ${MODERATE_RATE} conn/s:\n`);
  console.log(
    table([
      ['mode', 'conn/s', 'events/s', 'agent CPU %', 'in kernel %', 'CPU % per 10k events/s', 'agent RSS MiB', 'peak RSS MiB', 'kernel drops', 'machine busy %'],
      ...moderate.map((r) => [
        r.mode,
        r.connPerSecond,
        r.agent!.eventsPerSecond,
        r.agent!.cpuPercent,
        r.agent!.systemCpuPercent,
        (r.agent!.cpuPercent * 10_000) / r.agent!.eventsPerSecond,
        r.agent!.rssMiB,
        r.agent!.peakRssMiB,
        r.agent!.kernelDrops,
        r.machineBusyPercent,
      ]),
    ]),
  );
}

const complete = accounted.every((r) => r.agent!.kernelDrops === 0 && r.accounting!.missing === 0 && r.accounting!.upTo === 0 && r.accounting!.differing.length === 0);
// Lost for real = what bpftrace saw missing plus what it missed itself (its own recursion misses):
// the agent announces a loss when its kernel drop count (ring full + recursion misses) covers that.
const announced = accounted.every((r) => r.accounting!.upTo === 0 && r.accounting!.missing + recursionMisses(r, true) <= r.agent!.kernelDrops);
const verdict = (ok: boolean) => (accounted.length === 0 ? 'not measured' : ok ? 'yes' : 'NO');
console.log(`
Connection rate against the untraced run of the same round: agent ${ratioText('agent')}, bpftrace count-only ${ratioText('bpftrace')} (goal: agent >= 90%).
Every transition the kernel fired reached the agent, none dropped: ${verdict(complete)}.
Every transition lost was counted in the agent's kernel drops (announced to subscribers as KERNEL gaps): ${verdict(announced)}.`);

if (flags.json) {
  writeFileSync(flags.json, JSON.stringify({ startedAt, machine, seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, path: PATH, runs }, null, 2));
  console.log(`runs written to ${flags.json}`);
}
