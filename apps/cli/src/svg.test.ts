import { create } from '@bufbuild/protobuf';
import { buildTimelines, durationFromNs, layoutTimeline, pairTimelines, timestampFromNs } from '@tcpstate/model';
import { GapReason, GapSchema, Observation, Side, StateChangeSchema, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { renderSvg } from './svg.js';

const T0 = 1_700_000_000_000_000_000n;
const ev = (seq: number, oldState: TcpState, newState: TcpState, us: number, inOldUs?: number, observedBy = Observation.TRACEPOINT) =>
  create(StateChangeSchema, {
    agentId: 'a<1>', bootId: 'b', seq: BigInt(seq), time: timestampFromNs(T0 + BigInt(us) * 1000n), cookie: 9n, localAddress: '10.0.0.2', localPort: 40000, remoteAddress: '10.0.0.1', remotePort: 80,
    oldState, newState, side: Side.CLIENT, timeInOldState: inOldUs === undefined ? undefined : durationFromNs(BigInt(inOldUs) * 1000n), pid: 1, comm: 'c&c', observedBy,
  });

describe('renderSvg', () => {
  const events = [
    ev(1, TcpState.CLOSE, TcpState.SYN_SENT, 0),
    ev(2, TcpState.SYN_SENT, TcpState.ESTABLISHED, 100, 100),
    ev(3, TcpState.ESTABLISHED, TcpState.FIN_WAIT1, 300, 200),
    ev(4, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, 350, 50),
    ev(5, TcpState.FIN_WAIT2, TcpState.TIME_WAIT, 400, 50),
    ev(6, TcpState.TIME_WAIT, TcpState.CLOSE, 60_000_400, undefined, Observation.SWEEP),
  ];
  const gap = create(GapSchema, { agentId: 'a<1>', reason: GapReason.KERNEL, count: 2n, time: timestampFromNs(T0 + 320_000n) });
  const svg = renderSvg(layoutTimeline(pairTimelines(buildTimelines(events)), { gaps: [gap], top: 40 }), { title: 'one & only', gaps: [gap] });

  it('draws one group per segment with its state, labelled, in order', () => {
    const segments = [...svg.matchAll(/<g class="segment" data-state="(\w+)" data-start-ns="(\d+)" data-duration-ns="(\d+)" data-approximate="(\w+)" data-open="(\w+)">/g)].map((m) => m.slice(1));
    expect(segments).toEqual([
      ['SYN_SENT', '0', '100000', 'false', 'false'],
      ['ESTABLISHED', '100000', '200000', 'false', 'false'],
      ['FIN_WAIT1', '300000', '50000', 'false', 'false'],
      ['FIN_WAIT2', '350000', '50000', 'false', 'false'],
      ['TIME_WAIT', '400000', '60000000000', 'true', 'false'],
    ]);
    expect([...svg.matchAll(/<text class="segment-label"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1])).toEqual([
      // Two lines where name and duration do not fit side by side.
      'SYN_SENT', '100µs', 'ESTABLISHED', '200µs', 'FIN_WAIT1 50µs', 'FIN_WAIT2', '50µs', 'TIME_WAIT ≈1m00s',
    ]);
  });

  it('marks the approximate TIME_WAIT end, the compressed piece, the gap; escapes text', () => {
    expect(svg.match(/class="approximate-end"/g)).toHaveLength(1);
    expect(svg.match(/<g class="break">/g)).toHaveLength(1);
    expect(svg).toContain('>2 events lost</text>');
    expect(svg).toContain('<text class="title" x="12" y="24" font-size="15" font-weight="bold">one &amp; only</text>');
    expect(svg).toContain('>client a&lt;1&gt;</text>');
    expect(svg).toContain('>c&amp;c[1]</text>');
    expect(svg).toContain('22:13:20.000320  a&lt;1&gt;  GAP  2 events lost (in the kernel)');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});
