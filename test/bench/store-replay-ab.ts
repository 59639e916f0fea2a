// A/B of SQLite ingest between builds of libs/store, made for a shared,
// noisy machine. The ingest is store-replay.ts's (the same replay, batches,
// agents and measure: the time inside EventStore.ingest, generator left out),
// with one twist: every build gets every batch, one right after the other
// (the order rotating per batch), each into its own store in a fresh data
// directory. Whatever else runs on the machine slows all builds alike, so the
// ratios hold even when the absolute rates swing by half between runs (they
// did here: one build measured 29k and 54k events/s in consecutive runs).
// The builds share one process (and its garbage collector); --rounds repeats
// the whole run, each in a new process, and the report gives the medians.
//
//   scripts/node24 node test/bench/store-replay-ab.ts --build old=OLD/dist/index.js --build new=libs/store/dist/index.js
//     [--build NAME=PATH ...] [--events 1000000] [--rounds 3] [--agents 8] [--hours 6] [--batch 1000] [--fixture FILE]
//     [--postgres]
//
// --postgres: PostgreSQL instead (libs/testbed's startPostgres, durable, a
// database per build); the agents then take turns batch by batch instead of
// running concurrently, so that no two calls overlap and each build's time is
// its own wall clock (PostgreSQL works outside the calling process).
//
// To keep the build before a change: copy libs/store/dist and package.json to
// a directory beside a node_modules symlink to the workspace's (so its imports
// resolve), e.g. /tmp/ab/old/{dist,package.json} and /tmp/ab/node_modules.
//
// Node runs this file by stripping types: erasable TypeScript only, local imports name the .ts file.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EventStore, StoreOpenOptions } from '@tcpstate/store';
import { startPostgres, type TestPostgres } from '@tcpstate/testbed';
import type { StateChange } from '@tcpstate/proto';
import { AgentReplay, loadRecording, type ReplayPlan } from './store-replay-stream.ts';

const { values } = parseArgs({
  options: {
    build: { type: 'string', multiple: true, default: [] },
    /** Internal: run one round in this process and print its result as JSON. */
    round: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    events: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    agents: { type: 'string', default: '8' },
    hours: { type: 'string', default: '6' },
    batch: { type: 'string', default: '1000' },
    fixture: { type: 'string', default: new URL('./fixtures/real-events.binpb.gz', import.meta.url).pathname },
  },
});

interface Build {
  name: string;
  module: string;
}

/** Each build's result of one round: events per second of the time inside its ingest calls and close, and the close's share. */
type RoundResult = Record<string, { rate: number; closeSeconds: number }>;

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function parseBuilds(): Build[] {
  return values.build.map((b) => {
    const at = b.indexOf('=');
    if (at <= 0) throw new Error(`--build ${b}: give NAME=PATH/index.js`);
    return { name: b.slice(0, at), module: b.slice(at + 1) };
  });
}

