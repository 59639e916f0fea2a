// What the page knows: the socket records of the window (each side of each
// connection), the window's gaps, and which lanes to draw. Records are kept
// by (agent, boot, cookie) so that a live update replaces a record instead of
// adding a second lane for it. Pure (no DOM): unit-tested.
import { pairTimelines, refKey, type TimelinePair } from '@tcpstate/model/browser';
import type { ConnectionTimeline, Gap } from '@tcpstate/proto';

const ZERO_REF = { agentId: '', bootId: '', cookie: 0n };

/** Lanes drawn at most: the most recent connections of the window. */
export const MAX_LANES = 100;

/** The records and gaps of the window being shown. */
export class TimelineState {
  private readonly records = new Map<string, ConnectionTimeline>();
  private gapList: Gap[] = [];

  /** Starts over with a window's records and gaps. */
  replace(connections: readonly ConnectionTimeline[], gaps: readonly Gap[]): void {
    this.records.clear();
    this.gapList = [];
    this.upsert(connections);
    this.addGaps(gaps);
  }

  /** Adds records, replacing those of the same socket (a newer reading of it). */
  upsert(connections: readonly ConnectionTimeline[]): void {
    for (const c of connections) this.records.set(refKey(c.ref ?? ZERO_REF), c);
  }

  /** Adds gaps, once each (the same gap may come from a query and from Watch). */
  addGaps(gaps: readonly Gap[]): void {
    const key = (g: Gap) => `${g.agentId}/${g.bootId}/${g.reason}/${g.firstSeq}/${g.lastSeq}/${g.time?.seconds}/${g.time?.nanos}`;
    const seen = new Set(this.gapList.map(key));
    for (const g of gaps) {
      if (seen.has(key(g))) continue;
      seen.add(key(g));
      this.gapList.push(g);
    }
  }

  get gaps(): readonly Gap[] {
    return this.gapList;
  }

  /** Socket records held. */
  get size(): number {
    return this.records.size;
  }

  /** Whether a socket's record is held. */
  has(ref: { agentId: string; bootId: string; cookie: bigint }): boolean {
    return this.records.has(refKey(ref));
  }

  /**
   * The connections to draw, newest first (a new connection appears on top),
   * at most `max`; with the number there are in all.
   */
  lanes(max = MAX_LANES): { pairs: TimelinePair[]; total: number } {
    const pairs = pairTimelines([...this.records.values()]).reverse();
    return { pairs: pairs.slice(0, max), total: pairs.length };
  }
}
