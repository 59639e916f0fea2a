// The lanes as markup, drawn by hand from libs/model's layout (the same
// geometry `tcpstate plot` draws): per connection a section with its title,
// a label column (side, host, process) that stays put while the plot pans,
// and the plot: a bar per state, the compressed axis with its break markers,
// gaps as red dashed lines. Stable data-* attributes name what is drawn, for
// tests and for anyone scripting the page. Pure (strings, no DOM): unit-tested.
import { type BarLayout, type CompressedAxis, formatDuration, type LaneLayout, refKey, stateColor, stateName, type TimelineLayout, type TimelinePair } from '@tcpstate/model/browser';
import { Observation, TcpState } from '@tcpstate/proto';

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n = (v: number) => String(Number(v.toFixed(2)));
/** ns as milliseconds with ns precision: "12.345678". */
const ms = (ns: number) => (ns / 1e6).toFixed(6);

/** The plot starts this far left of the axis so that the "0" tick's label is not cut by the label column. */
const PLOT_PAD = 12;

/** Intermediate ticks no closer than this (px), inside pieces that zoom made wide. */
const SUB_TICK_SPACING = 110;

/** A round step (1, 2 or 5 times a power of ten, in ns) at least `ns` long. */
export function niceStep(ns: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(ns, 1)));
  for (const m of [1, 2, 5, 10]) if (m * power >= ns) return m * power;
  return 10 * power;
}

/**
 * Extra ticks inside pieces wide enough for them (zoomed in), at round
 * offsets from the lane's start, clear of the pieces' own boundary ticks.
 * x is relative to the axis' left end.
 */
export function subTicks(axis: CompressedAxis): { x: number; ns: number }[] {
  const ticks: { x: number; ns: number }[] = [];
  for (const p of axis.pieces) {
    if (p.width < 3 * SUB_TICK_SPACING) continue;
    const duration = p.endNs - p.startNs;
    const step = niceStep((duration * SUB_TICK_SPACING) / p.width);
    for (let t = Math.ceil(p.startNs / step) * step; t < p.endNs; t += step) {
      const x = p.x + ((t - p.startNs) / duration) * p.width;
      if (x - p.x >= SUB_TICK_SPACING / 2 && p.x + p.width - x >= SUB_TICK_SPACING / 2) ticks.push({ x, ns: t });
    }
  }
  return ticks;
}

/** A break marker: two slanted strokes over a white notch, centred at (x, y). */
function breakMark(x: number, y: number, h: number): string {
  return `<g class="break"><rect x="${n(x - 4)}" y="${n(y - h / 2)}" width="8" height="${n(h)}" fill="#ffffff"/><path d="M${n(x - 6)} ${n(y + h / 2)} L${n(x - 1)} ${n(y - h / 2)} M${n(x + 1)} ${n(y + h / 2)} L${n(x + 6)} ${n(y - h / 2)}" stroke="#555" stroke-width="1.5" fill="none"/></g>`;
}

function segment(bar: BarLayout): string {
  const attrs = [
    `data-state="${bar.stateName}"`,
    `data-start-ns="${bar.startNs}"`,
    `data-start-ms="${ms(bar.startNs)}"`,
    bar.durationNs === undefined ? '' : `data-duration-ns="${bar.durationNs}" data-duration-ms="${ms(bar.durationNs)}"`,
    `data-approximate="${bar.approximate}"`,
    `data-open="${bar.open}"`,
    `data-end-observed-by="${Observation[bar.endObservedBy] ?? bar.endObservedBy}"`,
    `data-label="${esc(bar.label.join(' '))}"`,
  ].filter(Boolean);
  const parts = [`<g class="segment" ${attrs.join(' ')}><title>${esc(bar.title)}</title>`];
  parts.push(`<rect class="bar" x="${n(bar.x)}" y="${n(bar.y)}" width="${n(bar.width)}" height="${n(bar.height)}" fill="${bar.fill}" stroke="#ffffff" stroke-width="1"/>`);
  // Approximate (an end seen by a sweep, or events lost): hatched, with a dashed right edge.
  if (bar.approximate) {
    parts.push(`<rect class="approximate" x="${n(bar.x)}" y="${n(bar.y)}" width="${n(bar.width)}" height="${n(bar.height)}" fill="url(#hatch)"/>`);
    parts.push(`<line class="approximate-end" x1="${n(bar.x + bar.width)}" y1="${n(bar.y - 3)}" x2="${n(bar.x + bar.width)}" y2="${n(bar.y + bar.height + 3)}" stroke="#333" stroke-dasharray="3 2"/>`);
  }
  // Still in this state: an arrow head, the bar goes on.
  if (bar.open) parts.push(`<path class="open-end" d="M${n(bar.x + bar.width)} ${n(bar.y)} l8 ${n(bar.height / 2)} l-8 ${n(bar.height / 2)} z" fill="${bar.fill}"/>`);
  const lineHeight = 12;
  const firstY = bar.y + bar.height / 2 - ((bar.label.length - 1) * lineHeight) / 2 + 4;
  bar.label.forEach((line, i) =>
    parts.push(`<text class="segment-label" x="${n(bar.x + bar.width / 2)}" y="${n(firstY + i * lineHeight)}" text-anchor="middle" fill="${bar.textColor}">${esc(line)}</text>`),
  );
  parts.push('</g>');
  return parts.join('');
}

