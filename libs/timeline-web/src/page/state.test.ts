import { create } from '@bufbuild/protobuf';
import { timestampFromNs } from '@tcpstate/model/browser';
import { ConnectionTimelineSchema, GapSchema, Side } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { TimelineState } from './state.js';

const record = (cookie: bigint, side: Side, firstMs: number, peer?: bigint, open = true) =>
  create(ConnectionTimelineSchema, {
    ref: { agentId: 'a', bootId: 'b', cookie },
    side,
    hostname: 'h',
    firstSeen: timestampFromNs(BigInt(firstMs) * 1_000_000n),
    lastSeen: timestampFromNs(BigInt(firstMs + 5) * 1_000_000n),
    peer: peer === undefined ? undefined : { agentId: 'a', bootId: 'b', cookie: peer },
    open,
  });

describe('the page state', () => {
  it('pairs the sides by their peer refs and lists connections newest first', () => {
    const s = new TimelineState();
    s.replace([record(1n, Side.CLIENT, 1000, 2n), record(2n, Side.SERVER, 1000, 1n), record(3n, Side.CLIENT, 2000)], []);
    const { pairs, total } = s.lanes();
    expect(total).toBe(2);
    expect(pairs.map((p) => [p.client?.ref?.cookie, p.server?.ref?.cookie])).toEqual([[3n, undefined], [1n, 2n]]);
    expect(s.lanes(1).pairs.map((p) => p.client?.ref?.cookie)).toEqual([3n]);
  });

  it('replaces a socket\'s record on upsert rather than adding a lane', () => {
    const s = new TimelineState();
    s.replace([record(1n, Side.CLIENT, 1000)], []);
    s.upsert([record(1n, Side.CLIENT, 1000, undefined, false), record(4n, Side.CLIENT, 3000)]);
    expect(s.size).toBe(2);
    expect(s.lanes().pairs.map((p) => [p.client?.ref?.cookie, p.client?.open])).toEqual([[4n, true], [1n, false]]);
    expect(s.has({ agentId: 'a', bootId: 'b', cookie: 4n })).toBe(true);
  });

  it('keeps each gap once and forgets everything on replace', () => {
    const s = new TimelineState();
    const gap = create(GapSchema, { agentId: 'a', bootId: 'b', count: 3n, firstSeq: 10n, lastSeq: 12n, time: timestampFromNs(5n) });
    s.replace([], [gap]);
    s.addGaps([gap, { ...gap, firstSeq: 20n, lastSeq: 20n, count: 1n }]);
    expect(s.gaps.map((g) => g.firstSeq)).toEqual([10n, 20n]);
    s.replace([], []);
    expect([s.gaps.length, s.size]).toEqual([0, 0]);
  });
});
