// Retention by age, as statements each back-end runs in one transaction (in
// this order: the segments are counted before their connection rows go).
import { minuteOf } from './event-minutes.js';
import { type Sql, sql } from './sql.js';

/**
 * A connection is dropped when it was last seen before the cut-off and is
 * closed, or belongs to an agent run that a newer boot has replaced (its
 * sockets are gone even if their CLOSE was never seen).
 */
function staleConnection(cutoffNs: bigint): Sql {
  return sql`c.last_seen_ns < ${cutoffNs} AND (NOT c.open OR EXISTS (
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
  const cutoffMinute = minuteOf(cutoffNs);
  return [
    // Events are found through event_minutes (event-minutes.ts): the minutes up to the cut-off's hold every older event.
    {
      what: 'events',
      statement: sql`DELETE FROM events WHERE (run_id, seq) IN (SELECT e.run_id, e.seq FROM event_minutes m
        JOIN events e ON e.run_id = m.run_id AND e.seq BETWEEN m.first_seq AND m.last_seq
        WHERE m.minute <= ${cutoffMinute} AND e.time_ns < ${cutoffNs})`,
    },
    // A minute before the cut-off's has no event left; the cut-off's own may still have some.
    { statement: sql`DELETE FROM event_minutes WHERE minute < ${cutoffMinute}` },
    { what: 'gaps', statement: sql`DELETE FROM gaps WHERE time_ns < ${cutoffNs}` },
    { what: 'segments', statement: sql`SELECT coalesce(SUM(c.segment_count), 0) AS n FROM connections c WHERE ${stale}`, counts: true },
    {
      what: 'connections',
      statement: sql`DELETE FROM connections WHERE (run_id, cookie) IN (SELECT c.run_id, c.cookie FROM connections c WHERE ${stale})`,
    },
  ];
}
