// How many agents each collector replica should ingest, and which of its own
// it should hand to others. Pure functions of what the last heartbeat showed
// (live replicas and leases), so that every replica, looking at the same
// database, comes to the same division.
import type { ReplicaView } from '@tcpstate/store';

/** The most agents one replica takes while others are alive: ceil(agents / replicas). */
export function fairShare(agents: number, replicas: number): number {
  return Math.ceil(agents / Math.max(1, replicas));
}

/** The fleet as one replica sees it after a heartbeat. */
export interface ShareInput {
  replicaId: string;
  view: ReplicaView;
  /** Agents this replica has identified and would ingest. */
  wanted: ReadonlySet<string>;
  /** Agents whose lease this replica holds. */
  owned: ReadonlySet<string>;
  /** Agents held above the share because nobody else took them (kept, never handed over). */
  overflow: ReadonlySet<string>;
}

/**
 * The number of agents to divide: every agent with a live lease, and every
 * agent this replica would ingest (replicas are expected to discover the same
 * agents; a free one that only this replica sees still counts).
 */
export function agentCount(input: Pick<ShareInput, 'view' | 'wanted' | 'owned'>): number {
  return new Set([...input.view.leases.map((l) => l.agentId), ...input.wanted, ...input.owned]).size;
}

/**
 * Which of its agents a replica above its share hands over: as many as it
 * holds above the share, but no more than the other live replicas have room
 * for below theirs (handing over to nobody would only interrupt the stream).
 * The last ones in agent id order, so the choice is stable from one heartbeat
 * to the next; overflow agents are not handed over.
 */
export function surplusAgents(input: ShareInput): string[] {
  const share = fairShare(agentCount(input), input.view.replicas.length);
  const surplus = input.owned.size - share;
  if (surplus <= 0) return [];
  const held = new Map<string, number>(input.view.replicas.map((r) => [r, 0]));
  for (const lease of input.view.leases) held.set(lease.replicaId, (held.get(lease.replicaId) ?? 0) + 1);
  let room = 0;
  for (const [replica, count] of held) {
    if (replica !== input.replicaId && input.view.replicas.includes(replica)) room += Math.max(0, share - count);
  }
  const candidates = [...input.owned].filter((a) => !input.overflow.has(a)).sort();
  return candidates.slice(Math.max(0, candidates.length - Math.min(surplus, room)));
}
