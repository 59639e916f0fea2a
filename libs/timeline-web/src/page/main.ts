// The page's wiring: reads the controls, asks the collector (api.ts), keeps
// what it got (state.ts), draws it (render.ts), zooms and pans (zoom.ts) and
// follows Watch in live mode (live.ts). Any failure shows in the banner: the
// page is never left blank without saying why.
import { formatDuration, layoutTimeline, type TimelineLayout } from '@tcpstate/model/browser';
import { HostState } from '@tcpstate/proto';
import { CollectorApi, describeError, type SocketRef } from './api.js';
import { LiveFollower } from './live.js';
import { buildQuery, type Controls, type FilterInit } from './query.js';
import { renderLanes, renderLegend } from './render.js';
import { MAX_LANES, TimelineState } from './state.js';
import { anchoredScroll, axisOptionsAt, clampZoom, visibleRange, ZOOM_STEP } from './zoom.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const api = new CollectorApi(window.location.origin);
const state = new TimelineState();
let layout: TimelineLayout | undefined;
let zoom = 1;
let live: LiveFollower | undefined;
let loading: AbortController | undefined;
/** Settles when the newest window query has answered (or failed): live re-reads wait for it. */
let queryAnswered: Promise<void> = Promise.resolve();
/** The filters live mode follows (those of the lanes drawn). */
let liveInclude: FilterInit[] | undefined;

const ui = {
  form: $<HTMLFormElement>('controls'),
  hosts: $<HTMLDivElement>('host-list'),
  endpoint: $<HTMLInputElement>('endpoint'),
  window: $<HTMLSelectElement>('window'),
  custom: $<HTMLSpanElement>('custom-window'),
  from: $<HTMLInputElement>('from'),
  to: $<HTMLInputElement>('to'),
  live: $<HTMLInputElement>('live'),
  liveState: $<HTMLSpanElement>('live-state'),
  error: $<HTMLDivElement>('error'),
  status: $<HTMLDivElement>('status'),
  legend: $<HTMLDivElement>('legend'),
  timeline: $<HTMLDivElement>('timeline'),
  lanes: $<HTMLDivElement>('lanes'),
  gaps: $<HTMLUListElement>('gap-list'),
  zoomIn: $<HTMLButtonElement>('zoom-in'),
  zoomOut: $<HTMLButtonElement>('zoom-out'),
  zoomReset: $<HTMLButtonElement>('zoom-reset'),
  zoomLevel: $<HTMLSpanElement>('zoom-level'),
};

function showError(message: string | undefined): void {
  ui.error.textContent = message ?? '';
  ui.error.hidden = message === undefined;
}