/** `rowAttrs`: extra attributes of each row (by side name), naming its socket record. */
function lanePlot(lane: LaneLayout, width: number, height: number, rowAttrs: (sideName: string) => string): string {
  const left = lane.axisX - PLOT_PAD;
  const parts = [`<svg class="lane-plot" xmlns="http://www.w3.org/2000/svg" width="${n(width - left)}" height="${n(height)}" viewBox="${n(left)} ${n(lane.y)} ${n(width - left)} ${n(height)}">`];
  for (const row of lane.rows) {
    parts.push(`<g class="row" data-side="${row.sideName}"${rowAttrs(row.sideName)}>`);
    for (const bar of row.bars) parts.push(segment(bar));
    parts.push('</g>');
  }
  const axisEnd = lane.axisX + lane.axis.width;
  parts.push(`<g class="axis"><line x1="${n(lane.axisX)}" y1="${n(lane.axisY)}" x2="${n(axisEnd)}" y2="${n(lane.axisY)}" stroke="#333"/>`);
  for (const tick of lane.ticks) {
    parts.push(`<line x1="${n(tick.x)}" y1="${n(lane.axisY)}" x2="${n(tick.x)}" y2="${n(lane.axisY + 4)}" stroke="#333"/>`);
    if (tick.label) parts.push(`<text class="tick" x="${n(tick.x)}" y="${n(lane.axisY + 15)}" text-anchor="middle">${esc(tick.label)}</text>`);
  }
  for (const t of subTicks(lane.axis)) {
    const x = lane.axisX + t.x;
    parts.push(`<line x1="${n(x)}" y1="${n(lane.axisY)}" x2="${n(x)}" y2="${n(lane.axisY + 3)}" stroke="#888"/><text class="tick sub-tick" x="${n(x)}" y="${n(lane.axisY + 15)}" text-anchor="middle" fill="#777">+${formatDuration(t.ns)}</text>`);
  }
  for (const x of lane.breaks) parts.push(breakMark(x, lane.axisY, 10));
  parts.push('</g>');
  const rowsTop = lane.rows[0]?.y ?? lane.axisY;
  for (const g of lane.gaps) {
    parts.push(`<g class="gap"><line x1="${n(g.x)}" y1="${n(rowsTop - 4)}" x2="${n(g.x)}" y2="${n(lane.axisY)}" stroke="#d62728" stroke-width="2" stroke-dasharray="5 3"/><text x="${n(g.x + 3)}" y="${n(rowsTop - 6)}" fill="#d62728">${esc(g.label)}</text></g>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

function laneLabels(lane: LaneLayout, height: number): string {
  // Together with the plot's viewBox, an x in the page's lanes is the same x as in the layout.
  const parts = [`<svg class="lane-labels" xmlns="http://www.w3.org/2000/svg" width="${n(lane.axisX - PLOT_PAD)}" height="${n(height)}" viewBox="0 ${n(lane.y)} ${n(lane.axisX - PLOT_PAD)} ${n(height)}">`];
  for (const row of lane.rows) {
    parts.push(`<g class="row-label" data-side="${row.sideName}">`);
    row.label.forEach((line, i) => parts.push(`<text x="12" y="${n(row.y + 12 + i * 13)}"${i > 0 ? ' fill="#555"' : ''}>${esc(line)}</text>`));
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('');
}

/**
 * The lanes of a layout (made from `pairs`, in the same order) as HTML. Each
 * lane carries the cookies of its sides; each row its side, agent and cookie;
 * each bar its state, start, duration and how exact its end is.
 */
export function renderLanes(pairs: readonly TimelinePair[], layout: TimelineLayout): string {
  return layout.lanes
    .map((lane, i) => {
      const pair = pairs[i];
      const height = lane.height;
      const sides = { client: pair.client, server: pair.server, unknown: pair.unknown };
      const laneAttrs = [
        `data-lane="${i}"`,
        `data-key="${esc(refKey((pair.client ?? pair.server ?? pair.unknown)!.ref ?? { agentId: '', bootId: '', cookie: 0n }))}"`,
        pair.client ? `data-client-cookie="${pair.client.ref?.cookie ?? ''}"` : '',
        pair.server ? `data-server-cookie="${pair.server.ref?.cookie ?? ''}"` : '',
        `data-start-ns="${lane.startNs}"`,
        `data-axis-width="${n(lane.axis.width)}"`,
      ].filter(Boolean);
      const rowAttrs = (sideName: string) => {
        const t = sides[sideName as keyof typeof sides];
        return t ? ` data-cookie="${t.ref?.cookie ?? ''}" data-agent="${esc(t.ref?.agentId ?? '')}" data-host="${esc(t.hostname)}" data-time-wait-observed-by="${t.timeWaitObservedBy ? (Observation[t.timeWaitObservedBy] ?? t.timeWaitObservedBy) : ''}"` : '';
      };
      const plot = lanePlot(lane, layout.width, height, rowAttrs);
      return [
        `<section class="lane" ${laneAttrs.join(' ')}>`,
        `<div class="lane-head"><h3 class="lane-title">${esc(lane.title)}</h3><span class="lane-view"></span></div>`,
        `<div class="lane-body">${laneLabels(lane, height)}${plot}</div>`,
        '</section>',
      ].join('');
    })
    .join('\n');
}

const lifeOrder = [TcpState.SYN_SENT, TcpState.SYN_RECV, TcpState.ESTABLISHED, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, TcpState.CLOSING, TcpState.TIME_WAIT, TcpState.CLOSE_WAIT, TcpState.LAST_ACK, TcpState.LISTEN];

/** The legend: every state's colour in the order of a connection's life, then what the marks mean. */
export function renderLegend(): string {
  const items = lifeOrder.map((s) => `<span class="legend-item" data-state="${stateName(s)}"><svg width="14" height="14"><rect width="14" height="14" fill="${stateColor(s).fill}"/></svg>${stateName(s)}</span>`);
  items.push(
    '<span class="legend-item" data-mark="approximate"><svg width="22" height="14"><rect width="22" height="14" fill="#9e9ac8"/><rect width="22" height="14" fill="url(#hatch)"/><line x1="21" y1="0" x2="21" y2="14" stroke="#333" stroke-dasharray="3 2"/></svg>approximate end (seen by a sweep, or events lost)</span>',
    '<span class="legend-item" data-mark="open"><svg width="22" height="14"><rect width="14" height="14" fill="#9e9ac8"/><path d="M14 0 l8 7 l-8 7 z" fill="#9e9ac8"/></svg>still in this state</span>',
    '<span class="legend-item" data-mark="break"><svg width="16" height="14"><rect x="4" y="2" width="8" height="10" fill="#fff"/><path d="M2 12 L7 2 M9 12 L14 2" stroke="#555" stroke-width="1.5"/></svg>axis break: much longer than drawn</span>',
    '<span class="legend-item" data-mark="gap"><svg width="14" height="14"><line x1="7" y1="0" x2="7" y2="14" stroke="#d62728" stroke-width="2" stroke-dasharray="4 2"/></svg>events lost (gap)</span>',
  );
  return items.join('');
}
