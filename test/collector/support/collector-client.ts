// CollectorService through @grpc/grpc-js (the reference gRPC implementation),
// protobuf-es doing the (de)serialisation: the collector is called as any
// third-party gRPC client would call it.
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  GetConnectionRequestSchema,
  GetConnectionResponseSchema,
  GetStatsRequestSchema,
  GetStatsResponseSchema,
  ListHostsRequestSchema,
  ListHostsResponseSchema,
  QueryTimelineRequestSchema,
  QueryTimelineResponseSchema,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from '@tcpstate/proto';
import { CollectedStream } from '../../support/collected-stream.js';

export class CollectorClient {
  readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  }

  queryTimeline(init: MessageInitShape<typeof QueryTimelineRequestSchema> = {}) {
    return this.unary('QueryTimeline', QueryTimelineRequestSchema, QueryTimelineResponseSchema, init);
  }

  getConnection(init: MessageInitShape<typeof GetConnectionRequestSchema>) {
    return this.unary('GetConnection', GetConnectionRequestSchema, GetConnectionResponseSchema, init);
  }

  listHosts() {
    return this.unary('ListHosts', ListHostsRequestSchema, ListHostsResponseSchema, {});
  }

  getStats(init: MessageInitShape<typeof GetStatsRequestSchema> = {}) {
    return this.unary('GetStats', GetStatsRequestSchema, GetStatsResponseSchema, init);
  }

  watch(init: MessageInitShape<typeof WatchRequestSchema> = {}): WatchStream {
    const call = this.client.makeServerStreamRequest(
      '/tcpstate.v1.CollectorService/Watch',
      (r: Uint8Array) => Buffer.from(r),
      (b: Buffer) => fromBinary(WatchResponseSchema, b),
      toBinary(WatchRequestSchema, create(WatchRequestSchema, init)),
    );
    return new WatchStream(call);
  }

  close(): void {
    this.client.close();
  }

  private unary<I extends DescMessage, O extends DescMessage>(method: string, input: I, output: O, init: MessageInitShape<I>): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/tcpstate.v1.CollectorService/${method}`,
        (r: Uint8Array) => Buffer.from(r),
        (b: Buffer) => fromBinary(output, b),
        toBinary(input, create(input, init)),
        { deadline: Date.now() + 20_000 },
        (err, value) => (err ? reject(err) : resolve(value as MessageShape<O>)),
      );
    });
  }
}

/** A Watch stream being collected. */
export class WatchStream extends CollectedStream<WatchResponse> {}

/** The gRPC status of a failed call: code and message. */
export async function callError(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (error) {
    const e = error as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('the call succeeded; an error was expected');
}
