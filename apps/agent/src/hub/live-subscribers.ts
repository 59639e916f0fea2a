// The streams taking live events, indexed by the ports their filters
// require: the common hunt follows one server endpoint or port, and with
// hundreds of such streams an event should meet the few that can match it,
// not all of them.
import type { StateChange, SubscribeResponse } from '@tcpstate/proto';
import type { Subscription } from './subscription.js';

export class LiveSubscribers {
  /** Every live stream, in no particular order. */
  readonly all: Subscription[] = [];
  /** Streams whose filters can match any port: offered every event. */
  private readonly anyPort: Subscription[] = [];
  /** Streams whose filters require one of some ports, under each of those ports. */
  private readonly byPort = new Map<number, Subscription[]>();

  get size(): number {
    return this.all.length;
  }

  add(subscription: Subscription): void {
    this.all.push(subscription);
    const ports = subscription.filters.requiredPorts;
    if (ports === undefined) {
      this.anyPort.push(subscription);
      return;
    }
    for (const port of ports) {
      const bucket = this.byPort.get(port);
      if (bucket === undefined) this.byPort.set(port, [subscription]);
      else bucket.push(subscription);
    }
  }

  remove(subscription: Subscription): void {
    if (!removeFrom(this.all, subscription)) return;
    const ports = subscription.filters.requiredPorts;
    if (ports === undefined) {
      removeFrom(this.anyPort, subscription);
      return;
    }
    for (const port of ports) {
      const bucket = this.byPort.get(port);
      if (bucket === undefined) continue;
      removeFrom(bucket, subscription);
      if (bucket.length === 0) this.byPort.delete(port);
    }
  }

  /**
   * Whether some stream may want an event between these ports: lets the
   * publisher skip making an object of events nobody follows.
   */
  mayWant(localPort: number, remotePort: number): boolean {
    return this.anyPort.length > 0 || this.byPort.has(localPort) || this.byPort.has(remotePort);
  }

  /** Offers one event (seq `seq`) to every stream whose filter may match it. */
  offer(event: StateChange, response: SubscribeResponse, seq: number): void {
    const anyPort = this.anyPort;
    for (let i = 0; i < anyPort.length; i++) anyPort[i].offer(event, response, seq);
    if (this.byPort.size === 0) return;
    const local = this.byPort.get(event.localPort);
    if (local !== undefined) for (let i = 0; i < local.length; i++) local[i].offer(event, response, seq);
    if (event.remotePort === event.localPort) return;
    const remote = this.byPort.get(event.remotePort);
    // A stream under both ports was offered the event already: offer() ignores a repeated seq.
    if (remote !== undefined) for (let i = 0; i < remote.length; i++) remote[i].offer(event, response, seq);
  }
}

function removeFrom<T>(list: T[], item: T): boolean {
  const index = list.indexOf(item);
  if (index === -1) return false;
  list.splice(index, 1);
  return true;
}
