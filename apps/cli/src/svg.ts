// The timeline picture as SVG, written by hand from libs/model's layout:
// lanes of connections, client above server, a bar per state, the compressed
// axis with break markers, gaps as red dashed lines, a legend.
import { stateColor, stateName, type TimelineLayout } from '@tcpstate/model';
import { type Gap, TcpState } from '@tcpstate/proto';
import { formatGap } from './event-line.js';

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n = (v: number) => String(Number(v.toFixed(2)));

/** A break marker: two slanted strokes over a white notch, centred at (x, y). */
function breakMark(x: number, y: number, h: number): string {
  return `<g class="break"><rect x="${n(x - 4)}" y="${n(y - h / 2)}" width="8" height="${n(h)}" fill="#ffffff"/><path d="M${n(x - 6)} ${n(y + h / 2)} L${n(x - 1)} ${n(y - h / 2)} M${n(x + 1)} ${n(y + h / 2)} L${n(x + 6)} ${n(y - h / 2)}" stroke="#555" stroke-width="1.5" fill="none"/></g>`;
}

/** The SVG document for a layout (made with `top` = 40 for the title); `gaps` are listed below the lanes. */
export function renderSvg(layout: TimelineLayout, options: { title: string; gaps?: readonly Gap[] }): string {
  const gaps = options.gaps ?? [];
  const states = [...new Set(layout.lanes.flatMap((l) => l.rows.flatMap((r) => r.bars.map((b) => b.state))))].sort((a, b) => legendOrder(a) - legendOrder(b));
  const legendY = layout.height + 4;
  const gapLinesY = legendY + 28;
  const height = gapLinesY + gaps.length * 16 + 8;
  const width = Math.max(layout.width, 200 + states.length * 110);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="11">`,
    `<rect class="background" x="0" y="0" width="${n(width)}" height="${n(height)}" fill="#ffffff"/>`,
    `<text class="title" x="12" y="24" font-size="15" font-weight="bold">${esc(options.title)}</text>`,
  ];
  layout.lanes.forEach((lane, laneIndex) => {
    parts.push(`<g class="lane" data-lane="${laneIndex}">`);
    parts.push(`<text class="lane-title" xml:space="preserve" x="12" y="${n(lane.y + 12)}" font-weight="bold">${esc(lane.title)}</text>`);
    for (const row of lane.rows) {
      parts.push(`<g class="row" data-side="${row.sideName}">`);
      row.label.forEach((line, i) => parts.push(`<text class="row-label" x="20" y="${n(row.y + 12 + i * 13)}"${i > 0 ? ' fill="#555"' : ''}>${esc(line)}</text>`));
      for (const bar of row.bars) {
        const attrs = `data-state="${bar.stateName}" data-start-ns="${bar.startNs}"${bar.durationNs === undefined ? '' : ` data-duration-ns="${bar.durationNs}"`} data-approximate="${bar.approximate}" data-open="${bar.open}"`;
        parts.push(`<g class="segment" ${attrs}><title>${esc(bar.title)}</title>`);
        parts.push(`<rect x="${n(bar.x)}" y="${n(bar.y)}" width="${n(bar.width)}" height="${n(bar.height)}" fill="${bar.fill}" stroke="#ffffff" stroke-width="1"/>`);
        // An approximate end: a dashed right edge. An open one: an arrow head.
        if (bar.approximate) parts.push(`<line class="approximate-end" x1="${n(bar.x + bar.width)}" y1="${n(bar.y - 3)}" x2="${n(bar.x + bar.width)}" y2="${n(bar.y + bar.height + 3)}" stroke="#333" stroke-dasharray="3 2"/>`);
        if (bar.open) parts.push(`<path class="open-end" d="M${n(bar.x + bar.width)} ${n(bar.y)} l8 ${n(bar.height / 2)} l-8 ${n(bar.height / 2)} z" fill="${bar.fill}"/>`);
        const lineHeight = 12;
        const firstY = bar.y + bar.height / 2 - ((bar.label.length - 1) * lineHeight) / 2 + 4;
        bar.label.forEach((line, i) =>
          parts.push(`<text class="segment-label" x="${n(bar.x + bar.width / 2)}" y="${n(firstY + i * lineHeight)}" text-anchor="middle" font-family="DejaVu Sans Mono, monospace" font-size="10" fill="${bar.textColor}">${esc(line)}</text>`),
        );
        parts.push('</g>');
      }
      parts.push('</g>');
    }
    const axisEnd = lane.axisX + lane.axis.width;
    parts.push(`<g class="axis"><line x1="${n(lane.axisX)}" y1="${n(lane.axisY)}" x2="${n(axisEnd)}" y2="${n(lane.axisY)}" stroke="#333"/>`);
    for (const tick of lane.ticks) {
      parts.push(`<line x1="${n(tick.x)}" y1="${n(lane.axisY)}" x2="${n(tick.x)}" y2="${n(lane.axisY + 4)}" stroke="#333"/>`);
      if (tick.label) parts.push(`<text class="tick" x="${n(tick.x)}" y="${n(lane.axisY + 15)}" text-anchor="middle" font-size="10" fill="#333">${esc(tick.label)}</text>`);
    }
    // Break markers on the axis: the piece is drawn much shorter than it lasted.
    const rowsTop = lane.rows[0]?.y ?? lane.axisY;
    for (const x of lane.breaks) parts.push(breakMark(x, lane.axisY, 10));
    parts.push('</g>');
    for (const g of lane.gaps) {
      parts.push(`<g class="gap"><line x1="${n(g.x)}" y1="${n(rowsTop - 4)}" x2="${n(g.x)}" y2="${n(lane.axisY)}" stroke="#d62728" stroke-width="2" stroke-dasharray="5 3"/><text x="${n(g.x + 3)}" y="${n(rowsTop - 6)}" fill="#d62728" font-size="10">${esc(g.label)}</text></g>`);
    }
    parts.push('</g>');
  });
  // Legend: the states drawn, in the order of a connection's life.
  parts.push(`<g class="legend"><text x="12" y="${n(legendY + 14)}" fill="#333">states:</text>`);
  states.forEach((state, i) => {
    const { fill } = stateColor(state);
    const x = 70 + i * 110;
    parts.push(`<rect x="${x}" y="${n(legendY + 4)}" width="12" height="12" fill="${fill}"/><text x="${x + 16}" y="${n(legendY + 14)}" font-size="10">${stateName(state)}</text>`);
  });
  parts.push('</g>');
  if (gaps.length > 0) {
    parts.push('<g class="gaps">');
    gaps.forEach((g, i) => parts.push(`<text x="12" y="${n(gapLinesY + i * 16)}" fill="#d62728" font-size="10">${esc(formatGap(g))}</text>`));
    parts.push('</g>');
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

const lifeOrder = [TcpState.LISTEN, TcpState.SYN_SENT, TcpState.SYN_RECV, TcpState.NEW_SYN_RECV, TcpState.ESTABLISHED, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, TcpState.CLOSING, TcpState.TIME_WAIT, TcpState.CLOSE_WAIT, TcpState.LAST_ACK];
function legendOrder(state: TcpState): number {
  const i = lifeOrder.indexOf(state);
  return i < 0 ? 100 + state : i;
}
