// Retention by age, as statements each back-end runs in one transaction (in
// this order: the segments are counted before their connection rows go).
import { type Sql, sql } from './sql.js';

/**
 * A connection is dropped when it was last seen before the cut-off and is
 * closed, or belongs to an agent run that a newer boot has replaced (its
 * sockets are gone even if their CLOSE was never seen).
 */
function staleConnection(cutoffNs: bigint): Sql {
  // first_seen_ns <= last_seen_ns: the condition on it makes the old rows a range of connections_first_seen.
  return sql`c.first_seen_ns < ${cutoffNs} AND c.last_seen_ns < ${cutoffNs} AND (NOT c.open OR EXISTS (
    SELECT 1 FROM runs own JOIN runs newer ON newer.agent_id = own.agent_id
    WHERE own.run_id = c.run_id AND newer.last_time_ns > own.last_time_ns))`;
}

/**
 * The statements of one retention pass, named by what they count: a DELETE
 * counts the rows it changed, a SELECT (counts: true) answers the number in
 * its column n (segments are stored inside their connection rows); a
 * statement without `what` counts nothing.
 */
export function retentionStatements(
  cutoffNs: bigint,
): { what?: 'events' | 'gaps' | 'segments' | 'connections'; statement: Sql; counts?: true }[] {
  const stale = staleConnection(cutoffNs);
  return [
    // Events go a block at a time (event-block.ts), once the newest of the block is older than the cut-off:
    // an event outlives it by at most MAX_BLOCK_SPAN_NS (a second).
    {
      what: 'events',
      statement: sql`SELECT coalesce(SUM(count), 0) AS n FROM event_blocks WHERE last_time_ns < ${cutoffNs}`,
      counts: true,
    },
    { statement: sql`DELETE FROM event_blocks WHERE last_time_ns < ${cutoffNs}` },
    { what: 'gaps', statement: sql`DELETE FROM gaps WHERE time_ns < ${cutoffNs}` },
    { what: 'segments', statement: sql`SELECT coalesce(SUM(c.segment_count), 0) AS n FROM connections c WHERE ${stale}`, counts: true },
    {
      what: 'connections',
      statement: sql`DELETE FROM connections WHERE (run_id, cookie) IN (SELECT c.run_id, c.cookie FROM connections c WHERE ${stale})`,
    },
  ];
}
