// The checks every collector fault test ends with: the store has caught up
// with each agent, and each agent run's seqs are stored exactly once.
import { GapReason } from '@tcpstate/proto';
import { expect } from 'vitest';
import type { GrpcJsAgent } from '../../support/grpc-js-agent.js';
import type { CollectorClient } from './collector-client.js';
import { expectedSeqs, type StoredRun, storedRuns } from './stored-runs.js';

/** An agent as the checks know it: its id and a client of its own. */
export interface WatchedAgent {
  agentId: string;
  client: GrpcJsAgent;
}

/**
 * Waits until, per ListHosts, the store holds every event each agent had
 * captured when asked (same boot_id, last_seq at least the agent's newest).
 */
export async function caughtUp(collector: CollectorClient, agents: WatchedAgent[], timeoutMs = 30_000, log = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const wanted = await Promise.all(agents.map(async (a) => (await a.client.getStatus()) ));
    const listed = (await collector.listHosts()).hosts;
    const behind = agents.filter((a, i) => {
      const host = listed.find((l) => l.agentId === a.agentId);
      return !host || host.bootId !== wanted[i].bootId || host.lastSeq < wanted[i].eventsCaptured;
    });
    if (behind.length === 0) return;
    if (Date.now() > deadline) {
      const hosts = listed.map((l) => `${l.agentId} boot ${l.bootId} seq ${l.lastSeq} state ${l.state} owner ${l.owner} ${l.lastError}`);
      const agentsNow = wanted.map((w) => `${w.agentId} boot ${w.bootId} seq ${w.eventsCaptured}`);
      throw new Error(`the store did not catch up with ${behind.map((a) => a.agentId).join(', ')}:\n${hosts.join('\n')}\nagents:\n${agentsNow.join('\n')}\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Every run of every agent holds seqs 1..last exactly once, and no gap but kernel ones (transitions the
 * kernel itself skipped carry no seq and say nothing about ingest). Returns the runs.
 */
export function expectEverySeqOnce(store: string): StoredRun[] {
  const runs = storedRuns(store);
  expect(runs.length).toBeGreaterThan(0);
  for (const run of runs) {
    expect(run.gaps.filter((g) => g.reason !== GapReason.KERNEL), `gaps of ${run.agentId} ${run.bootId}`).toEqual([]);
    expect(run.seqs, `seqs of ${run.agentId} ${run.bootId}`).toEqual(expectedSeqs(run));
  }
  return runs;
}

/** The number of events stored, all runs together. */
export function storedEventCount(store: string): number {
  return storedRuns(store).reduce((n, r) => n + r.seqs.length, 0);
}

/** Polls `check` until it returns a value, or fails after timeoutMs saying what was awaited. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