function readControls(): Controls {
  const hosts = [...ui.hosts.querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')].map((c) => c.value);
  return {
    hosts,
    endpoint: ui.endpoint.value,
    window: ui.window.value,
    // datetime-local values are local times; an empty or invalid field parses as NaN.
    fromMs: ui.from.value ? new Date(ui.from.value).getTime() : NaN,
    toMs: ui.to.value ? new Date(ui.to.value).getTime() : NaN,
  };
}

/** Lays the lanes out at the current zoom and draws them; keeps the visible ranges up to date. */
function draw(): void {
  const { pairs, total } = state.lanes(MAX_LANES);
  layout = layoutTimeline(pairs, { gaps: state.gaps, axis: axisOptionsAt(zoom), top: 0 });
  ui.lanes.innerHTML = renderLanes(pairs, layout);
  ui.lanes.dataset.laneCount = String(pairs.length);
  const shown = total > pairs.length ? `the ${pairs.length} most recent of ${total} connections` : `${total} connection${total === 1 ? '' : 's'}`;
  ui.status.textContent = total === 0 ? 'No connections in this window.' : `${shown}, newest first; client above server.`;
  ui.gaps.innerHTML = state.gaps.map((g) => `<li>${escapeHtml(`${g.agentId}: ${g.count} events lost${g.message ? `: ${g.message}` : ''}`)}</li>`).join('');
  ui.gaps.parentElement!.hidden = state.gaps.length === 0;
  ui.zoomLevel.textContent = `${Math.round(zoom * 100)}%`;
  ui.timeline.dataset.zoom = String(zoom);
  updateVisibleRanges();
}

function escapeHtml(text: string): string {
  const div = document.createElement('div');
  div.textContent = text;
  return div.innerHTML;
}

/** Writes each lane's visible stretch of time (data-view-from-ns/-to-ns and its head) for the current scroll. */
function updateVisibleRanges(): void {
  if (!layout) return;
  const labelWidth = layout.lanes[0]?.axisX ?? 0;
  const view = Math.max(0, ui.timeline.clientWidth - labelWidth);
  ui.lanes.querySelectorAll<HTMLElement>('section.lane').forEach((section, i) => {
    const lane = layout!.lanes[i];
    if (!lane) return;
    const { fromNs, toNs } = visibleRange(lane.axis, ui.timeline.scrollLeft, view);
    section.dataset.viewFromNs = String(Math.round(fromNs));
    section.dataset.viewToNs = String(Math.round(toNs));
    const whole = fromNs <= 0 && toNs >= lane.axis.pieces.at(-1)!.endNs;
    section.querySelector('.lane-view')!.textContent = whole ? '' : `showing +${formatDuration(fromNs)} … +${formatDuration(toNs)}`;
  });
}

/** Zooms by `factor` keeping the time under `pointerPx` (from the left of the visible plot) in place. */
function zoomBy(factor: number, pointerPx?: number): void {
  const next = clampZoom(zoom * factor);
  if (next === zoom || !layout) return;
  const labelWidth = layout.lanes[0]?.axisX ?? 0;
  const anchor = pointerPx ?? (ui.timeline.clientWidth - labelWidth) / 2;
  const scroll = anchoredScroll(ui.timeline.scrollLeft, anchor, next / zoom);
  zoom = next;
  draw();
  ui.timeline.scrollLeft = scroll;
  updateVisibleRanges();
}

function resetZoom(): void {
  zoom = 1;
  draw();
  ui.timeline.scrollLeft = 0;
  updateVisibleRanges();
}

async function loadHosts(): Promise<void> {
  const hosts = await api.listHosts();
  ui.hosts.innerHTML = '';
  if (hosts.length === 0) ui.hosts.textContent = 'no agents known to this collector';
  for (const h of hosts) {
    const label = document.createElement('label');
    label.className = 'host';
    label.dataset.agent = h.agentId;
    label.dataset.state = HostState[h.state];
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = h.agentId;
    label.append(box, ` ${h.hostname || h.agentId}`);
    const detail = document.createElement('small');
    detail.textContent = ` ${HostState[h.state].toLowerCase()}${h.lost > 0n ? `, ${h.lost} lost` : ''}${h.lastError ? `: ${h.lastError}` : ''}`;
    label.append(detail);
    label.title = `agent ${h.agentId} at ${h.address}`;
    ui.hosts.append(label);
  }
}

/**
 * Queries the window the controls describe and draws it. Live mode (re)starts
 * before the query, so that nothing stored while the query runs is missed: its
 * re-reads wait for the query's answer and are applied on top of it.
 */
async function load(options: { keepLive?: boolean } = {}): Promise<void> {
  const query = buildQuery(readControls(), Date.now());
  if (!query.ok) {
    showError(query.problems.join('; '));
    return;
  }
  loading?.abort();
  const controller = (loading = new AbortController());
  let answered!: () => void;
  queryAnswered = new Promise<void>((resolve) => (answered = resolve));
  const previousLive = liveInclude;
  if (!options.keepLive) restartLive(query.include);
  ui.status.textContent = 'Loading…';
  document.body.dataset.loading = 'true';
  try {
    const result = await api.queryWindow(query.include, query.startNs, query.endNs, controller.signal);
    if (controller.signal.aborted) return;
    state.replace(result.connections, result.gaps);
    showError(result.truncated ? 'The window holds more connections than the page reads (10 pages of 1000): narrow the window or the filter.' : undefined);
    draw();
  } catch (error) {
    if (!controller.signal.aborted) {
      // The lanes drawn stay, and so does live mode on their filters.
      if (!options.keepLive && previousLive) restartLive(previousLive);
      showError(describeError('Cannot load the timeline', error));
      ui.status.textContent = '';
    }
  } finally {
    answered();
    if (loading === controller) document.body.dataset.loading = 'false';
  }
}

function setLiveState(text: string, value: string): void {
  ui.liveState.textContent = text;
  ui.liveState.dataset.state = value;
}

function restartLive(include: FilterInit[]): void {
  live?.stop();
  live = undefined;
  liveInclude = include;
  if (!ui.live.checked) {
    setLiveState('', 'off');
    return;
  }
  const follower = new LiveFollower(api, include, {
    changed: async (refs: SocketRef[]) => {
      const connections = await api.getConnections(refs);
      await queryAnswered;
      state.upsert(connections);
      if (live === follower) draw();
    },
    gap: (gap) => {
      state.addGaps([gap]);
      draw();
    },
    following: () => {
      setLiveState('live: following the collector', 'following');
      showError(undefined);
    },
    // Watch is live only: after an outage, the window is read again.
    reopened: () => void load({ keepLive: true }),
    failed: (error) => {
      setLiveState('live: reconnecting…', 'reconnecting');
      showError(describeError('Live mode', error));
    },
  });
  live = follower;
  setLiveState('live: connecting…', 'connecting');
  void follower.start();
}

function wireZoomAndPan(): void {
  ui.zoomIn.addEventListener('click', () => zoomBy(ZOOM_STEP));
  ui.zoomOut.addEventListener('click', () => zoomBy(1 / ZOOM_STEP));
  ui.zoomReset.addEventListener('click', resetZoom);
  // Ctrl + wheel (and a trackpad pinch, which browsers send as one) zooms
  // around the pointer; a plain wheel keeps scrolling the page.
  ui.timeline.addEventListener(
    'wheel',
    (e) => {
      if (!e.ctrlKey && !e.metaKey) return;
      e.preventDefault();
      const labelWidth = layout?.lanes[0]?.axisX ?? 0;
      const pointer = e.clientX - ui.timeline.getBoundingClientRect().left - labelWidth;
      zoomBy(Math.exp(-e.deltaY / 300), Math.max(0, pointer));
    },
    { passive: false },
  );
  // Drag to pan.
  let drag: { x: number; scroll: number } | undefined;
  ui.timeline.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, scroll: ui.timeline.scrollLeft };
    ui.timeline.setPointerCapture(e.pointerId);
    ui.timeline.classList.add('dragging');
  });
  ui.timeline.addEventListener('pointermove', (e) => {
    if (drag) ui.timeline.scrollLeft = drag.scroll - (e.clientX - drag.x);
  });
  const endDrag = () => {
    drag = undefined;
    ui.timeline.classList.remove('dragging');
  };
  ui.timeline.addEventListener('pointerup', endDrag);
  ui.timeline.addEventListener('pointercancel', endDrag);
  let frame = 0;
  ui.timeline.addEventListener('scroll', () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(updateVisibleRanges);
  });
  window.addEventListener('resize', updateVisibleRanges);
}

async function main(): Promise<void> {
  ui.legend.innerHTML = renderLegend();
  wireZoomAndPan();
  ui.window.addEventListener('change', () => {
    ui.custom.hidden = ui.window.value !== 'custom';
    if (ui.window.value !== 'custom') void load();
  });
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  ui.live.addEventListener('change', () => void load());
  try {
    await loadHosts();
  } catch (error) {
    showError(describeError('Cannot list the hosts', error));
    return;
  }
  await load();
}

void main();
