// Fetching connections from a collector for `timeline` and `plot`: a window
// of QueryTimeline pages, or one connection with GetConnection.
import { type ListenAddress, type OptionSpec, parseDuration } from '@tcpstate/config';
import { timestampFromNs, type TimelinePair, pairTimelines } from '@tcpstate/model';
import type { ConnectionFilter, ConnectionTimeline, Gap } from '@tcpstate/proto';
import { collectorClient } from './clients.js';

/** --since and --until: the window, as durations before now. */
export const windowOptions: OptionSpec[] = [
  { name: 'since', value: 'DURATION', description: 'Window start, this long ago', parse: parseDuration, default: 3_600_000, env: null },
  { name: 'until', value: 'DURATION', description: 'Window end, this long ago', parse: parseDuration, default: 0, env: null },
];

/** The connections of a window (all pages), paired, oldest first, with the window's gaps. */
export async function queryWindow(
  collector: ListenAddress,
  values: Record<string, unknown>,
  filters: { include: ConnectionFilter[]; exclude: ConnectionFilter[] },
  signal: AbortSignal,
): Promise<{ pairs: TimelinePair[]; gaps: Gap[] }> {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const msNs = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;
  const start = timestampFromNs(nowNs - msNs(values.since as number));
  const end = timestampFromNs(nowNs - msNs(values.until as number));
  const client = collectorClient(collector);
  const connections: ConnectionTimeline[] = [];
  const gaps: Gap[] = [];
  let pageToken = '';
  do {
    const page = await client.queryTimeline({ start, end, ...filters, pageSize: 1000, pageToken }, { signal, timeoutMs: 30_000 });
    connections.push(...page.connections);
    gaps.push(...page.gaps);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { pairs: pairTimelines(connections), gaps };
}

/** One connection by its ref, with the peer the collector found (or why not). */
export async function queryConnection(
  collector: ListenAddress,
  ref: { agentId: string; bootId: string; cookie: bigint },
  signal: AbortSignal,
): Promise<{ pair: TimelinePair; peerMissingReason: string }> {
  const res = await collectorClient(collector).getConnection({ key: { case: 'ref', value: ref } }, { signal, timeoutMs: 30_000 });
  const found = [res.connection, res.peer].filter((t): t is ConnectionTimeline => t !== undefined);
  const pairs = pairTimelines(found);
  if (pairs.length === 0) throw new Error(`the collector has no connection ${ref.agentId} cookie ${ref.cookie}`);
  // Paired by the collector even when the endpoints do not mirror (NAT).
  const pair = pairs.length === 1 ? pairs[0] : { ...pairs[0], ...pairs[1], startNs: pairs[0].startNs < pairs[1].startNs ? pairs[0].startNs : pairs[1].startNs, endNs: pairs[0].endNs > pairs[1].endNs ? pairs[0].endNs : pairs[1].endNs };
  return { pair, peerMissingReason: res.peerMissingReason };
}
