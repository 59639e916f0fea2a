// The collector's API from the browser: the generated CollectorService client
// over the Connect protocol (binary) to the page's own origin, which is the
// collector's HTTP port. Errors become one sentence for the banner.
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { refKey } from '@tcpstate/model/browser';
import type { FilterInit } from './query.js';
import { type ConnectionRef, type ConnectionTimeline, CollectorService, type Gap, type Host, type WatchResponse } from '@tcpstate/proto';

/** Connections read per QueryTimeline page, and pages read at most for one window. */
const PAGE_SIZE = 1000;
const MAX_PAGES = 10;
/** GetConnection calls in flight at once (peers, live updates). */
const PARALLEL = 4;
const ZERO_REF = { agentId: '', bootId: '', cookie: 0n };

/** One socket record's identity (a ConnectionRef's fields). */
export type SocketRef = Pick<ConnectionRef, 'agentId' | 'bootId' | 'cookie'>;

/** A window's connections with the peers the collector found, and its gaps. */
export interface WindowResult {
  connections: ConnectionTimeline[];
  gaps: Gap[];
  /** The window held more connections than were read (MAX_PAGES pages). */
  truncated: boolean;
}

/** The calls the page makes. */
export class CollectorApi {
  private readonly client: Client<typeof CollectorService>;

  /** `baseUrl`: the collector's HTTP port, by default the page's own origin. */
  constructor(baseUrl: string) {
    this.client = createClient(CollectorService, createConnectTransport({ baseUrl, useBinaryFormat: true }));
  }

  async listHosts(signal?: AbortSignal): Promise<Host[]> {
    return (await this.client.listHosts({}, { signal, timeoutMs: 15_000 })).hosts;
  }

  /**
   * The connections of a window (every page up to MAX_PAGES), plus the other
   * side of each one whose peer the collector names but the filter left out
   * (e.g. the server's record when only the client's host is ticked).
   */
  async queryWindow(include: FilterInit[], startNs: bigint, endNs: bigint, signal?: AbortSignal): Promise<WindowResult> {
    const ts = (ns: bigint) => ({ seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });
    const connections: ConnectionTimeline[] = [];
    const gaps: Gap[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await this.client.queryTimeline({ start: ts(startNs), end: ts(endNs), include, pageSize: PAGE_SIZE, pageToken }, { signal, timeoutMs: 30_000 });
      connections.push(...page.connections);
      gaps.push(...page.gaps);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken && pages < MAX_PAGES);
    const have = new Set(connections.map((c) => refKey(c.ref ?? ZERO_REF)));
    const missing = connections.map((c) => c.peer).filter((p): p is ConnectionRef => p !== undefined && !have.has(refKey(p)));
    const peers = await this.getConnections(missing, signal);
    for (const p of peers) if (!have.has(refKey(p.ref ?? ZERO_REF))) connections.push(p);
    return { connections, gaps, truncated: pageToken !== '' };
  }

  /** The records of these sockets with their peers (GetConnection each, a few at a time). Unknown refs are left out. */
  async getConnections(refs: readonly SocketRef[], signal?: AbortSignal): Promise<ConnectionTimeline[]> {
    const out: ConnectionTimeline[] = [];
    const queue = [...new Map(refs.map((r) => [refKey(r), r])).values()];
    const worker = async () => {
      for (let ref = queue.shift(); ref; ref = queue.shift()) {
        try {
          const res = await this.client.getConnection({ key: { case: 'ref', value: { agentId: ref.agentId, bootId: ref.bootId, cookie: ref.cookie } } }, { signal, timeoutMs: 15_000 });
          if (res.connection) out.push(res.connection);
          if (res.peer) out.push(res.peer);
        } catch (error) {
          // A socket the collector does not hold (yet): nothing to draw.
          if (!(error instanceof ConnectError && error.code === Code.NotFound)) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
    return out;
  }

  /** The fleet's live stream (Connect server streaming over fetch). */
  watch(include: FilterInit[], signal: AbortSignal): AsyncIterable<WatchResponse> {
    return this.client.watch({ include }, { signal });
  }
}

/** "INVALID_ARGUMENT" for Code.InvalidArgument: the gRPC spelling users see elsewhere (grpcurl, the CLI). */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

/** One sentence for the error banner: what failed and what the collector said. */
export function describeError(what: string, error: unknown): string {
  if (error instanceof ConnectError) {
    // A network failure reaches here as UNKNOWN ("Failed to fetch"), a collector going away as UNAVAILABLE.
    const hint = error.code === Code.Unavailable || error.code === Code.Unknown ? ' Is the collector still running?' : '';
    return `${what}: ${codeName(error.code)}: ${error.rawMessage.replace(/\.$/, "")}.${hint}`;
  }
  return `${what}: ${error instanceof Error ? error.message : String(error)}`;
}
