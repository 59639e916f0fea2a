// The schema, as numbered migrations per back-end. A migration is applied once,
// in its own transaction, and recorded in schema_migrations; never edit one that
// has shipped: add the next number.
//
// Tables (same columns in both back-ends):
//   runs         one per agent run (agent_id, boot_id): its integer run_id, the highest
//                seq and the time range stored (the resume cursor). The other tables
//                name the run by run_id, so rows and indexes do not repeat two strings.
//   events       every StateChange, once: key (run_id, seq); since version 5 event_blocks
//   event_blocks the StateChanges of one ingested batch as one BLOB (event-block.ts), once
//                each (run_id, seq): the block's seq and time ranges select it
//                (version 6: `derived` says whether its connection rows are written yet)
//   connections  the derived row per (run_id, cookie), kept current at ingest (SQLite, since
//                version 6: by a pass after ingest, which every query waits for)
//   segments     a connection's state segments, key (run_id, cookie, idx); since version 3
//                they are a BLOB in the connection row instead (segment-codec.ts)
//   event_minutes  per run and minute of event time, the seq range of that minute's events
//                (versions 4 only: event_blocks carry their time range)
//   gaps         losses reported by agents
//   hosts        what the collector knows of each agent (hostname, address, strategies)
//   leases       which collector replica ingests which agent, until when
//   replicas     which collector replicas are alive, until when (their heartbeat, for balancing)
//   store_meta   key/value: the page-token signing key
// Times are ns since the epoch; cookies are uint64 stored as the int64 with the same bits.

