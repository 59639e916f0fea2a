// What the controls ask for, as QueryTimeline / Watch arguments: the hosts
// ticked, the endpoint box, the time window. Pure (no DOM): unit-tested.
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { ConnectionFilterSchema } from '@tcpstate/proto';

/** A ConnectionFilter as QueryTimeline and Watch take it. */
export type FilterInit = MessageInitShape<typeof ConnectionFilterSchema>;

/** The window presets of the page, as milliseconds before now. */
export const WINDOW_PRESETS: Record<string, number> = {
  '5m': 5 * 60_000,
  '1h': 60 * 60_000,
  '24h': 24 * 60 * 60_000,
};

/** What the controls hold. */
export interface Controls {
  /** Agent ids ticked; none means every host. */
  hosts: string[];
  /** The endpoint box: server endpoints, addresses, prefixes and ports, separated by spaces or commas. */
  endpoint: string;
  /** A preset key of WINDOW_PRESETS, or "custom". */
  window: string;
  /** For "custom": epoch milliseconds (NaN when the field is empty or invalid). */
  fromMs?: number;
  toMs?: number;
}

/** The query the controls describe, or the problems that keep it from being one. */
export type Query =
  | { ok: true; include: FilterInit[]; startNs: bigint; endNs: bigint }
  | { ok: false; problems: string[] };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
// At least two colons: "::1", "fd00::1"; ":80" is a port.
const IPV6 = /^[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F:.]*$/;

function isAddress(text: string): boolean {
  return IPV4.test(text) || IPV6.test(text);
}

function isPort(text: string): boolean {
  return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
}

/**
 * Reads the endpoint box: "10.0.0.1:80" or "[fd00::1]:443" is a server
 * endpoint, ":80" or "80" a port at either end, "10.0.0.1" or "10.0.0.0/8" an
 * address or prefix at either end. The collector checks the values again and
 * names what it refuses.
 */
export function parseEndpointBox(text: string): { filter: FilterInit; problems: string[] } {
  const serverEndpoint: string[] = [];
  const port: number[] = [];
  const address: string[] = [];
  const problems: string[] = [];
  for (const token of text.split(/[\s,]+/).filter(Boolean)) {
    const v6Endpoint = /^\[([^\]]+)\]:(\d+)$/.exec(token);
    const v4Endpoint = /^([^:[\]]+):(\d+)$/.exec(token);
    const prefix = /^([^/]+)\/(\d+)$/.exec(token);
    if ((v6Endpoint && isAddress(v6Endpoint[1]) && isPort(v6Endpoint[2])) || (v4Endpoint && IPV4.test(v4Endpoint[1]) && isPort(v4Endpoint[2]))) {
      serverEndpoint.push(token);
    } else if (/^:?\d+$/.test(token) && isPort(token.replace(/^:/, ''))) {
      port.push(Number(token.replace(/^:/, '')));
    } else if (isAddress(token) || (prefix && isAddress(prefix[1]))) {
      address.push(token);
    } else {
      problems.push(`"${token}" is not an endpoint (IP:PORT, [IPv6]:PORT), a port (:PORT) or an address (IP, IP/PREFIX)`);
    }
  }
  const filter: FilterInit = {};
  if (serverEndpoint.length > 0) filter.serverEndpoint = serverEndpoint;
  if (port.length > 0) filter.port = port;
  if (address.length > 0) filter.address = address;
  return { filter, problems };
}

/** The window [start, end) in ns since the epoch, for a preset or the custom fields. */
export function windowOf(controls: Controls, nowMs: number): { startNs: bigint; endNs: bigint } | { problem: string } {
  const ns = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;
  const preset = WINDOW_PRESETS[controls.window];
  if (preset !== undefined) return { startNs: ns(nowMs - preset), endNs: ns(nowMs) };
  if (controls.window !== 'custom') return { problem: `unknown window "${controls.window}"` };
  const { fromMs, toMs } = controls;
  if (fromMs === undefined || !Number.isFinite(fromMs)) return { problem: 'the custom window needs a valid start time' };
  if (toMs === undefined || !Number.isFinite(toMs)) return { problem: 'the custom window needs a valid end time' };
  if (toMs <= fromMs) return { problem: 'the custom window ends before it starts' };
  return { startNs: ns(fromMs), endNs: ns(toMs) };
}

/** The QueryTimeline filters and window the controls describe (live mode watches with the same filters). */
export function buildQuery(controls: Controls, nowMs: number): Query {
  const { filter, problems } = parseEndpointBox(controls.endpoint);
  const window = windowOf(controls, nowMs);
  if ('problem' in window) problems.push(window.problem);
  if (problems.length > 0 || 'problem' in window) return { ok: false, problems };
  if (controls.hosts.length > 0) filter.host = [...controls.hosts];
  const include = Object.keys(filter).length > 0 ? [filter] : [];
  return { ok: true, include, startNs: window.startNs, endNs: window.endNs };
}
