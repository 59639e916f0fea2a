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

export class WatchStream {
  readonly responses: WatchResponse[] = [];
  readonly ended: Promise<grpc.StatusObject>;

  constructor(readonly call: grpc.ClientReadableStream<WatchResponse>) {
    call.on('data', (r: WatchResponse) => this.responses.push(r));
    this.ended = new Promise((resolve) => call.on('status', (s: grpc.StatusObject) => resolve(s)));
    call.on('error', () => undefined);
  }

  get events() {
    return this.responses.flatMap((r) => (r.response.case === 'event' ? [r.response.value] : []));
  }

  get heartbeats() {
    return this.responses.flatMap((r) => (r.response.case === 'heartbeat' ? [r.response.value] : []));
  }

  async until(predicate: (s: WatchStream) => boolean, timeoutMs = 20_000, what = 'the expected responses'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${this.responses.length} responses`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  cancel(): void {
    this.call.cancel();
  }
}

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
