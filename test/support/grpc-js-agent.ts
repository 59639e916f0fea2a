// AgentService through @grpc/grpc-js, the reference gRPC implementation, with
// protobuf-es doing the (de)serialisation of the generated messages.
import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  type GetStatusResponse,
  GetStatusRequestSchema,
  GetStatusResponseSchema,
  ListConnectionsRequestSchema,
  type ListConnectionsResponse,
  ListConnectionsResponseSchema,
  SubscribeRequestSchema,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from '@tcpstate/proto';
import { CollectedStream } from './collected-stream.js';

export type SubscribeInit = MessageInitShape<typeof SubscribeRequestSchema>;

export class GrpcJsAgent {
  readonly client: grpc.Client;

  /**
   * ownConnection: do not share grpc-js's pooled HTTP/2 connection with other
   * clients (a paused stream holds the connection's flow-control window).
   */
  constructor(address: string, options: { ownConnection?: boolean } = {}) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), options.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {});
  }

  getStatus(): Promise<GetStatusResponse> {
    return this.unary('GetStatus', toBinary(GetStatusRequestSchema, create(GetStatusRequestSchema)), (b) => fromBinary(GetStatusResponseSchema, b));
  }

  listConnections(init: MessageInitShape<typeof ListConnectionsRequestSchema>): Promise<ListConnectionsResponse> {
    return this.unary('ListConnections', toBinary(ListConnectionsRequestSchema, create(ListConnectionsRequestSchema, init)), (b) =>
      fromBinary(ListConnectionsResponseSchema, b),
    );
  }

  /** Opens a Subscribe stream; responses are collected as they arrive. */
  subscribe(init: SubscribeInit): Subscription {
    const call = this.client.makeServerStreamRequest(
      '/tcpstate.v1.AgentService/Subscribe',
      (r: Uint8Array) => Buffer.from(r),
      (b: Buffer) => fromBinary(SubscribeResponseSchema, b),
      toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, init)),
    );
    return new Subscription(call);
  }

  /** The agent's event count once capture has gone quiet (unchanged for quietMs): records still in flight are counted. */
  async settledEventCount(quietMs = 400, timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    for (;;) {
      const now = Number((await this.getStatus()).eventsCaptured);
      if (now === last) return now;
      if (Date.now() > deadline) throw new Error(`capture did not go quiet within ${timeoutMs} ms`);
      last = now;
      await new Promise((r) => setTimeout(r, quietMs));
    }
  }

  close(): void {
    this.client.close();
  }

  private unary<T>(method: string, request: Uint8Array, decode: (b: Buffer) => T): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/tcpstate.v1.AgentService/${method}`,
        (r: Uint8Array) => Buffer.from(r),
        decode,
        request,
        (err, value) => (err ? reject(err) : resolve(value as T)),
      );
    });
  }
}

/** A Subscribe stream being collected. */
export class Subscription extends CollectedStream<SubscribeResponse> {}
