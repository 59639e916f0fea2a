// Where to draw a set of connections: one lane per connection, its client and
// server one row above the other, each state a bar on a compressed time axis.
// Pure geometry (pixels), shared by `tcpstate plot` (SVG) and the web page.
//
// The axis: a connection's life mixes microseconds (the handshake) with a
// minute (TIME_WAIT). Every time at which something happens in a lane (a
// segment starts or ends, a gap is noticed) is a boundary; the stretch between
// two neighbouring boundaries is a piece. A piece's width grows linearly with
// its duration up to the lane's typical piece (the knee: the median piece
// duration) and only logarithmically beyond it:
//
//   width(d) = minPx + kneePx * min(d / knee, 1) + decadePx * max(0, log10(d / knee))
//
// so a 60 s TIME_WAIT is about twice as wide as a 200 µs handshake step rather
// than 300,000 times, and both keep room for their labels. Within a piece time
// is linear, so every bar's ends land exactly on its boundaries and the order
// of events across client and server is exact. Pieces longer than ten knees
// are drawn with a break marker: their width no longer says how long they were
// (their label does).
import { Observation, Side, TcpState, type Gap } from '@tcpstate/proto';
import { stateName } from './tcp-state.js';
import { durationNs, formatDuration, pairSides, timestampNs, type TimelinePair } from './timeline.js';
import type { ConnectionTimeline, StateSegment } from '@tcpstate/proto';

/** Pixel sizes of the compressed axis (see the formula above). */
export interface AxisOptions {
  minPx: number;
  kneePx: number;
  decadePx: number;
  /** A piece longer than this many knees gets a break marker. */
  breakKnees: number;
}

export const defaultAxisOptions: AxisOptions = { minPx: 56, kneePx: 24, decadePx: 24, breakKnees: 10 };

/** The stretch between two neighbouring boundaries (ns relative to the lane's start). */
export interface AxisPiece {
  startNs: number;
  endNs: number;
  x: number;
  width: number;
  /** Drawn much shorter than its duration: mark it with a break. */
  compressed: boolean;
}

/** The piecewise axis: linear within a piece, widths as in the formula above. */
export class CompressedAxis {
  readonly pieces: AxisPiece[] = [];
  /** The median piece duration (ns); 0 without pieces. */
  readonly kneeNs: number;
  readonly width: number;

  /** `boundaries`: ns relative to the lane's start, any order, duplicates allowed. */
  constructor(boundaries: readonly number[], readonly options: AxisOptions = defaultAxisOptions) {
    const points = [...new Set(boundaries)].sort((a, b) => a - b);
    const durations = points.slice(1).map((p, i) => p - points[i]);
    const sorted = [...durations].sort((a, b) => a - b);
    this.kneeNs = sorted.length > 0 ? sorted[Math.floor((sorted.length - 1) / 2)] : 0;
    let x = 0;
    for (let i = 1; i < points.length; i++) {
      const d = points[i] - points[i - 1];
      const width = this.pieceWidth(d);
      this.pieces.push({ startNs: points[i - 1], endNs: points[i], x, width, compressed: d > options.breakKnees * this.kneeNs });
      x += width;
    }
    this.width = x;
  }

  /** Width of a piece lasting `d` ns. */
  pieceWidth(d: number): number {
    const { minPx, kneePx, decadePx } = this.options;
    const r = d / this.kneeNs;
    return minPx + kneePx * Math.min(r, 1) + decadePx * Math.max(0, Math.log10(r));
  }

  /** x of a time (ns relative to the lane's start); clamped to the axis. */
  x(t: number): number {
    if (this.pieces.length === 0 || t <= this.pieces[0].startNs) return 0;
    for (const p of this.pieces) {
      if (t <= p.endNs) return p.x + (p.width * (t - p.startNs)) / (p.endNs - p.startNs);
    }
    return this.width;
  }
}

/** Fill and text colour of a state's bars (colour-blind-safe-ish: hue and lightness differ). */
export function stateColor(state: number): { fill: string; text: string } {
  const colours: Record<number, [string, string]> = {
    [TcpState.SYN_SENT]: ['#9ecae1', '#08306b'],
    [TcpState.SYN_RECV]: ['#6baed6', '#08306b'],
    [TcpState.NEW_SYN_RECV]: ['#6baed6', '#08306b'],
    [TcpState.ESTABLISHED]: ['#31a354', '#ffffff'],
    [TcpState.FIN_WAIT1]: ['#fdae6b', '#4a1e00'],
    [TcpState.FIN_WAIT2]: ['#fd8d3c', '#4a1e00'],
    [TcpState.CLOSING]: ['#fdd0a2', '#4a1e00'],
    [TcpState.TIME_WAIT]: ['#9e9ac8', '#1e1448'],
    [TcpState.CLOSE_WAIT]: ['#e6550d', '#ffffff'],
    [TcpState.LAST_ACK]: ['#a63603', '#ffffff'],
    [TcpState.LISTEN]: ['#c7e9c0', '#00441b'],
  };
  const [fill, text] = colours[state] ?? ['#d9d9d9', '#000000'];
  return { fill, text };
}

