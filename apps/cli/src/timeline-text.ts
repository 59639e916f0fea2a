// A connection as text: both sides, client above server, each state with its
// start offset (from the connection's first moment) and its duration.
import { durationNs, formatDuration, formatTimeUtc, pairTitle, stateName, timestampNs, type TimelinePair } from '@tcpstate/model';
import { type ConnectionTimeline, type Gap, Observation, Side } from '@tcpstate/proto';
import { formatGap, processName } from './event-line.js';

function sideLines(t: ConnectionTimeline, originNs: bigint): string[] {
  const side = t.side === Side.CLIENT ? 'client' : t.side === Side.SERVER ? 'server' : 'unknown';
  const lines = [`  ${side}  ${t.hostname}  ${processName(t.comm, t.pid)}  cookie ${t.ref?.cookie ?? 0n}${t.open ? '  (open)' : ''}`];
  for (const s of t.segments) {
    const offset = timestampNs(s.start)! - originNs;
    const d = durationNs(s.duration);
    const open = s.end === undefined;
    let text = d === undefined ? 'open' : `${s.approximate ? '≈' : ''}${formatDuration(d)}${open ? ' so far' : ''}`;
    if (s.approximate && s.endObservedBy === Observation.SWEEP) text += '  (end seen by a sweep: approximate)';
    else if (s.approximate) text += '  (approximate: events lost)';
    lines.push(`    ${(offset === 0n ? '0' : `+${formatDuration(offset)}`).padStart(9)}  ${stateName(s.state).padEnd(12)}  ${text}`);
  }
  return lines;
}

/** The text of one connection; `peerMissingReason` explains an absent side. */
export function formatPair(pair: TimelinePair, peerMissingReason = ''): string[] {
  const sides = [pair.client, pair.server, pair.unknown].filter((t): t is ConnectionTimeline => t !== undefined);
  let origin = pair.startNs;
  for (const t of sides) for (const s of t.segments) if (timestampNs(s.start)! < origin) origin = timestampNs(s.start)!;
  const lines = [`${pairTitle(pair)}  ${formatTimeUtc(origin)}`];
  const missing = (side: string) => `  ${side}  not seen${peerMissingReason ? `: ${peerMissingReason}` : ' (no agent recorded it, or it lies outside the window)'}`;
  if (pair.client) lines.push(...sideLines(pair.client, origin));
  else if (pair.server) lines.push(missing('client'));
  if (pair.server) lines.push(...sideLines(pair.server, origin));
  else if (pair.client) lines.push(missing('server'));
  if (pair.unknown) lines.push(...sideLines(pair.unknown, origin));
  return lines;
}

/** Gaps of a window, one line each. */
export function formatGaps(gaps: readonly Gap[]): string[] {
  return gaps.map((g) => formatGap(g));
}
