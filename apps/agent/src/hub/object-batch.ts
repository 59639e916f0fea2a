// Events published as messages (tests, and any source other than the kernel
// capture), kept by the replay window as they are.
import { toBinary } from '@bufbuild/protobuf';
import { StateChangeSchema, type StateChange } from '@tcpstate/proto';
import type { EventBatch } from './replay-window.js';

/** An EventBatch over messages already stamped with agent_id, boot_id and seq. */
export class ObjectBatch implements EventBatch {
  timeSeconds = NaN;
  timeNanos = 0;
  /** Each event's serialized size: what the window counts for it. */
  private readonly sizes: number[];

  constructor(private readonly events: readonly StateChange[]) {
    this.sizes = events.map((event) => toBinary(StateChangeSchema, event).length);
  }

  get length(): number {
    return this.events.length;
  }

  message(i: number): StateChange {
    return this.events[i];
  }

  time(i: number): void {
    const time = this.events[i].time;
    this.timeSeconds = time === undefined ? NaN : Number(time.seconds);
    this.timeNanos = time?.nanos ?? 0;
  }

  size(i: number): number {
    return this.sizes[i];
  }

  localPort(i: number): number {
    return this.events[i].localPort;
  }

  remotePort(i: number): number {
    return this.events[i].remotePort;
  }
}
