// The answer to a replica's heartbeat, built the same way by both back-ends
// from one query's rows: a row with no owner is a live replica, a row with an
// owner is a live lease (agent id, replica id).
import type { ReplicaView } from './event-store.js';
import type { Row } from './sql.js';

/** Rows of (id, owner): owner NULL for a replica, the holding replica for a lease. */
export function replicaViewOfRows(rows: readonly Row[]): ReplicaView {
  const replicas = new Set<string>();
  const leases: ReplicaView['leases'] = [];
  for (const row of rows) {
    if (row.owner === null || row.owner === undefined) replicas.add(String(row.id));
    else leases.push({ agentId: String(row.id), replicaId: String(row.owner) });
  }
  leases.sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
  return { replicas: [...replicas].sort(), leases };
}
