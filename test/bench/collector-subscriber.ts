// A real collector as the agent-stream benchmark's subscriber (issue 5): the
// collector process (apps/collector, SQLite in a temp dir) subscribes to the
// bench agent, and what it stored is read back from its store. It answers as
// the grpc-js subscriber process does (SubscriberProcess), so the benchmark
// compares both against the kernel's count the same way.
//
// Node runs this file by stripping types: erasable TypeScript only, local imports name the .ts file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GapReason, Observation, TcpState } from '@tcpstate/proto';
import { decodeEventBlock, SQLITE_FILE } from '@tcpstate/store';
import { type RunningProgram, startProgram } from '@tcpstate/testbed';
import Database from 'better-sqlite3';
import { type BenchAgent, settled, sleep, within } from './harness.ts';
import type { SubscriberProcess } from './harness.ts';
import type { SubscriberReport } from './subscriber-process.ts';

/**
 * Starts a collector on `agent` and waits until the agent lists its stream.
 * `profileDir`: the collector writes a V8 CPU profile there when it stops.
 */
export async function startCollectorSubscriber(agent: BenchAgent, profileDir?: string): Promise<SubscriberProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-bench-collector-'));
  const saved = process.env.NODE_OPTIONS;
  if (profileDir) process.env.NODE_OPTIONS = `${saved ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`.trim();
  let collector: RunningProgram;
  try {
    collector = await startProgram('collector', ['--agent', agent.program.grpcAddress, '--store', dir, '--replica-id', 'bench']);
  } finally {
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
  }
  const deadline = Date.now() + 30_000;
  while ((await agent.status()).subscribers.length < 1) {
    if (Date.now() > deadline) {
      await collector.stop('SIGKILL');
      throw new Error(`the collector did not subscribe to the agent within 30 s:\n${collector.output().slice(-2000)}`);
    }
    await sleep(100);
  }

  // Stored so far, from the collector's own counters (events, and gap records).
  const counts = async () => {
    const response = await fetch(`http://${collector.httpAddress}/metrics`, { signal: AbortSignal.timeout(15_000) });
    const text = await response.text();
    const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[2]), 0);
    return {
      events: sum('tcpstate_collector_events_stored_total'),
      lost: sum('tcpstate_collector_gaps_stored_total'),
      rowsPending: sum('tcpstate_collector_rows_pending'),
    };
  };

  // What the store holds, read beside the running collector (WAL lets a reader in).
  const report = async (): Promise<SubscriberReport> => {
    const db = new Database(join(dir, SQLITE_FILE), { readonly: true });
    try {
      db.defaultSafeIntegers(true);
      const kernelPairs: Record<string, number> = {};
      let events = 0;
      for (const blob of db.prepare('SELECT events FROM event_blocks').pluck().iterate() as Iterable<Uint8Array>) {
        for (const e of decodeEventBlock(blob)) {
          events++;
          if (e.observedBy !== Observation.TRACEPOINT && e.observedBy !== Observation.HANDOVER) continue;
          // As the grpc-js subscriber counts: a hand-over's X -> TIME_WAIT is the tracepoint's X -> CLOSE.
          const pair = `${e.oldState}->${e.observedBy === Observation.HANDOVER ? TcpState.CLOSE : e.newState}`;
          kernelPairs[pair] = (kernelPairs[pair] ?? 0) + 1;
        }
      }
      const byReason = db.prepare('SELECT reason, count(*) AS gaps, sum(count) AS events FROM gaps GROUP BY reason').all() as { reason: bigint; gaps: bigint; events: bigint }[];
      console.log(`  collector's stored gaps: ${byReason.map((g) => `${GapReason[Number(g.reason)]} ${g.gaps} (${g.events} events)`).join(', ') || 'none'}`);
      const kernelLost = Number(byReason.find((g) => Number(g.reason) === GapReason.KERNEL)?.events ?? 0);
      // Lost for the collector (its queue at the agent overflowed, or it resumed after the replay window moved on).
      const otherLost = byReason.reduce((n, g) => n + (Number(g.reason) === GapReason.KERNEL ? 0 : Number(g.events)), 0);
      return {
        streams: [{ events, byObservation: [], gaps: 0, lostEvents: otherLost, kernelLostEvents: kernelLost }],
        kernelPairs,
        // The collector does not time receipt; its ingest lag is on /metrics.
        latencyMs: { count: 0, p50: NaN, p99: NaN, max: NaN },
        cpuSeconds: NaN,
        rssMiB: NaN,
      };
    } finally {
      db.close();
    }
  };

  return {
    pid: collector.child.pid!,
    report,
    counts,
    settledReport: (quietMs = 500) => settled(counts, report, 'the collector', quietMs),
    rowsPending: async () => (await counts()).rowsPending,
    async close() {
      try {
        const code = await within(20_000, 'the collector stopping', collector.stop('SIGTERM'));
        if (code !== 0) throw new Error(`the collector exited with ${code}:\n${collector.output().slice(-2000)}`);
      } finally {
        if (collector.child.exitCode === null) collector.child.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
