// Events by time without an index on every event's time (schema version 4).
// An index on events.time_ns cost an extra B-tree entry per event at ingest
// (12-20% of the bytes); what reads events by time (GetStats' transition
// counts, retention) is served instead by event_minutes: per agent run and
// minute of event time, the seq range [first_seq, last_seq] holding that
// minute's events. A batch adds one or two rows (a run's events arrive in seq
// order, their times nearly so); a time window is a few rows of it, each a
// range of the events' primary key (run_id, seq).
//
// The minute of a time is time_ns / 60000000000 with integer division, which
// truncates toward zero in SQLite, PostgreSQL and JavaScript's bigint alike.
// Ranges of different minutes may overlap (times are not strictly in seq
// order): a reader keeps each event only under its own minute, so none is
// counted twice.
import type { BatchEvent } from './ingest-plan.js';
import { raw, type Sql, sql } from './sql.js';

export const MINUTE_NS = 60_000_000_000n;
/** An event `e`'s minute in SQL (a bigint constant in PostgreSQL too: it exceeds integer). */
const EVENT_MINUTE_SQL = 'e.time_ns / 60000000000';

/** The minute of a time in ns since the epoch (truncating, as the SQL does). */
export function minuteOf(ns: bigint): bigint {
  return ns / MINUTE_NS;
}

/** One event_minutes row to merge into the stored one (min first_seq, max last_seq). */
export interface MinuteSpan {
  minute: bigint;
  firstSeq: bigint;
  lastSeq: bigint;
}

/** The seq range of each minute among a batch's inserted events. */
export function minuteSpans(inserted: readonly BatchEvent[]): MinuteSpan[] {
  const spans = new Map<bigint, MinuteSpan>();
  let last: MinuteSpan | undefined;
  for (const e of inserted) {
    const minute = e.derived.timeNs / MINUTE_NS;
    const seq = e.change.seq;
    // Consecutive events nearly always share a minute: skip the map for them.
    let span = last !== undefined && last.minute === minute ? last : spans.get(minute);
    if (span === undefined) {
      span = { minute, firstSeq: seq, lastSeq: seq };
      spans.set(minute, span);
    } else {
      if (seq < span.firstSeq) span.firstSeq = seq;
      if (seq > span.lastSeq) span.lastSeq = seq;
    }
    last = span;
  }
  return [...spans.values()];
}

/**
 * FROM and WHERE parts that give the events `e` with start <= time_ns < end:
 * `SELECT ... FROM ${from} [JOIN ...] WHERE ${where} AND ...`.
 */
export function eventsInWindow(start: bigint, end: bigint): { from: Sql; where: Sql } {
  return {
    from: raw('event_minutes m JOIN events e ON e.run_id = m.run_id AND e.seq BETWEEN m.first_seq AND m.last_seq'),
    where: sql`m.minute BETWEEN ${minuteOf(start)} AND ${minuteOf(end - 1n)} AND ${raw(EVENT_MINUTE_SQL)} = m.minute
      AND e.time_ns >= ${start} AND e.time_ns < ${end}`,
  };
}
