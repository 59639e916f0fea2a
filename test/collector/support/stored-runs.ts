// What the store holds, read straight from the database with its own command
// line client (sqlite3, psql): the tests check the collector's storage, not
// the collector's account of it. Events are stored in blocks (libs/store
// event-block.ts), decoded here with the store's decoder.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { decodeEventBlock, type StoredEvent } from '@tcpstate/store';

/** One agent run in the store. */
export interface StoredRun {
  agentId: string;
  bootId: string;
  /** Every stored seq, ascending (a seq stored twice appears twice). */
  seqs: number[];
  gaps: { reason: number; firstSeq: number; lastSeq: number; count: number }[];
}

const blocksSql = (hex: string) =>
  `SELECT r.agent_id, r.boot_id, ${hex} FROM event_blocks b JOIN runs r ON r.run_id = b.run_id ORDER BY r.agent_id, r.boot_id, b.first_seq`;
const GAPS_SQL = 'SELECT r.agent_id, r.boot_id, g.reason, g.first_seq, g.last_seq, g.count FROM gaps g JOIN runs r ON r.run_id = g.run_id ORDER BY 1, 2, 4';

function query(store: string, text: string): string[][] {
  const out = store.startsWith('postgres://')
    ? execFileSync('psql', [store, '-At', '-F', '|', '-c', text], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
    : execFileSync('sqlite3', ['-separator', '|', join(store, 'tcpstate.db'), text], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
}

/** Every stored event with its run, in run and seq order (an event stored twice appears twice). */
export function storedEvents(store: string): { agentId: string; bootId: string; event: StoredEvent }[] {
  const text = store.startsWith('postgres://') ? blocksSql("encode(b.events, 'hex')") : blocksSql('hex(b.events)');
  return query(store, text).flatMap(([agentId, bootId, hex]) => decodeEventBlock(Buffer.from(hex, 'hex')).map((event) => ({ agentId, bootId, event })));
}

/** Every run in the store (a data directory or a postgres:// URL) with its seqs and gaps. */
export function storedRuns(store: string): StoredRun[] {
  const runs = new Map<string, StoredRun>();
  const run = (agentId: string, bootId: string) => {
    const key = `${agentId}|${bootId}`;
    let r = runs.get(key);
    if (!r) runs.set(key, (r = { agentId, bootId, seqs: [], gaps: [] }));
    return r;
  };
  for (const { agentId, bootId, event } of storedEvents(store)) run(agentId, bootId).seqs.push(Number(event.seq));
  for (const r of runs.values()) r.seqs.sort((a, b) => a - b);
  for (const [agentId, bootId, reason, first, last, count] of query(store, GAPS_SQL)) {
    run(agentId, bootId).gaps.push({ reason: Number(reason), firstSeq: Number(first), lastSeq: Number(last), count: Number(count) });
  }
  return [...runs.values()];
}

/**
 * The seqs a run should hold: 1..lastSeq (the highest stored) without the
 * ranges its gaps declare lost. Compared with `seqs`, it shows any seq
 * missing or stored twice.
 */
export function expectedSeqs(run: StoredRun): number[] {
  const last = Math.max(0, ...run.seqs, ...run.gaps.map((g) => g.lastSeq));
  const lost = (seq: number) => run.gaps.some((g) => g.firstSeq > 0 && seq >= g.firstSeq && seq <= g.lastSeq);
  return Array.from({ length: last }, (_, i) => i + 1).filter((seq) => !lost(seq));
}