/** One schema change. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** A data step in code, run after `sql` (same transaction); each back-end implements it. */
  convert?: 'inline-segments' | 'event-blocks';
  /** SQL run after the data step. */
  finish?: string;
}

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, events, connections, segments, gaps, hosts, leases',
    sql: `
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
  run_id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, boot_id TEXT NOT NULL, last_seq INTEGER NOT NULL,
  first_time_ns INTEGER NOT NULL, last_time_ns INTEGER NOT NULL,
  UNIQUE (agent_id, boot_id)
);
CREATE TABLE events (
  run_id INTEGER NOT NULL, seq INTEGER NOT NULL,
  time_ns INTEGER NOT NULL, monotonic_ns INTEGER NOT NULL, cookie INTEGER NOT NULL, family INTEGER NOT NULL,
  local_address TEXT NOT NULL, local_port INTEGER NOT NULL, remote_address TEXT NOT NULL, remote_port INTEGER NOT NULL,
  old_state INTEGER NOT NULL, new_state INTEGER NOT NULL, side INTEGER NOT NULL, time_in_old_state_ns INTEGER,
  pid INTEGER NOT NULL, comm TEXT NOT NULL, cgroup_id INTEGER NOT NULL, netns INTEGER NOT NULL,
  observed_by INTEGER NOT NULL, time_uncertainty_ns INTEGER,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_connection ON events (run_id, cookie);
CREATE INDEX events_time ON events (time_ns);
CREATE TABLE connections (
  run_id INTEGER NOT NULL, cookie INTEGER NOT NULL, family INTEGER NOT NULL,
  local_address TEXT NOT NULL, local_port INTEGER NOT NULL, remote_address TEXT NOT NULL, remote_port INTEGER NOT NULL,
  local_key BLOB, remote_key BLOB, side INTEGER NOT NULL, pid INTEGER NOT NULL, comm TEXT NOT NULL, netns INTEGER NOT NULL,
  first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL, open INTEGER NOT NULL,
  time_wait_observed_by INTEGER NOT NULL, entered_states INTEGER NOT NULL, left_states INTEGER NOT NULL,
  last_seq INTEGER NOT NULL, segment_count INTEGER NOT NULL,
  PRIMARY KEY (run_id, cookie)
);
CREATE INDEX connections_first_seen ON connections (first_seen_ns, run_id, cookie);
CREATE INDEX connections_last_seen ON connections (last_seen_ns, first_seen_ns, run_id, cookie);
CREATE INDEX connections_open ON connections (first_seen_ns) WHERE open;
CREATE INDEX connections_endpoints ON connections (local_key, local_port, remote_key, remote_port);
CREATE TABLE segments (
  run_id INTEGER NOT NULL, cookie INTEGER NOT NULL, idx INTEGER NOT NULL,
  state INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER,
  start_observed_by INTEGER NOT NULL, end_observed_by INTEGER NOT NULL, approximate INTEGER NOT NULL,
  PRIMARY KEY (run_id, cookie, idx)
) WITHOUT ROWID;
CREATE INDEX segments_state_start ON segments (state, start_ns);
CREATE INDEX segments_end ON segments (end_ns);
CREATE TABLE gaps (
  run_id INTEGER NOT NULL, reason INTEGER NOT NULL, count INTEGER NOT NULL,
  first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, time_ns INTEGER NOT NULL, message TEXT NOT NULL,
  UNIQUE (run_id, reason, first_seq, last_seq, time_ns)
);
CREATE INDEX gaps_time ON gaps (time_ns);
CREATE TABLE hosts (
  agent_id TEXT PRIMARY KEY, hostname TEXT NOT NULL, address TEXT NOT NULL, boot_id TEXT NOT NULL,
  strategies TEXT NOT NULL, updated_ns INTEGER NOT NULL
);
CREATE TABLE leases (agent_id TEXT PRIMARY KEY, replica_id TEXT NOT NULL, expires_ns INTEGER NOT NULL);
`,
  },
  {
    version: 2,
    name: 'replica heartbeats',
    sql: `CREATE TABLE replicas (replica_id TEXT PRIMARY KEY, expires_ns INTEGER NOT NULL);`,
  },
  {
    version: 3,
    name: 'segments inline in their connection rows; connections without rowid; no events index by connection',
    // The connection table is rebuilt WITHOUT ROWID (its key is the table, no
    // separate key index); segments move into a BLOB column (segment-codec.ts):
    // the segments table and its two indexes cost more than the events.
    // connections_long holds the connections that lived longer than two
    // minutes (queries.ts, overlapParts), for windows' long-lived connections. The
    // index of events by connection served only the rare rebuild, which now
    // reads the connection's seq range [first_seq, last_seq] of its run.
    sql: `
CREATE TABLE connections_v3 (
  run_id INTEGER NOT NULL, cookie INTEGER NOT NULL, family INTEGER NOT NULL,
  local_address TEXT NOT NULL, local_port INTEGER NOT NULL, remote_address TEXT NOT NULL, remote_port INTEGER NOT NULL,
  local_key BLOB, remote_key BLOB, side INTEGER NOT NULL, pid INTEGER NOT NULL, comm TEXT NOT NULL, netns INTEGER NOT NULL,
  first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL, open INTEGER NOT NULL,
  time_wait_observed_by INTEGER NOT NULL, entered_states INTEGER NOT NULL, left_states INTEGER NOT NULL,
  first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, segment_count INTEGER NOT NULL, segments BLOB,
  PRIMARY KEY (run_id, cookie)
) WITHOUT ROWID;
INSERT INTO connections_v3 SELECT run_id, cookie, family, local_address, local_port, remote_address, remote_port,
  local_key, remote_key, side, pid, comm, netns, first_seen_ns, last_seen_ns, open, time_wait_observed_by,
  entered_states, left_states, 0, last_seq, segment_count, NULL FROM connections;
DROP TABLE connections;
ALTER TABLE connections_v3 RENAME TO connections;
CREATE INDEX connections_first_seen ON connections (first_seen_ns, run_id, cookie);
CREATE INDEX connections_last_seen ON connections (last_seen_ns, first_seen_ns, run_id, cookie);
CREATE INDEX connections_open ON connections (first_seen_ns) WHERE open;
CREATE INDEX connections_endpoints ON connections (local_key, local_port, remote_key, remote_port);
CREATE INDEX connections_long ON connections (last_seen_ns, first_seen_ns) WHERE last_seen_ns - first_seen_ns > 120000000000;
DROP INDEX events_connection;
`,
    convert: 'inline-segments',
    finish: 'DROP TABLE segments;',
  },
  {
    version: 4,
    name: 'events found by time through event_minutes instead of an index on every event',
    // The index on events.time_ns was an extra B-tree entry per event at
    // ingest (12-20% of the bytes) for the few readers of events by time
    // (GetStats, retention): event_minutes serves them (event-minutes.ts).
    sql: `
CREATE TABLE event_minutes (
  minute INTEGER NOT NULL, run_id INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  PRIMARY KEY (minute, run_id)
) WITHOUT ROWID;
INSERT INTO event_minutes SELECT time_ns / 60000000000, run_id, min(seq), max(seq) FROM events GROUP BY time_ns / 60000000000, run_id;
DROP INDEX events_time;
`,
  },
  {
    version: 5,
    name: 'events as one block per ingested batch; no index on connections.last_seen_ns',
    // A row per event cost as much as everything else at ingest (event-block.ts,
    // BENCHMARKS.md); blocks are selected by seq range (dedup at ingest, the
    // rare rebuild) and by time range (GetStats, retention). The index on
    // last_seen_ns changed with nearly every update of a connection row:
    // windows find connections by first_seen_ns instead (queries.ts, overlapParts).
    sql: `
CREATE TABLE event_blocks (
  run_id INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  first_time_ns INTEGER NOT NULL, last_time_ns INTEGER NOT NULL, count INTEGER NOT NULL, events BLOB NOT NULL,
  PRIMARY KEY (run_id, first_seq)
);
CREATE INDEX event_blocks_seq ON event_blocks (run_id, last_seq, first_seq);
CREATE INDEX event_blocks_time ON event_blocks (last_time_ns);
DROP INDEX connections_last_seen;
`,
    convert: 'event-blocks',
    finish: 'DROP TABLE events; DROP TABLE event_minutes;',
  },
  {
    version: 6,
    name: 'connection rows derived after ingest',
    // Ingest stores an agent's events (blocks, gaps, the cursor) and leaves the
    // connection rows, most of its cost, to a pass that may trail it during a
    // burst (sqlite-store.ts, "Deriving connection rows"); a block is derived
    // once, in the transaction that writes its rows. Stored blocks are derived.
    sql: `
ALTER TABLE event_blocks ADD COLUMN derived INTEGER NOT NULL DEFAULT 1;
CREATE INDEX event_blocks_underived ON event_blocks (run_id, first_seq) WHERE derived = 0;
`,
  },
];

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, events, connections, segments, gaps, hosts, leases',
    sql: `
CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE runs (
  run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, agent_id text NOT NULL, boot_id text NOT NULL,
  last_seq bigint NOT NULL, first_time_ns bigint NOT NULL, last_time_ns bigint NOT NULL,
  UNIQUE (agent_id, boot_id)
);
CREATE TABLE events (
  run_id bigint NOT NULL, seq bigint NOT NULL,
  time_ns bigint NOT NULL, monotonic_ns bigint NOT NULL, cookie bigint NOT NULL, family smallint NOT NULL,
  local_address text NOT NULL, local_port integer NOT NULL, remote_address text NOT NULL, remote_port integer NOT NULL,
  old_state smallint NOT NULL, new_state smallint NOT NULL, side smallint NOT NULL, time_in_old_state_ns bigint,
  pid bigint NOT NULL, comm text NOT NULL, cgroup_id bigint NOT NULL, netns bigint NOT NULL,
  observed_by smallint NOT NULL, time_uncertainty_ns bigint,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX events_connection ON events (run_id, cookie);
CREATE INDEX events_time ON events (time_ns);
CREATE TABLE connections (
  run_id bigint NOT NULL, cookie bigint NOT NULL, family smallint NOT NULL,
  local_address text NOT NULL, local_port integer NOT NULL, remote_address text NOT NULL, remote_port integer NOT NULL,
  local_key bytea, remote_key bytea, side smallint NOT NULL, pid bigint NOT NULL, comm text NOT NULL, netns bigint NOT NULL,
  first_seen_ns bigint NOT NULL, last_seen_ns bigint NOT NULL, open boolean NOT NULL,
  time_wait_observed_by smallint NOT NULL, entered_states integer NOT NULL, left_states integer NOT NULL,
  last_seq bigint NOT NULL, segment_count integer NOT NULL,
  PRIMARY KEY (run_id, cookie)
);
CREATE INDEX connections_first_seen ON connections (first_seen_ns, run_id, cookie);
CREATE INDEX connections_last_seen ON connections (last_seen_ns, first_seen_ns, run_id, cookie);
CREATE INDEX connections_open ON connections (first_seen_ns) WHERE open;
CREATE INDEX connections_endpoints ON connections (local_key, local_port, remote_key, remote_port);
CREATE TABLE segments (
  run_id bigint NOT NULL, cookie bigint NOT NULL, idx integer NOT NULL,
  state smallint NOT NULL, start_ns bigint NOT NULL, end_ns bigint,
  start_observed_by smallint NOT NULL, end_observed_by smallint NOT NULL, approximate boolean NOT NULL,
  PRIMARY KEY (run_id, cookie, idx)
);
CREATE INDEX segments_state_start ON segments (state, start_ns);
CREATE INDEX segments_end ON segments (end_ns);
CREATE TABLE gaps (
  run_id bigint NOT NULL, reason smallint NOT NULL, count bigint NOT NULL,
  first_seq bigint NOT NULL, last_seq bigint NOT NULL, time_ns bigint NOT NULL, message text NOT NULL,
  UNIQUE (run_id, reason, first_seq, last_seq, time_ns)
);
CREATE INDEX gaps_time ON gaps (time_ns);
CREATE TABLE hosts (
  agent_id text PRIMARY KEY, hostname text NOT NULL, address text NOT NULL, boot_id text NOT NULL,
  strategies text NOT NULL, updated_ns bigint NOT NULL
);
CREATE TABLE leases (agent_id text PRIMARY KEY, replica_id text NOT NULL, expires_ns bigint NOT NULL);
`,
  },
  {
    version: 2,
    name: 'replica heartbeats',
    sql: `CREATE TABLE replicas (replica_id text PRIMARY KEY, expires_ns bigint NOT NULL);`,
  },
  {
    version: 3,
    name: 'segments inline in their connection rows; no events index by connection',
    // As in SQLite's version 3 (0 as first_seq: a rebuild reads the run from its start).
    sql: `ALTER TABLE connections ADD COLUMN segments bytea, ADD COLUMN first_seq bigint NOT NULL DEFAULT 0;
CREATE INDEX connections_long ON connections (last_seen_ns, first_seen_ns) WHERE last_seen_ns - first_seen_ns > 120000000000;
DROP INDEX events_connection;`,
    convert: 'inline-segments',
    finish: 'DROP TABLE segments;',
  },
  {
    version: 4,
    name: 'events found by time through event_minutes instead of an index on every event',
    // As in SQLite's version 4.
    sql: `
CREATE TABLE event_minutes (
  minute bigint NOT NULL, run_id bigint NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL,
  PRIMARY KEY (minute, run_id)
);
INSERT INTO event_minutes SELECT time_ns / 60000000000, run_id, min(seq), max(seq) FROM events GROUP BY time_ns / 60000000000, run_id;
DROP INDEX events_time;
`,
  },
  {
    version: 5,
    name: 'events as one block per ingested batch',
    // As in SQLite's version 5, but connections_last_seen stays: windows read it (queries.ts, overlapParts).
    sql: `
CREATE TABLE event_blocks (
  run_id bigint NOT NULL, first_seq bigint NOT NULL, last_seq bigint NOT NULL,
  first_time_ns bigint NOT NULL, last_time_ns bigint NOT NULL, count integer NOT NULL, events bytea NOT NULL,
  PRIMARY KEY (run_id, first_seq)
);
CREATE INDEX event_blocks_seq ON event_blocks (run_id, last_seq, first_seq);
CREATE INDEX event_blocks_time ON event_blocks (last_time_ns);
`,
    convert: 'event-blocks',
    finish: 'DROP TABLE events; DROP TABLE event_minutes;',
  },
  {
    version: 6,
    name: 'connection rows derived after ingest',
    // The column as in SQLite's version 6, for the same tables in both back-ends; PostgreSQL derives the
    // rows in the ingest transaction (replicas share the rows), so every block it stores is derived.
    sql: `ALTER TABLE event_blocks ADD COLUMN derived boolean NOT NULL DEFAULT true;`,
  },
];

/** The message for a database written by a newer tcpstate. */
export function newerSchemaMessage(where: string, found: number, known: number): string {
  return `the store at ${where} has schema version ${found}, newer than this tcpstate understands (${known}): upgrade tcpstate or use another store`;
}

/** Said once a new store has been created. */
export function createdMessage(where: string, version: number): string {
  return `created a new store at ${where} (schema version ${version})`;
}

/** Said before a migration of an existing store runs. */
export function migrationStartMessage(where: string, m: Migration): string {
  return `the store at ${where} moves to schema version ${m.version} (${m.name}); a large store takes a while, its data are converted in one transaction`;
}

/** Said once a migration has committed its work (its transaction commits right after). */
export function migrationDoneMessage(m: Migration, startedMs: number): string {
  return `schema version ${m.version} applied in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`;
}

/** Reports a data step's progress about every tenth of the way (and at least every million rows), given the rows in all. */
export function conversionProgress(total: number, progress: (message: string) => void): (rows: number) => void {
  const every = Math.min(1_000_000, Math.max(100_000, Math.ceil(total / 10)));
  let done = 0;
  let next = every;
  return (rows) => {
    done += rows;
    if (done >= next && done < total) {
      progress(`${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} events converted`);
      next += every;
    }
  };
}
