// Zoom and pan on the compressed axis. Zoom multiplies the axis' pixel sizes
// (minPx, kneePx, decadePx): a piece's width is linear in them, so every x on
// every lane's axis scales by exactly the zoom factor, the order of events is
// kept, and labels get room to appear as bars widen. Pan is the scroll
// position of the lanes' container. Pure (no DOM): unit-tested.
import { type AxisOptions, type CompressedAxis, defaultAxisOptions } from '@tcpstate/model/browser';

export const MIN_ZOOM = 0.5;
/** 64 times the plot's scale: a 200 µs step in a lane then spans a few thousand pixels. */
export const MAX_ZOOM = 64;
/** Factor of one click on the zoom buttons. */
export const ZOOM_STEP = 1.5;

/** A zoom factor kept within [MIN_ZOOM, MAX_ZOOM]. */
export function clampZoom(zoom: number): number {
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
}

/** The axis pixel sizes at a zoom factor (1: those of `tcpstate plot`). */
export function axisOptionsAt(zoom: number): AxisOptions {
  const { minPx, kneePx, decadePx, breakKnees } = defaultAxisOptions;
  return { minPx: minPx * zoom, kneePx: kneePx * zoom, decadePx: decadePx * zoom, breakKnees };
}

/** The time (ns from the lane's start) at x pixels from the axis' left end: the inverse of axis.x, clamped. */
export function timeAt(axis: CompressedAxis, x: number): number {
  const pieces = axis.pieces;
  if (pieces.length === 0 || x <= 0) return pieces[0]?.startNs ?? 0;
  for (const p of pieces) {
    if (x <= p.x + p.width) return p.startNs + ((x - p.x) / p.width) * (p.endNs - p.startNs);
  }
  return pieces[pieces.length - 1].endNs;
}

/** The stretch of a lane's time in view when the axis is scrolled by `scrollPx` and `viewPx` of it are visible. */
export function visibleRange(axis: CompressedAxis, scrollPx: number, viewPx: number): { fromNs: number; toNs: number } {
  return { fromNs: timeAt(axis, scrollPx), toNs: timeAt(axis, scrollPx + viewPx) };
}

/**
 * The scroll position after zooming by `factor` that keeps the point under
 * the pointer (`pointerPx` from the left of the visible axis) where it was.
 */
export function anchoredScroll(scrollPx: number, pointerPx: number, factor: number): number {
  return Math.max(0, (scrollPx + pointerPx) * factor - pointerPx);
}
