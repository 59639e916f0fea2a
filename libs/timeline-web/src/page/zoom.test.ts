import { CompressedAxis } from '@tcpstate/model/browser';
import { describe, expect, it } from 'vitest';
import { anchoredScroll, axisOptionsAt, clampZoom, MAX_ZOOM, MIN_ZOOM, timeAt, visibleRange } from './zoom.js';

// A connection's boundaries: a 200 µs handshake step, a few ms of data, a 60 s TIME_WAIT.
const boundaries = [0, 200_000, 1_200_000, 5_000_000, 5_300_000, 60_005_300_000];

describe('zoom on the compressed axis', () => {
  it('scales every x of the axis by exactly the zoom factor', () => {
    const base = new CompressedAxis(boundaries, axisOptionsAt(1));
    const zoomed = new CompressedAxis(boundaries, axisOptionsAt(4));
    expect(zoomed.width).toBeCloseTo(base.width * 4, 6);
    for (const t of [0, 100_000, 200_000, 3_000_000, 30_000_000_000, 60_005_300_000]) expect(zoomed.x(t)).toBeCloseTo(base.x(t) * 4, 6);
  });

  it('keeps the 200 µs step and the 60 s TIME_WAIT both wider than their labels need at 100%', () => {
    const axis = new CompressedAxis(boundaries, axisOptionsAt(1));
    const widths = axis.pieces.map((p) => p.width);
    expect(Math.min(...widths)).toBeGreaterThanOrEqual(56);
    expect(axis.pieces.at(-1)!.width / axis.pieces[0].width).toBeLessThan(4);
  });

  it('finds the time at an x: the inverse of axis.x, clamped to the lane', () => {
    const axis = new CompressedAxis(boundaries, axisOptionsAt(2));
    for (const t of [0, 50_000, 200_000, 4_321_000, 12_000_000_000]) expect(timeAt(axis, axis.x(t))).toBeCloseTo(t, 0);
    expect(timeAt(axis, -10)).toBe(0);
    expect(timeAt(axis, axis.width + 100)).toBe(60_005_300_000);
    expect(visibleRange(axis, 0, axis.width)).toEqual({ fromNs: 0, toNs: 60_005_300_000 });
  });

  it('keeps the point under the pointer in place and stays within its limits', () => {
    expect(anchoredScroll(100, 50, 2)).toBe(250);
    expect(anchoredScroll(0, 300, 0.5)).toBe(0);
    expect([clampZoom(0.01), clampZoom(1e6), clampZoom(3)]).toEqual([MIN_ZOOM, MAX_ZOOM, 3]);
  });
});
