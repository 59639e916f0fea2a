// A grpc-js server stream of tcpstate responses (Subscribe, Watch: a oneof of
// event | gap | heartbeat, and for Subscribe with max_batch events batches),
// collected as it arrives, for tests to wait on.
import type * as grpc from '@grpc/grpc-js';
import type { EventBatch, Gap, Heartbeat, StateChange } from '@tcpstate/proto';

type StreamResponse = {
  response:
    | { case: 'event'; value: StateChange }
    | { case: 'gap'; value: Gap }
    | { case: 'heartbeat'; value: Heartbeat }
    | { case: 'events'; value: EventBatch }
    | { case: undefined; value?: undefined };
};

export class CollectedStream<R extends StreamResponse> {
  readonly responses: R[] = [];
  /** Resolves with the final status (OK, CANCELLED or an error). */
  readonly ended: Promise<grpc.StatusObject>;

  constructor(readonly call: grpc.ClientReadableStream<R>) {
    call.on('data', (r: R) => this.responses.push(r));
    this.ended = new Promise((resolve) => call.on('status', (s: grpc.StatusObject) => resolve(s)));
    call.on('error', () => undefined);
  }

  /** Every event received, alone or in a batch, in order. */
  get events(): StateChange[] {
    return this.responses.flatMap((r) => (r.response.case === 'event' ? [r.response.value] : r.response.case === 'events' ? r.response.value.events : []));
  }

  get gaps(): Gap[] {
    return this.responses.flatMap((r) => (r.response.case === 'gap' ? [r.response.value] : []));
  }

  get heartbeats(): Heartbeat[] {
    return this.responses.flatMap((r) => (r.response.case === 'heartbeat' ? [r.response.value] : []));
  }

  /** Waits until `predicate` holds for the responses so far (polling), or fails after timeoutMs. */
  async until(predicate: (s: this) => boolean, timeoutMs = 20_000, what = 'the expected responses'): Promise<void> {
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
