// Live mode: follows the collector's Watch stream (Connect server streaming
// over fetch). An event says which socket changed; the collector stores an
// event before offering it to Watch, so the page then re-reads that socket
// (and its peer) with GetConnection and gets its timeline exactly as a query
// would, paired by the collector. Events are gathered for a short while and
// re-read together; a broken stream is re-opened after a pause.
import { refKey } from '@tcpstate/model/browser';
import type { Gap } from '@tcpstate/proto';
import type { CollectorApi, SocketRef } from './api.js';
import type { FilterInit } from './query.js';

/** How long events are gathered before their sockets are re-read (ms). */
const BATCH_MS = 250;
/** Pause before re-opening a broken stream (ms). */
const RETRY_MS = 3000;

/** What a LiveFollower tells the page. */
export interface LiveHandlers {
  /** Sockets that changed (each once), after BATCH_MS of gathering. */
  changed(refs: SocketRef[]): Promise<void>;
  gap(gap: Gap): void;
  /** The stream is open and delivering (first message after (re)opening). */
  following(): void;
  /** The stream was re-opened after a failure: what happened meanwhile was not streamed. */
  reopened(): void;
  /** The stream broke or a re-read failed; it is re-opened after RETRY_MS. */
  failed(error: unknown): void;
}

/** One live session: `start()` until `stop()`. */
export class LiveFollower {
  private readonly stopper = new AbortController();
  private pending = new Map<string, SocketRef>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly api: CollectorApi,
    private readonly include: FilterInit[],
    private readonly handlers: LiveHandlers,
  ) {}

  /** Follows Watch until stopped, re-opening the stream after failures. */
  async start(): Promise<void> {
    const signal = this.stopper.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        let first = true;
        for await (const message of this.api.watch(this.include, signal)) {
          if (first) {
            this.handlers.following();
            if (failures > 0) this.handlers.reopened();
          }
          first = false;
          const r = message.response;
          if (r.case === 'event') this.queue({ agentId: r.value.agentId, bootId: r.value.bootId, cookie: r.value.cookie });
          else if (r.case === 'gap') this.handlers.gap(r.value);
        }
        if (!signal.aborted) throw new Error('the collector ended the Watch stream');
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.handlers.failed(error);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  stop(): void {
    this.stopper.abort();
    clearTimeout(this.timer);
  }

  private queue(ref: SocketRef): void {
    this.pending.set(refKey(ref), ref);
    this.timer ??= setTimeout(() => void this.flush(), BATCH_MS);
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const refs = [...this.pending.values()];
    this.pending = new Map();
    if (refs.length === 0 || this.stopper.signal.aborted) return;
    try {
      await this.handlers.changed(refs);
    } catch (error) {
      if (!this.stopper.signal.aborted) this.handlers.failed(error);
    }
  }
}