/** One state segment as a bar. Times are ns relative to the lane's start. */
export interface BarLayout {
  state: TcpState;
  stateName: string;
  x: number;
  y: number;
  width: number;
  height: number;
  startNs: number;
  /** Undefined when the segment is still open and its duration unknown. */
  durationNs: number | undefined;
  /** Still in this state (no end seen). */
  open: boolean;
  /** An end seen by a sweep or after a loss: exact only to within the sweep period. */
  approximate: boolean;
  endObservedBy: Observation;
  /** Text lines that fit inside the bar (possibly none); `title` always has everything. */
  label: string[];
  title: string;
  fill: string;
  textColor: string;
}

/** One side of a connection. */
export interface RowLayout {
  side: Side;
  /** "client", "server" or "unknown". */
  sideName: string;
  y: number;
  height: number;
  /** Left-hand label lines: side and host, process. */
  label: string[];
  bars: BarLayout[];
}

export interface TickLayout {
  x: number;
  /** Offset from the lane's start; unset where it would overlap its left neighbour. */
  label?: string;
}

/** A loss noticed during the lane's time. */
export interface GapMarkLayout {
  x: number;
  label: string;
}

/** One connection. x values are absolute (the left label column included). */
export interface LaneLayout {
  y: number;
  height: number;
  title: string;
  startNs: bigint;
  axis: CompressedAxis;
  /** Left edge of the axis. */
  axisX: number;
  /** y of the axis line (below the rows). */
  axisY: number;
  ticks: TickLayout[];
  /** x of the middle of each compressed piece. */
  breaks: number[];
  rows: RowLayout[];
  gaps: GapMarkLayout[];
}

export interface TimelineLayout {
  width: number;
  height: number;
  lanes: LaneLayout[];
}

/** Geometry and inputs of layoutTimeline. */
export interface LayoutOptions {
  axis?: Partial<AxisOptions>;
  /** Losses to mark where they fall inside a lane. */
  gaps?: readonly Gap[];
  /** Width of the left label column. */
  labelWidth?: number;
  /** Average character width of the bar labels' font, to decide what fits. */
  charPx?: number;
  /** Space above the first lane (for a picture title). */
  top?: number;
}

const LANE_TITLE = 18;
const ROW_HEIGHT = 30;
const ROW_GAP = 4;
const AXIS_HEIGHT = 22;
const LANE_GAP = 14;
const MARGIN = 12;
const RIGHT_LABEL_ROOM = 28;
const ZERO = { agentId: '', bootId: '', cookie: 0n };

function sideName(side: Side): string {
  return side === Side.CLIENT ? 'client' : side === Side.SERVER ? 'server' : 'unknown';
}

