import { create } from '@bufbuild/protobuf';
import { CompressedAxis, durationFromNs, layoutTimeline, pairTimelines, timestampFromNs } from '@tcpstate/model/browser';
import { ConnectionTimelineSchema, Observation, Side, StateSegmentSchema, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { niceStep, renderLanes, renderLegend, subTicks } from './render.js';
import { axisOptionsAt } from './zoom.js';

const T0 = 1_790_000_000_000_000_000n;
const US = 1000n;
const MS = 1_000_000n;
const S = 1_000_000_000n;

/** [state, start offset, end offset | undefined, approximate, how the end was seen] */
type Seg = [TcpState, bigint, bigint | undefined, boolean?, Observation?];

function record(cookie: bigint, side: Side, peer: bigint, segs: Seg[], open: boolean) {
  return create(ConnectionTimelineSchema, {
    ref: { agentId: 'web', bootId: 'boot', cookie },
    peer: { agentId: 'web', bootId: 'boot', cookie: peer },
    hostname: 'host-1',
    side,
    localAddress: side === Side.CLIENT ? '10.9.0.2' : '10.9.0.1',
    localPort: side === Side.CLIENT ? 41000 : 80,
    remoteAddress: side === Side.CLIENT ? '10.9.0.1' : '10.9.0.2',
    remotePort: side === Side.CLIENT ? 80 : 41000,
    comm: side === Side.CLIENT ? 'curl' : 'nginx',
    pid: 42,
    open,
    timeWaitObservedBy: segs.some(([s]) => s === TcpState.TIME_WAIT) ? Observation.HANDOVER : Observation.UNSPECIFIED,
    firstSeen: timestampFromNs(T0 + segs[0][1]),
    lastSeen: timestampFromNs(T0 + (segs.at(-1)![2] ?? segs.at(-1)![1])),
    segments: segs.map(([state, start, end, approximate, endObservedBy]) =>
      create(StateSegmentSchema, {
        state,
        start: timestampFromNs(T0 + start),
        end: end === undefined ? undefined : timestampFromNs(T0 + end),
        duration: end === undefined ? undefined : durationFromNs(end - start),
        approximate: approximate ?? false,
        endObservedBy: endObservedBy ?? (end === undefined ? Observation.UNSPECIFIED : Observation.TRACEPOINT),
      }),
    ),
  });
}

// The seed's connection: the client closes first and ends in TIME_WAIT, whose end a sweep saw.
const client = record(7n, Side.CLIENT, 8n, [
  [TcpState.SYN_SENT, 0n, 200n * US],
  [TcpState.ESTABLISHED, 200n * US, 5n * MS],
  [TcpState.FIN_WAIT1, 5n * MS, 5n * MS + 80n * US],
  [TcpState.FIN_WAIT2, 5n * MS + 80n * US, 5n * MS + 300n * US],
  [TcpState.TIME_WAIT, 5n * MS + 300n * US, 61n * S, true, Observation.SWEEP],
], false);
const server = record(8n, Side.SERVER, 7n, [
  [TcpState.SYN_RECV, 100n * US, 300n * US],
  [TcpState.ESTABLISHED, 300n * US, 5n * MS + 50n * US],
  [TcpState.CLOSE_WAIT, 5n * MS + 50n * US, 5n * MS + 200n * US],
  [TcpState.LAST_ACK, 5n * MS + 200n * US, 5n * MS + 310n * US],
], false);

/** Every match of a regex's first group, in order. */
const all = (html: string, re: RegExp) => [...html.matchAll(re)].map((m) => m[1]);

describe('the lanes as markup', () => {
  const pairs = pairTimelines([client, server]);
  const html = renderLanes(pairs, layoutTimeline(pairs, { axis: axisOptionsAt(1), top: 0 }));

  it('draws one lane with the client row above the server row, each naming its socket', () => {
    expect(all(html, /<section class="lane" ([^>]*)>/g)).toEqual([
      `data-lane="0" data-key="web/boot/7" data-client-cookie="7" data-server-cookie="8" data-start-ns="${T0}" data-axis-width="${all(html, /data-axis-width="([^"]+)"/g)[0]}"`,
    ]);
    expect(all(html, /<g class="row" ([^>]*)>/g)).toEqual([
      'data-side="client" data-cookie="7" data-agent="web" data-host="host-1" data-time-wait-observed-by="HANDOVER"',
      'data-side="server" data-cookie="8" data-agent="web" data-host="host-1" data-time-wait-observed-by=""',
    ]);
    const rowY = all(html, /<g class="row-label" data-side="(?:client|server)"><text x="12" y="([\d.]+)"/g).map(Number);
    expect(rowY[0]).toBeLessThan(rowY[1]);
  });

  it('gives each segment its state and exact duration, in order, client first', () => {
    expect(all(html, /data-state="(\w+)" data-start-ns/g)).toEqual([
      'SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK',
    ]);
    expect(all(html, /data-duration-ns="(\d+)"/g).map(Number)).toEqual([200_000, 4_800_000, 80_000, 220_000, 60_994_700_000, 200_000, 4_750_000, 150_000, 110_000]);
    expect(all(html, /data-duration-ms="([\d.]+)"/g)[0]).toBe('0.200000');
  });

  it('hatches the TIME_WAIT whose end a sweep saw, and only it, and says so in its title', () => {
    expect(all(html, /data-approximate="(\w+)"/g)).toEqual(['false', 'false', 'false', 'false', 'true', 'false', 'false', 'false', 'false']);
    expect(html.match(/fill="url\(#hatch\)"/g)).toHaveLength(1);
    expect(html).toContain('data-end-observed-by="SWEEP"');
    expect(html).toContain('<title>client TIME_WAIT: ≈1m01s from +5.3ms, end seen by a sweep (approximate)</title>');
  });

  it('labels bars with state and duration where they fit, and every bar in its title', () => {
    const titles = all(html, /<title>([^<]+)<\/title>/g);
    expect(titles).toHaveLength(9);
    expect(titles[0]).toBe('client SYN_SENT: 200µs from +0ns');
    expect(all(html, /<text class="segment-label"[^>]*>([^<]+)</g)).toContain('TIME_WAIT ≈1m01s');
    // Zoomed in four times, every bar has room for "STATE duration".
    const zoomed = renderLanes(pairs, layoutTimeline(pairs, { axis: axisOptionsAt(4), top: 0 }));
    expect(all(zoomed, /data-label="([^"]*)"/g)).toEqual([
      'SYN_SENT 200µs', 'ESTABLISHED 4.8ms', 'FIN_WAIT1 80µs', 'FIN_WAIT2 220µs', 'TIME_WAIT ≈1m01s', 'SYN_RECV 200µs', 'ESTABLISHED 4.75ms', 'CLOSE_WAIT 150µs', 'LAST_ACK 110µs',
    ]);
  });

  it('has a legend with the approximate, open, break and gap marks', () => {
    const legend = renderLegend();
    expect(all(legend, /data-mark="(\w+)"/g)).toEqual(['approximate', 'open', 'break', 'gap']);
    expect(all(legend, /data-state="(\w+)"/g)).toContain('TIME_WAIT');
  });
});

describe('ticks inside zoomed pieces', () => {
  it('rounds steps to 1, 2 or 5 times a power of ten', () => {
    expect([1, 3, 7, 15, 200_001, 4_000_000].map(niceStep)).toEqual([1, 5, 10, 20, 500_000, 5_000_000]);
  });

  it('adds ticks only where zoom made a piece wide, at round offsets clear of its ends', () => {
    const boundaries = [0, 1_000_000, 2_000_000];
    expect(subTicks(new CompressedAxis(boundaries, axisOptionsAt(1)))).toEqual([]);
    // 1280 px per millisecond: a tick every 100 µs, none within 55 px of a piece's ends (its boundary ticks).
    const wide = new CompressedAxis(boundaries, axisOptionsAt(16));
    const ticks = subTicks(wide);
    const step = 100_000;
    expect(ticks.map((t) => t.ns)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((k) => k * step));
    for (const t of ticks) expect(wide.x(t.ns)).toBeCloseTo(t.x, 6);
  });
});
