// What writing connection rows after ingest saves (issue 5): the replay's
// events (pre-generated batches) stored by one SQLite store with the rows
// written at ingest (the baseline) and by one with the rows left pending and
// written in one go by a query, each phase timed, the two tables compared;
// run under --cpu-prof to see inside.
//
//   scripts/node24 node [--cpu-prof --cpu-prof-dir DIR] test/bench/derive-profile.ts [--events 600000]
//
// Node runs this file by stripping types: erasable TypeScript only, local imports name the .ts file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { StateChange } from '@tcpstate/proto';
import { SQLITE_FILE, SqliteStore } from '@tcpstate/store';
import Database from 'better-sqlite3';
import { AgentReplay, loadRecording } from './store-replay-stream.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '600000' },
    agents: { type: 'string', default: '8' },
    fixture: { type: 'string', default: new URL('./fixtures/real-events.binpb.gz', import.meta.url).pathname },
  },
});
const EVENTS = Number(values.events);
const AGENTS = Number(values.agents);
const recording = await loadRecording(values.fixture);
const spanNs = 3600n * 1_000_000_000n;
const plan = { agents: AGENTS, events: EVENTS, spanNs, startNs: BigInt(Date.now()) * 1_000_000n - spanNs - recording.spanNs - 60_000_000_000n };

// The batches first, so that generating them is not in what is timed.
const batches: { agentId: string; bootId: string; events: StateChange[] }[] = [];
const replays = Array.from({ length: AGENTS }, (_, a) => new AgentReplay(recording, a, plan));
for (let active = replays; active.length > 0; ) {
  active = active.filter((agent) => {
    const events = agent.nextBatch(1000);
    if (events.length > 0) batches.push({ agentId: agent.agentId, bootId: agent.bootId, events });
    return events.length > 0;
  });
}

/**
 * Stores every batch and then makes the rows current, timed apart. derivationTrail 0: each ingest writes
 * its batch's rows before it returns (as before schema version 6: the baseline); unbounded: the rows
 * wait, and one query writes them all.
 */
async function run(name: string, derivationTrail: number): Promise<{ seconds: number; rows: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-derive-profile-'));
  try {
    const store = SqliteStore.open(dir, { derivationTrail, backgroundDerivation: false });
    let started = performance.now();
    let n = 0;
    // Rows only inside the calls timed: past the trail, and the query below.
    for (const b of batches) n += (await store.ingest(b.agentId, b.bootId, { events: b.events, gaps: [] }, `host-${b.agentId}`)).inserted;
    const ingestSeconds = (performance.now() - started) / 1000;
    const pending = await store.rowsPending();
    started = performance.now();
    await store.queryTimeline({ start: new Date(0), end: new Date(1) });
    const deriveSeconds = (performance.now() - started) / 1000;
    const total = ingestSeconds + deriveSeconds;
    console.log(
      `${name}: ${n} events stored in ${ingestSeconds.toFixed(2)} s (${((ingestSeconds / n) * 1e6).toFixed(1)} µs an event), ` +
        `then the rows of ${pending} in ${deriveSeconds.toFixed(2)} s (${((deriveSeconds / n) * 1e6).toFixed(1)} µs an event): ` +
        `${Math.round(n / total)} events/s with the rows`,
    );
    await store.close();
    // The same rows either way: a digest of the connections table.
    const db = new Database(join(dir, SQLITE_FILE), { readonly: true });
    const rows = db.prepare(`SELECT count(*) AS n, sum(segment_count) AS segments, sum(length(segments)) AS bytes, sum(open) AS open,
      sum(last_seen_ns % 1000003) AS seen, sum(entered_states) AS entered FROM connections`).get();
    db.close();
    return { seconds: total, rows: JSON.stringify(rows) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const inline = await run('rows at ingest (baseline)', 0);
const deferred = await run('rows after ingest', Number.MAX_SAFE_INTEGER);
console.log(`connection rows: ${deferred.rows}${deferred.rows === inline.rows ? ', the same both ways' : `, DIFFERENT from the baseline's ${inline.rows}`}`);
console.log(`rows after ingest / at ingest: ${(inline.seconds / deferred.seconds).toFixed(2)}x the events/s`);
if (deferred.rows !== inline.rows) process.exitCode = 1;
