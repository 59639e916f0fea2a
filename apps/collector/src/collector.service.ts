import { create } from '@bufbuild/protobuf';
import { durationFromMs, type Timestamp, timestampFromMs, timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { Inject, Injectable } from '@nestjs/common';
import { compileFilters, FilterError, parseIp } from '@tcpstate/model';
import {
  CollectorService,
  type ConnectionFilter,
  type ConnectionTimeline,
  type EndpointQuery,
  type GetConnectionRequest,
  type GetConnectionResponse,
  GetConnectionResponseSchema,
  type GetStatsRequest,
  type GetStatsResponse,
  type Host,
  HostSchema,
  HostState,
  type ListHostsResponse,
  ListHostsResponseSchema,
  type QueryTimelineRequest,
  type QueryTimelineResponse,
  type WatchRequest,
  type WatchResponse,
} from '@tcpstate/proto';
import { RpcService } from '@tcpstate/rpc';
import { type EventStore, InvalidQueryError, StoreUnavailableError } from '@tcpstate/store';
import type { CollectorOptions } from './collector-options.js';
import { AgentFleet } from './ingest/agent-fleet.js';
import type { IngestSnapshot } from './ingest/agent-ingest.js';
import { COLLECTOR_OPTIONS, EVENT_STORE } from './tokens.js';
import { LiveFeed } from './watch/live-feed.js';

/** The window of a query without start: the hour before its end. */
const DEFAULT_WINDOW_MS = 3_600_000;
/** Events queued per Watch stream before it gets a gap. */
const WATCH_QUEUE_EVENTS = 10_000;
/** The most events one Watch response may carry (WatchRequest.max_batch), as the agent's Subscribe. */
const MAX_WATCH_BATCH = 10_000;

/** Store and filter errors a caller can fix or retry become their gRPC codes, with the message as it is. */
function rpcError(error: unknown): unknown {
  if (error instanceof InvalidQueryError || error instanceof FilterError) return new ConnectError(error.message, Code.InvalidArgument);
  if (error instanceof StoreUnavailableError) return new ConnectError(error.message, Code.Unavailable);
  return error;
}

const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);

/** [start, end) of a request: end defaults to now, start to an hour before end. */
function windowOf(request: { start?: Timestamp; end?: Timestamp }): { start: Timestamp; end: Timestamp } {
  const end = request.end ?? timestampNow();
  const start = request.start ?? { ...end, seconds: end.seconds - BigInt(DEFAULT_WINDOW_MS / 1000) };
  return { start, end };
}

