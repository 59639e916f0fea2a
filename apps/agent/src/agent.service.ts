import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromDate, timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { Inject, Injectable } from '@nestjs/common';
import { compileFilters, FilterError } from '@tcpstate/model';
import {
  AgentService,
  ConnectionSchema,
  type GetStatusResponse,
  GetStatusResponseSchema,
  type ListConnectionsRequest,
  type ListConnectionsResponse,
  ListConnectionsResponseSchema,
  type SubscribeRequest,
  type SubscribeResponse,
  TcpState,
} from '@tcpstate/proto';
import { RpcService } from '@tcpstate/rpc';
import { CaptureService } from './capture/capture.service.js';
import { HOST_INFO, type HostInfo } from './host-info.js';
import { EventHub, RequestError } from './hub/index.js';
import { preEncoded } from './hub/response-encoder.js';
import { agentVersion } from './version.js';

/** A request the caller got wrong: INVALID_ARGUMENT with the field named in the message. */
function invalidArgument(err: unknown): never {
  if (err instanceof RequestError || err instanceof FilterError) throw new ConnectError(err.message, Code.InvalidArgument);
  throw err;
}

/** Who is calling, for GetStatus's subscriber list. */
function peerOf(ctx: HandlerContext): string {
  return ctx.requestHeader.get('x-forwarded-for') ?? ctx.requestHeader.get('user-agent') ?? 'unknown';
}

/** Whether the call's messages are JSON (Connect's application/json, application/connect+json, gRPC-Web's +json). */
function isJson(ctx: HandlerContext): boolean {
  return /json/i.test(ctx.requestHeader.get('content-type') ?? '');
}

/** tcpstate.v1.AgentService, as served to grpcurl, the collector and generated clients. */
@Injectable()
@RpcService(AgentService)
export class AgentServiceImpl {
  constructor(
    @Inject(HOST_INFO) private readonly host: HostInfo,
    @Inject(EventHub) private readonly hub: EventHub,
    @Inject(CaptureService) private readonly capture: CaptureService,
  ) {}

  async *subscribe(request: SubscribeRequest, ctx: HandlerContext): AsyncIterable<SubscribeResponse> {
    let stream: AsyncIterableIterator<SubscribeResponse>;
    try {
      stream = this.hub.subscribe(request, { peer: peerOf(ctx), signal: ctx.signal });
    } catch (err) {
      invalidArgument(err);
    }
    // Protobuf clients (gRPC, gRPC-Web, Connect binary) get the events encoded by the agent's own encoder;
    // JSON clients get the messages for Connect to write as JSON.
    if (isJson(ctx)) yield* stream;
    else for await (const response of stream) yield preEncoded(response);
    // The server is shutting down (or the client left): say so rather than
    // ending the stream as if it were complete.
    if (ctx.signal.aborted && request.follow !== false && request.first === 0n) throw ctx.signal.reason;
  }

  async listConnections(request: ListConnectionsRequest): Promise<ListConnectionsResponse> {
    let filters;
    try {
      filters = compileFilters(request.include, request.exclude);
    } catch (err) {
      invalidArgument(err);
    }
    if (!this.capture.capturing) {
      throw new ConnectError(`ListConnections needs kernel capture: ${this.capture.error}`, Code.FailedPrecondition);
    }
    const time = timestampNow();
    const nowNs = process.hrtime.bigint();
    const connections = this.capture
      .listSockets()
      .filter((s) =>
        filters.matches({ ...s, oldState: s.state, newState: s.state, agentId: this.host.agentId, hostname: this.host.hostname }),
      )
      .map((s) =>
        create(ConnectionSchema, {
          cookie: s.cookie,
          family: s.family === 6 ? 10 : 2,
          localAddress: s.localAddress,
          localPort: s.localPort,
          remoteAddress: s.remoteAddress,
          remotePort: s.remotePort,
          state: s.state as TcpState,
          side: s.side,
          timeInState: s.stateSinceNs === undefined ? undefined : durationFromMs(Number((nowNs - s.stateSinceNs) / 1_000_000n)),
          pid: s.pid,
          comm: s.comm,
          netns: s.netns,
          cgroupId: s.cgroupId,
        }),
      );
    return create(ListConnectionsResponseSchema, { connections, time });
  }

  async getStatus(): Promise<GetStatusResponse> {
    const h = this.host;
    const stats = this.hub.stats();
    return create(GetStatusResponseSchema, {
      agentId: h.agentId,
      hostname: h.hostname,
      bootId: h.bootId,
      kernelRelease: h.kernelRelease,
      btfAvailable: h.btfAvailable,
      nodeVersion: h.nodeVersion,
      version: agentVersion,
      started: timestampFromDate(h.started),
      uptime: durationFromMs(Date.now() - h.started.getTime()),
      capturing: this.capture.capturing,
      captureError: this.capture.error ?? '',
      strategies: this.capture.strategies.map((s) => ({ concern: s.concern, name: s.name, active: s.active, refusedReason: s.refusedReason ?? '' })),
      eventsCaptured: BigInt(stats.captured),
      kernelDrops: this.capture.kernelDrops(),
      subscriberDrops: BigInt(stats.subscriberDrops),
      eventsPerSecond: stats.eventsPerSecond,
      replayWindow: {
        events: BigInt(stats.replay.events),
        bytes: BigInt(stats.replay.bytes),
        maxEvents: BigInt(stats.replay.maxEvents),
        maxBytes: BigInt(stats.replay.maxBytes),
        firstSeq: BigInt(stats.replay.firstSeq),
        lastSeq: BigInt(stats.replay.lastSeq),
      },
      subscribers: stats.subscribers.map((s) => ({
        id: BigInt(s.id),
        peer: s.peer,
        since: timestampFromDate(s.since),
        delivered: BigInt(s.delivered),
        dropped: BigInt(s.dropped),
        queued: BigInt(s.queued),
      })),
    });
  }
}