/** One round: the replay into one store per build, each batch into all of them in turn. */
async function runRound(builds: Build[]): Promise<RoundResult> {
  const events = Number(values.events);
  const agents = Number(values.agents);
  const batchSize = Number(values.batch);
  const spanNs = BigInt(Math.round(Number(values.hours) * 3600)) * 1_000_000_000n;
  const recording = await loadRecording(values.fixture);
  const plan: ReplayPlan = { agents, events, spanNs, startNs: BigInt(Date.now()) * 1_000_000n - spanNs - recording.spanNs - 60_000_000_000n };
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-bench-ab-'));
  const postgres: TestPostgres | undefined = values.postgres ? await startPostgres({ durable: true }) : undefined;
  try {
    const stores: { name: string; store: EventStore; ms: number; closeMs: number; inserted: number }[] = [];
    for (const build of builds) {
      const { openStore } = (await import(resolve(build.module))) as { openStore: (target: string, options?: StoreOpenOptions) => Promise<EventStore> };
      const target = postgres ? await postgres.createDatabase(build.name) : join(dir, build.name);
      // SQLite since schema version 6 writes connection rows after ingest: only inside calls here (past its trail, and the
      // query below), so that all of it is timed; builds from before ignore the option.
      stores.push({ name: build.name, store: await openStore(target, { backgroundDerivation: false }), ms: 0, closeMs: 0, inserted: 0 });
    }
    let turn = 0;
    const ingestEverywhere = async (agent: AgentReplay, batch: StateChange[]) => {
      const first = turn++; // agents interleave at every await: read the shared counter once
      for (let k = 0; k < stores.length; k++) {
        const s = stores[(k + first) % stores.length];
        const called = performance.now();
        const result = await s.store.ingest(agent.agentId, agent.bootId, { events: batch, gaps: [] }, `host-${agent.agentId}`);
        s.ms += performance.now() - called;
        if (result.inserted !== batch.length) throw new Error(`${s.name}: ${result.inserted} of a batch of ${batch.length} inserted`);
        s.inserted += result.inserted;
      }
    };
    const replays = Array.from({ length: agents }, (_, a) => new AgentReplay(recording, a, plan));
    if (postgres) {
      // One call at a time: the agents take turns.
      for (let active = replays; active.length > 0; ) {
        const next: AgentReplay[] = [];
        for (const agent of active) {
          const batch = agent.nextBatch(batchSize);
          if (batch.length === 0) continue;
          await ingestEverywhere(agent, batch);
          next.push(agent);
        }
        active = next;
      }
    } else {
      await Promise.all(
        replays.map(async (agent) => {
          for (let batch = agent.nextBatch(batchSize); batch.length > 0; batch = agent.nextBatch(batchSize)) {
            await ingestEverywhere(agent, batch);
            await new Promise((done) => setImmediate(done));
          }
        }),
      );
    }
    // The rows still pending (a query writes them first) and the close are timed too. Closing checkpoints the
    // WAL: what a run left for the next checkpoint is counted, so that builds with different checkpoint intervals compare fairly.
    for (const s of stores) {
      const querying = performance.now();
      await s.store.queryTimeline({ start: new Date(0), end: new Date(1) });
      s.ms += performance.now() - querying;
    }
    for (const s of stores) {
      const closing = performance.now();
      await s.store.close();
      s.closeMs = performance.now() - closing;
    }
    return Object.fromEntries(stores.map((s) => [s.name, { rate: s.inserted / ((s.ms + s.closeMs) / 1000), closeSeconds: s.closeMs / 1000 }]));
  } finally {
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const builds = parseBuilds();
if (builds.length < 1) throw new Error('give the builds: --build old=DIST/index.js --build new=DIST/index.js');
if (values.round) {
  console.log(JSON.stringify(await runRound(builds)));
} else {
  const passOn = ['--events', values.events, '--agents', values.agents, '--hours', values.hours, '--batch', values.batch, '--fixture', values.fixture];
  if (values.postgres) passOn.push('--postgres');
  console.log(`${builds.map((b) => `${b.name} = ${b.module}`).join('\n')}`);
  console.log(`${fmt(Number(values.events))} events into each, ${values.rounds} rounds, load average at start ${loadAverage()}`);
  const rounds: RoundResult[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const args = [new URL(import.meta.url).pathname, '--round', ...builds.flatMap((b) => ['--build', `${b.name}=${b.module}`]), ...passOn];
    const out = execFileSync(process.execPath, args, { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as RoundResult;
    rounds.push(result);
    const first = result[builds[0].name].rate;
    const each = (b: Build) => `${b.name} ${fmt(result[b.name].rate)} events/s (${(result[b.name].rate / first).toFixed(3)}x, close ${result[b.name].closeSeconds.toFixed(1)} s)`;
    console.log(`round ${round + 1}: ${builds.map(each).join(', ')}; load ${loadAverage()}`);
  }
  for (const b of builds) {
    const rates = rounds.map((r) => r[b.name].rate);
    const ratios = rounds.map((r) => r[b.name].rate / r[builds[0].name].rate);
    console.log(`${b.name.padEnd(12)} median ${fmt(median(rates))} events/s, median ratio to ${builds[0].name} ${median(ratios).toFixed(3)}`);
  }
  console.log(`load average at the end ${loadAverage()}`);
}
