// The fleet-wide live stream behind Watch: every event and gap this replica
// stores is offered to each open Watch, which keeps its own bounded queue so
// that a slow watcher never holds back ingest; what it cannot take becomes a
// gap in its own stream.
import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { Injectable } from '@nestjs/common';
import type { CompiledFilters } from '@tcpstate/model';
import {
  EventBatchSchema,
  type Gap,
  GapReason,
  GapSchema,
  type Heartbeat,
  HeartbeatSchema,
  type StateChange,
  type WatchResponse,
  WatchResponseSchema,
} from '@tcpstate/proto';

/** Progress of one ingested agent, sent as a heartbeat on an idle Watch. */
export interface AgentProgress {
  agentId: string;
  bootId: string;
  /** Newest seq stored. */
  lastSeq: bigint;
}

export interface WatchOptions {
  filters: CompiledFilters;
  /** Agent ids or host names every include filter restricts to (undefined: any host). */
  hosts?: readonly string[];
  signal: AbortSignal;
  /** Events queued for this watcher before it loses some. */
  queueMax: number;
  /** Heartbeats after this long without a message (ms). */
  heartbeatMs: number;
  /** The agents to report in heartbeats. */
  progress: () => AgentProgress[];
  /** Consecutive queued events sent together, up to this many (WatchRequest.max_batch; 1: one each). */
  maxBatch?: number;
}

/** Losses of one agent run for one watcher, reported as one gap. */
interface Loss {
  agentId: string;
  bootId: string;
  count: number;
  firstSeq: bigint;
  lastSeq: bigint;
}

/** One Watch stream. */
class Watcher {
  private queue: WatchResponse[] = [];
  private head = 0;
  private readonly losses = new Map<string, Loss>();
  private wake: (() => void) | undefined;

  constructor(private readonly options: WatchOptions) {}

  offerEvents(agentId: string, hostname: string, events: readonly StateChange[]): void {
    const { filters } = this.options;
    if (!this.hostMatches(agentId, hostname)) return;
    let added = false;
    for (const event of events) {
      if (!filters.matchesAll && !filters.matches({ ...event, agentId, hostname })) continue;
      if (this.queue.length - this.head >= this.options.queueMax) {
        this.lose(agentId, event);
        continue;
      }
      this.reportLosses();
      this.queue.push(create(WatchResponseSchema, { response: { case: 'event', value: event } }));
      added = true;
    }
    if (added) this.notify();
  }

  offerGap(agentId: string, hostname: string, gap: Gap): void {
    if (!this.hostMatches(agentId, hostname)) return;
    this.reportLosses();
    // Gaps are few and each says what was lost: always queued.
    this.queue.push(create(WatchResponseSchema, { response: { case: 'gap', value: gap } }));
    this.notify();
  }

  async *responses(): AsyncGenerator<WatchResponse> {
    const { signal, heartbeatMs } = this.options;
    let lastSentAt = performance.now();
    while (!signal.aborted) {
      if (this.head === this.queue.length) this.reportLosses();
      if (this.head < this.queue.length) {
        const item = this.take();
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        lastSentAt = performance.now();
        yield item;
        continue;
      }
      const idleFor = performance.now() - lastSentAt;
      if (idleFor >= heartbeatMs) {
        for (const heartbeat of this.heartbeats()) yield create(WatchResponseSchema, { response: { case: 'heartbeat', value: heartbeat } });
        lastSentAt = performance.now();
        continue;
      }
      await this.waitAtMost(heartbeatMs - idleFor);
    }
  }

  /** The next queued response; with max_batch, the queued events from here on (up to it) as one. */
  private take(): WatchResponse {
    const item = this.queue[this.head++];
    const maxBatch = this.options.maxBatch ?? 1;
    if (maxBatch <= 1 || item.response.case !== 'event') return item;
    const events = [item.response.value];
    for (let next = this.queue[this.head]; next?.response.case === 'event' && events.length < maxBatch; next = this.queue[this.head]) {
      events.push(next.response.value);
      this.head++;
    }
    return create(WatchResponseSchema, { response: { case: 'events', value: create(EventBatchSchema, { events }) } });
  }

  private heartbeats(): Heartbeat[] {
    const time = timestampNow();
    const agents = this.options.progress().filter((a) => this.hostMatches(a.agentId, undefined));
    if (agents.length === 0) return [create(HeartbeatSchema, { time })];
    return agents.map((a) => create(HeartbeatSchema, { time, agentId: a.agentId, bootId: a.bootId, lastSeq: a.lastSeq }));
  }

  private hostMatches(agentId: string, hostname: string | undefined): boolean {
    const hosts = this.options.hosts;
    return hosts === undefined || hosts.includes(agentId) || (hostname !== undefined && hosts.includes(hostname));
  }

  private lose(agentId: string, event: StateChange): void {
    const key = `${agentId}\n${event.bootId}`;
    const loss = this.losses.get(key);
    if (loss) {
      loss.count++;
      loss.lastSeq = event.seq;
    } else {
      this.losses.set(key, { agentId, bootId: event.bootId, count: 1, firstSeq: event.seq, lastSeq: event.seq });
    }
  }

  /** Queues a gap per agent run for the events this watcher lost, before anything newer. */
  private reportLosses(): void {
    if (this.losses.size === 0) return;
    for (const loss of this.losses.values()) {
      const gap = create(GapSchema, {
        agentId: loss.agentId,
        bootId: loss.bootId,
        reason: GapReason.SLOW_SUBSCRIBER,
        count: BigInt(loss.count),
        firstSeq: loss.firstSeq,
        lastSeq: loss.lastSeq,
        time: timestampNow(),
        message: `This Watch read too slowly: ${loss.count} matching events of agent ${loss.agentId} between seq ${loss.firstSeq} and ${loss.lastSeq} were dropped (they are stored: QueryTimeline has them).`,
      });
      this.queue.push(create(WatchResponseSchema, { response: { case: 'gap', value: gap } }));
    }
    this.losses.clear();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private waitAtMost(ms: number): Promise<void> {
    const { signal } = this.options;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}

/** Hands what ingest stored to every open Watch. */
@Injectable()
export class LiveFeed {
  private readonly watchers = new Set<Watcher>();

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Called after a batch of one agent is stored: `events` are those stored for the first time. */
  publish(agentId: string, hostname: string, events: readonly StateChange[], gaps: readonly Gap[]): void {
    for (const watcher of this.watchers) {
      for (const gap of gaps) watcher.offerGap(agentId, hostname, gap);
      if (events.length > 0) watcher.offerEvents(agentId, hostname, events);
    }
  }

  /** A new Watch stream; it ends when options.signal aborts. */
  async *watch(options: WatchOptions): AsyncGenerator<WatchResponse> {
    const watcher = new Watcher(options);
    this.watchers.add(watcher);
    try {
      yield* watcher.responses();
    } finally {
      this.watchers.delete(watcher);
    }
  }
}