/** tcpstate.v1.CollectorService: the fleet's stored connections and live events. */
@Injectable()
@RpcService(CollectorService)
export class CollectorServiceImpl {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(AgentFleet) private readonly fleet: AgentFleet,
    @Inject(LiveFeed) private readonly feed: LiveFeed,
    @Inject(COLLECTOR_OPTIONS) private readonly options: CollectorOptions,
  ) {}

  async *watch(request: WatchRequest, ctx: HandlerContext): AsyncIterable<WatchResponse> {
    let filters;
    try {
      filters = compileFilters(request.include, request.exclude);
    } catch (error) {
      throw rpcError(error);
    }
    if (request.maxBatch > MAX_WATCH_BATCH) {
      throw new ConnectError(`max_batch: ${request.maxBatch} is more than ${MAX_WATCH_BATCH} events per response`, Code.InvalidArgument);
    }
    const hosts = request.include.length > 0 && request.include.every((f) => f.host.length > 0) ? request.include.flatMap((f) => f.host) : undefined;
    yield* this.feed.watch({
      filters,
      hosts,
      signal: ctx.signal,
      queueMax: WATCH_QUEUE_EVENTS,
      maxBatch: Math.max(1, request.maxBatch),
      heartbeatMs: this.options.heartbeat,
      progress: () =>
        this.fleet
          .snapshot()
          .filter((s) => s.active && s.agentId !== '' && s.bootId !== '')
          .map((s) => ({ agentId: s.agentId, bootId: s.bootId, lastSeq: s.storedSeq })),
    });
    // The server is shutting down: say so rather than ending as if complete.
    if (ctx.signal.aborted) throw ctx.signal.reason;
  }

  async queryTimeline(request: QueryTimelineRequest): Promise<QueryTimelineResponse> {
    try {
      await this.checkHosts(request.include, request.exclude);
      return await this.store.queryTimeline({
        ...windowOf(request),
        include: request.include,
        exclude: request.exclude,
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      });
    } catch (error) {
      throw rpcError(error);
    }
  }

  async getConnection(request: GetConnectionRequest): Promise<GetConnectionResponse> {
    try {
      const connection = await this.findConnection(request);
      const { peer, reason } = await this.store.findPeer(connection);
      return create(GetConnectionResponseSchema, { connection, peer, peerMissingReason: peer ? '' : (reason ?? '') });
    } catch (error) {
      throw rpcError(error);
    }
  }

  async listHosts(): Promise<ListHostsResponse> {
    let stored: Host[];
    try {
      stored = await this.store.listHosts();
    } catch (error) {
      throw rpcError(error);
    }
    const live = this.fleet.snapshot();
    const own = new Map(live.filter((s) => s.active && s.agentId !== '').map((s) => [s.agentId, s]));
    const hosts = stored.map((host) => {
      const ingest = own.get(host.agentId);
      if (ingest) return withLiveState(host, ingest);
      if (host.owner !== '' && host.owner !== this.options.replicaId) {
        // Another replica ingests it: only that replica knows how it is going.
        host.state = HostState.UNSPECIFIED;
        return host;
      }
      host.state = HostState.GONE;
      const last = live.find((s) => s.agentId === host.agentId);
      host.lastError = last?.lastError || 'not listed by discovery, or ingested by no replica';
      return host;
    });
    // Addresses whose agent has not answered yet (or not been stored yet).
    for (const s of live) {
      if (s.agentId !== '' && stored.some((h) => h.agentId === s.agentId)) continue;
      if (s.agentId === '' && !s.active && s.state !== HostState.GONE) continue;
      hosts.push(withLiveState(create(HostSchema, { agentId: s.agentId, hostname: s.hostname, owner: this.options.replicaId }), s));
    }
    return create(ListHostsResponseSchema, { hosts });
  }

  async getStats(request: GetStatsRequest): Promise<GetStatsResponse> {
    try {
      await this.checkHosts(request.include, request.exclude);
      const stepMs = request.step ? Number(request.step.seconds) * 1000 + request.step.nanos / 1e6 : undefined;
      if (stepMs !== undefined && stepMs <= 0) throw invalid('step: must be positive');
      return await this.store.stats({ ...windowOf(request), include: request.include, exclude: request.exclude, stepMs });
    } catch (error) {
      throw rpcError(error);
    }
  }

  /** The connection a GetConnection request names; NOT_FOUND when none. */
  private async findConnection(request: GetConnectionRequest): Promise<ConnectionTimeline> {
    const key = request.key;
    if (key.case === 'ref') {
      const { agentId, bootId, cookie } = key.value;
      if (agentId === '') throw invalid('ref.agent_id: required (with ref.cookie)');
      const found = await this.store.getConnection({ agentId, bootId, cookie });
      if (!found) {
        throw new ConnectError(`no connection with cookie ${cookie} is stored for agent ${agentId}${bootId ? ` boot ${bootId}` : ''}`, Code.NotFound);
      }
      return found;
    }
    if (key.case === 'endpoints') {
      const e = checkEndpoints(key.value);
      const at = e.at ?? timestampFromMs(Date.now());
      const found = await this.store.findConnectionByEndpoints(
        { address: e.localAddress, port: e.localPort },
        { address: e.remoteAddress, port: e.remotePort },
        at,
      );
      if (!found) {
        throw new ConnectError(
          `no connection ${e.localAddress}:${e.localPort} -> ${e.remoteAddress}:${e.remotePort} is stored from before that time`,
          Code.NotFound,
        );
      }
      return found;
    }
    throw invalid('give either ref (agent_id and cookie) or endpoints (local and remote address and port)');
  }

  /** Host names in filters must be agents or host names this collector knows: a typo would otherwise answer "nothing". */
  private async checkHosts(include: readonly ConnectionFilter[], exclude: readonly ConnectionFilter[]): Promise<void> {
    const named = [
      ...include.flatMap((f, i) => f.host.map((name, j) => ({ name, field: `include[${i}].host[${j}]` }))),
      ...exclude.flatMap((f, i) => f.host.map((name, j) => ({ name, field: `exclude[${i}].host[${j}]` }))),
    ];
    if (named.length === 0) return;
    const known = new Set((await this.store.listHosts()).flatMap((h) => [h.agentId, h.hostname]));
    const unknown = named.find((n) => !known.has(n.name));
    if (unknown) throw invalid(`${unknown.field}: no agent or host named "${unknown.name}" is known to this collector`);
  }
}

/** A stored host with this replica's view of its ingest. */
function withLiveState(host: Host, s: IngestSnapshot): Host {
  host.state = s.state;
  host.address = s.address;
  host.lag = durationFromMs(Math.round(s.lagMs));
  host.lastError = s.lastError;
  if (host.hostname === '') host.hostname = s.hostname;
  return host;
}

/** Both endpoints must be IP addresses with ports. */
function checkEndpoints(e: EndpointQuery): EndpointQuery {
  for (const [field, address, port] of [
    ['local', e.localAddress, e.localPort],
    ['remote', e.remoteAddress, e.remotePort],
  ] as const) {
    if (!parseIp(address)) throw invalid(`endpoints.${field}_address: "${address}" is not an IP address`);
    if (port === 0 || port > 65535) throw invalid(`endpoints.${field}_port: ${port} is not a port (1-65535)`);
  }
  return e;
}
