// Ingest batching for one agent: what the stream delivers is collected and
// written to the store in batches, cut by size or after a short delay. Batches
// are written one after the other in stream order, and none is written after
// one has failed: the store's resume cursor is the highest seq stored, so a
// later batch stored past a failed one would hide the failed one's events.
import type { Gap, StateChange } from '@tcpstate/proto';

/** What one write stores: part of one agent run's stream. */
export interface Batch {
  bootId: string;
  events: StateChange[];
  gaps: Gap[];
}

export interface BatchWriterOptions {
  /** Cut a batch at this many items (events and gaps). */
  maxItems: number;
  /** Cut a batch at most this long after its first item (ms). */
  flushMs: number;
}

export const DEFAULT_BATCH_OPTIONS: BatchWriterOptions = { maxItems: 1000, flushMs: 100 };

/**
 * Collects one agent stream's events and gaps into batches and writes them in
 * order. At most one batch is written while the next one fills: add() waits
 * (holding the stream back, so HTTP/2 flow control slows the agent's sender)
 * when both are full.
 */
export class BatchWriter {
  private pending: Batch | undefined;
  /** Batches cut and not yet written (the one being written first). */
  private readonly queued: Batch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** The first write that failed; nothing is written after it. */
  failure: Error | undefined;

  constructor(
    private readonly write: (batch: Batch) => Promise<void>,
    /** Called once, on the first failed write (the caller stops its stream). */
    private readonly onFailure: (error: Error) => void,
    private readonly options: BatchWriterOptions = DEFAULT_BATCH_OPTIONS,
  ) {}

  addEvent(bootId: string, event: StateChange): Promise<void> {
    return this.add(bootId, (batch) => batch.events.push(event));
  }

  /** Events in stream order (an agent's batch): as addEvent for each, waiting only where a full batch must. */
  async addEvents(events: readonly StateChange[]): Promise<void> {
    for (const event of events) {
      const wait = this.put(event.bootId, (batch) => batch.events.push(event));
      if (wait) await wait;
    }
  }

  addGap(bootId: string, gap: Gap): Promise<void> {
    return this.add(bootId, (batch) => batch.gaps.push(gap));
  }

  /** The oldest event received and not yet stored. */
  oldestUnstored(): StateChange | undefined {
    for (const batch of [...this.queued, ...(this.pending ? [this.pending] : [])]) {
      if (batch.events.length > 0) return batch.events[0];
    }
    return undefined;
  }

  /** Whether something received is not yet stored. */
  get busy(): boolean {
    return this.pending !== undefined || this.queued.length > 0;
  }

  /** Writes everything received so far; throws the write failure, if any. */
  async flush(): Promise<void> {
    this.cut();
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /** Forgets what is not written yet (the stream is being abandoned). */
  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private async add(bootId: string, push: (batch: Batch) => void): Promise<void> {
    const wait = this.put(bootId, push);
    if (wait) await wait;
  }

  /**
   * Adds one item to the pending batch. When that fills it, cuts it and returns what to wait for: the
   * batch before it written (at most one is written while the next fills); undefined otherwise.
   */
  private put(bootId: string, push: (batch: Batch) => void): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    // A batch belongs to one agent run: a new boot_id starts a new batch.
    if (this.pending && this.pending.bootId !== bootId) this.cut();
    this.pending ??= { bootId, events: [], gaps: [] };
    push(this.pending);
    if (this.pending.events.length + this.pending.gaps.length >= this.options.maxItems) {
      const previous = this.chain;
      this.cut();
      return previous.then(() => {
        if (this.failure) throw this.failure;
      });
    }
    this.timer ??= setTimeout(() => this.cut(), this.options.flushMs);
    return undefined;
  }

  /** Ends the pending batch and queues it for writing. */
  private cut(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (!batch) return;
    this.pending = undefined;
    this.queued.push(batch);
    this.chain = this.chain.then(async () => {
      try {
        if (!this.failure) await this.write(batch);
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
        this.onFailure(this.failure);
      } finally {
        this.queued.shift();
      }
    });
  }
}