/** "2026-11-27 04:38:49.123456 UTC" */
export function formatTimeUtc(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  const micros = String((ns / 1000n) % 1_000_000n).padStart(6, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros} UTC`;
}

/** "10.0.0.2:41000 → 10.0.0.1:80" from the client's point of view where known. */
export function pairTitle(pair: TimelinePair): string {
  const ep = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  const t = pair.client ?? pair.server ?? pair.unknown!;
  const [from, to] = pair.client || !pair.server ? [ep(t.localAddress, t.localPort), ep(t.remoteAddress, t.remotePort)] : [ep(t.remoteAddress, t.remotePort), ep(t.localAddress, t.localPort)];
  return `${from} → ${to}`;
}

interface SegmentTimes {
  segment: StateSegment;
  start: number;
  /** undefined: open with no known duration. */
  end: number | undefined;
}

function segmentTimes(t: ConnectionTimeline, origin: bigint): SegmentTimes[] {
  return t.segments.map((segment) => {
    const start = timestampNs(segment.start)!;
    const endNs = timestampNs(segment.end) ?? (segment.duration ? start + durationNs(segment.duration)! : undefined);
    return { segment, start: Number(start - origin), end: endNs === undefined ? undefined : Number(endNs - origin) };
  });
}

function barLabel(name: string, duration: string, width: number, charPx: number): string[] {
  const fits = (text: string) => text.length * charPx + 8 <= width;
  if (fits(`${name} ${duration}`)) return [`${name} ${duration}`];
  if (fits(name) && fits(duration)) return [name, duration];
  if (fits(duration)) return [duration];
  return [];
}

/**
 * Lays out connections (pairs, in the order given) as lanes on their own
 * compressed axes. Open segments end where their duration says (the
 * collector sets it to now - start); without one they get a stub as wide as
 * the longest state name.
 */
export function layoutTimeline(pairs: readonly TimelinePair[], options: LayoutOptions = {}): TimelineLayout {
  const axisOptions = { ...defaultAxisOptions, ...options.axis };
  const labelWidth = options.labelWidth ?? 170;
  const charPx = options.charPx ?? 6.2;
  const axisX = MARGIN + labelWidth;
  const lanes: LaneLayout[] = [];
  let y = options.top ?? MARGIN;
  let width = 0;

  for (const pair of pairs) {
    const sides = pairSides(pair);
    let origin = pair.startNs;
    for (const t of sides) for (const s of t.segments) if (timestampNs(s.start)! < origin) origin = timestampNs(s.start)!;
    const times = sides.map((t) => segmentTimes(t, origin));
    const laneEnd = Number(pair.endNs - origin);
    const gaps = (options.gaps ?? [])
      .map((g) => ({ gap: g, at: Number(timestampNs(g.time)! - origin) }))
      .filter(({ at }) => at >= 0 && at <= laneEnd);
    const boundaries = [0, ...times.flat().flatMap((s) => (s.end === undefined ? [s.start] : [s.start, s.end])), ...gaps.map((g) => g.at)];
    const axis = new CompressedAxis(boundaries, axisOptions);
    // An open segment of unknown duration gets a stub wide enough for any state's name.
    const stubPx = Math.max(axisOptions.minPx, 12 * charPx + 8);
    const hasStub = times.flat().some((s) => s.end === undefined);
    // Room on the right for the last tick's label, centred on the axis end.
    width = Math.max(width, axisX + axis.width + (hasStub ? stubPx : 0) + MARGIN + RIGHT_LABEL_ROOM);

    const laneY = y;
    const rows: RowLayout[] = sides.map((t, i) => {
      const rowY = laneY + LANE_TITLE + i * (ROW_HEIGHT + ROW_GAP);
      const bars = times[i].map(({ segment, start, end }): BarLayout => {
        const x0 = axisX + axis.x(start);
        const x1 = end === undefined ? x0 + stubPx : axisX + axis.x(end);
        const open = segment.end === undefined;
        const duration = end === undefined ? undefined : end - start;
        const name = stateName(segment.state);
        const text = duration === undefined ? 'open' : `${segment.approximate ? '≈' : ''}${formatDuration(duration)}${open ? '+' : ''}`;
        const colour = stateColor(segment.state);
        const how = segment.approximate ? (segment.endObservedBy === Observation.SWEEP ? ', end seen by a sweep (approximate)' : ', approximate (events lost)') : '';
        return {
          state: segment.state,
          stateName: name,
          x: x0,
          y: rowY,
          width: x1 - x0,
          height: ROW_HEIGHT,
          startNs: start,
          durationNs: duration,
          open,
          approximate: segment.approximate,
          endObservedBy: segment.endObservedBy,
          label: barLabel(name, text, x1 - x0, charPx),
          title: `${sideName(t.side)} ${name}: ${text} from +${formatDuration(start)}${open ? ', still open' : ''}${how}`,
          fill: colour.fill,
          textColor: colour.text,
        };
      });
      const proc = t.comm ? `${t.comm}[${t.pid}]` : t.pid ? `pid ${t.pid}` : '';
      return { side: t.side, sideName: sideName(t.side), y: rowY, height: ROW_HEIGHT, label: [`${sideName(t.side)} ${t.hostname}`, proc].filter(Boolean), bars };
    });

    const axisY = laneY + LANE_TITLE + sides.length * (ROW_HEIGHT + ROW_GAP);
    const ticks: TickLayout[] = [];
    let lastLabelEnd = -Infinity;
    const points = [0, ...axis.pieces.map((p) => p.endNs)];
    for (const p of points) {
      const x = axisX + axis.x(p);
      const label = p === 0 ? '0' : `+${formatDuration(p)}`;
      const labelWidthPx = label.length * charPx;
      // Labels are centred on their tick; keep one only where it clears the previous.
      if (x - labelWidthPx / 2 >= lastLabelEnd + 4) {
        ticks.push({ x, label });
        lastLabelEnd = x + labelWidthPx / 2;
      } else ticks.push({ x });
    }
    const ref = (pair.client ?? pair.server ?? pair.unknown)?.ref ?? ZERO;
    lanes.push({
      y: laneY,
      height: axisY + AXIS_HEIGHT - laneY,
      title: `${pairTitle(pair)}  ${formatTimeUtc(origin)}  (${ref.agentId} cookie ${ref.cookie})`,
      startNs: origin,
      axis,
      axisX,
      axisY,
      ticks,
      breaks: axis.pieces.filter((p) => p.compressed).map((p) => axisX + p.x + p.width / 2),
      rows,
      gaps: gaps.map(({ gap, at }) => ({ x: axisX + axis.x(at), label: `${gap.count} events lost` })),
    });
    y = axisY + AXIS_HEIGHT + LANE_GAP;
  }
  return { width: Math.max(width, 400), height: y - LANE_GAP + MARGIN, lanes };
}
