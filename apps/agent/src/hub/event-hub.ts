// The event hub between kernel capture and Subscribe streams: numbers events,
// keeps the replay window, and fans every batch out to the subscribers'
// bounded queues without ever waiting on one of them.
import type { StateChange, SubscribeRequest, SubscribeResponse } from '@tcpstate/proto';
import { EventRate } from './event-rate.js';
import { LiveSubscribers } from './live-subscribers.js';
import { eventResponse, type AgentIdentity } from './messages.js';
import { ReplayWindow, type EventBatch } from './replay-window.js';
import { ObjectBatch } from './object-batch.js';
import { planSubscription } from './subscribe-request.js';
import { Subscription, type SubscriptionHost } from './subscription.js';

export interface EventHubOptions {
  /** Stamped on every event: the agent's stable id. */
  agentId: string;
  /** Stamped on every event: this run of the agent. */
  bootId: string;
  /** Replay window size in events (default 100 000; 0 keeps no replay). */
  replayMaxEvents?: number;
  /**
   * Replay window size in bytes (default 64 MiB): what the kept events take,
   * 120 bytes per kernel record (plus 512 per batch of them); events
   * published as messages count their serialized size. With both defaults
   * the event limit is reached first.
   */
  replayMaxBytes?: number;
  /** Live events a subscriber may have waiting before the next ones are dropped (default 10 000). */
  subscriberQueueMax?: number;
  /** A heartbeat goes out after this long with nothing sent on a stream (default 15 000; 0 disables). */
  heartbeatIntervalMs?: number;
  /** Wall clock, replaceable in tests. */
  now?: () => Date;
}

/** Who is asking, for GetStatus, and when to stop. */
export interface SubscribeContext {
  /** The client's address, shown in stats. */
  peer: string;
  /** Aborted when the client goes away: the stream ends and is released at once. */
  signal?: AbortSignal;
}

export interface SubscriberStats {
  id: number;
  peer: string;
  since: Date;
  /** Events delivered (gaps and heartbeats not counted). */
  delivered: number;
  /** Matching events dropped because the subscriber read too slowly. */
  dropped: number;
  /** Events waiting for the subscriber (its queue, or the rest of its replay). */
  queued: number;
}

export interface HubStats {
  /** Events published since start; also the newest seq. */
  captured: number;
  lastSeq: number;
  kernelDrops: number;
  /** Events dropped for slow subscribers, all subscribers together, since start. */
  subscriberDrops: number;
  replay: {
    events: number;
    bytes: number;
    maxEvents: number;
    maxBytes: number;
    /** Oldest and newest seq held; 0 when empty. */
    firstSeq: number;
    lastSeq: number;
  };
  /** Events published per second over the last 10 whole seconds. */
  eventsPerSecond: number;
  subscribers: SubscriberStats[];
}

function checkOption(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || !Number.isInteger(value) || value < min)
    throw new Error(`EventHub option ${name} must be an integer >= ${min}, not ${value}`);
  return value;
}

/**
 * The hub. Plain class: the agent's Nest module wraps it in a provider, the
 * capture side calls publish() and reportKernelDrops(), the gRPC service
 * calls subscribe() and stats().
 */
export class EventHub {
  private readonly identity: AgentIdentity;
  private readonly window: ReplayWindow;
  private readonly queueMax: number;
  private readonly heartbeatIntervalMs: number;
  private readonly now: () => Date;
  private readonly rate = new EventRate();
  /** Every open stream. */
  private readonly subscriptions = new Set<Subscription>();
  /** Streams in replay: the window tells them about evictions. */
  private readonly replaying = new Set<Subscription>();
  /** Streams taking live events. */
  private readonly live = new LiveSubscribers();
  private nextSubscriberId = 1;
  private kernelDrops = 0;
  private subscriberDrops = 0;
  private closed = false;
  /** What subscriptions see of the hub. */
  private readonly host: SubscriptionHost;

  constructor(options: EventHubOptions) {
    this.identity = { agentId: options.agentId, bootId: options.bootId };
    this.window = new ReplayWindow(
      checkOption('replayMaxEvents', options.replayMaxEvents ?? 100_000, 0),
      checkOption('replayMaxBytes', options.replayMaxBytes ?? 64 * 1024 * 1024, 0),
      this.identity,
    );
    this.queueMax = checkOption('subscriberQueueMax', options.subscriberQueueMax ?? 10_000, 1);
    this.heartbeatIntervalMs = checkOption('heartbeatIntervalMs', options.heartbeatIntervalMs ?? 15_000, 0);
    this.now = options.now ?? (() => new Date());
    this.host = {
      identity: this.identity,
      window: this.window,
      now: this.now,
      goLive: (subscription) => {
        this.replaying.delete(subscription);
        this.live.add(subscription);
      },
      release: (subscription) => {
        this.subscriptions.delete(subscription);
        this.replaying.delete(subscription);
        this.live.remove(subscription);
      },
      countDropped: (count) => {
        this.subscriberDrops += count;
      },
    };
  }

  /**
   * Publishes one batch of events: stamps agent_id, boot_id and the next
   * seqs on them (the hub owns them from now on), appends them to the replay
   * window and offers them to every live subscriber. Never waits.
   */
  publish(batch: readonly StateChange[]): void {
    const count = batch.length;
    if (count === 0) return;
    const firstSeq = this.window.nextSeq;
    for (let i = 0; i < count; i++) {
      const event = batch[i];
      event.agentId = this.identity.agentId;
      event.bootId = this.identity.bootId;
      event.seq = BigInt(firstSeq + i);
    }
    this.window.append(new ObjectBatch(batch));
    this.afterAppend(count);
    const live = this.live;
    if (live.size === 0) return;
    // Event-major order: every filter looks at one event in turn, which keeps
    // the event's fields (and its parsed addresses) hot.
    for (let i = 0; i < count; i++) live.offer(batch[i], eventResponse(batch[i]), firstSeq + i);
    this.wakeLive();
  }

  /**
   * Publishes a batch from the kernel capture, as publish() does, keeping
   * the batch as it is: an event is made a message only for a live stream
   * that may want it (or later for a replay), so with nobody following
   * live, capture makes no object per event.
   */
  publishBatch(batch: EventBatch): void {
    const count = batch.length;
    if (count === 0) return;
    const firstSeq = this.window.nextSeq;
    this.window.append(batch);
    this.afterAppend(count);
    const live = this.live;
    if (live.size === 0) return;
    const { agentId, bootId } = this.identity;
    for (let i = 0; i < count; i++) {
      if (!live.mayWant(batch.localPort(i), batch.remotePort(i))) continue;
      const event = batch.message(i);
      event.agentId = agentId;
      event.bootId = bootId;
      event.seq = BigInt(firstSeq + i);
      live.offer(event, eventResponse(event), firstSeq + i);
    }
    this.wakeLive();
  }

  /** After `count` events were appended: rate, and evictions (telling replays about theirs). */
  private afterAppend(count: number): void {
    this.rate.add(count, this.now().getTime());
    const window = this.window;
    const evict = window.excess();
    if (evict > 0) {
      const firstKept = window.firstSeq + evict;
      for (const subscription of this.replaying) if (subscription.cursor < firstKept) subscription.replayEvicted(firstKept);
      window.evict(evict);
    }
  }

  /** Once per batch: hand waiting streams what they were given. */
  private wakeLive(): void {
    // Backwards: a woken stream may end (first=N) and remove itself from `live`.
    const live = this.live.all;
    for (let j = live.length - 1; j >= 0; j--) if (live[j].waiting) live[j].wake();
  }

  /**
   * The kernel dropped `count` records (ring buffer full). Every stream gets
   * a KERNEL gap in order with its events; later replays over this point too.
   */
  reportKernelDrops(count: number, at: Date = this.now()): void {
    if (count <= 0) return;
    this.kernelDrops += count;
    const mark = this.window.addKernelMark(count, at);
    for (const subscription of this.subscriptions) subscription.kernelDropped(mark, count, at);
    this.wakeLive();
  }

  /**
   * Opens a Subscribe stream. The request is validated and its replay
   * position fixed now, synchronously: events published after this call
   * returns are in the stream (when it follows), events before it only
   * through the replay, none twice.
   *
   * @throws RequestError for an invalid request (field named in the message).
   */
  subscribe(request: SubscribeRequest, context: SubscribeContext): AsyncIterableIterator<SubscribeResponse> {
    if (this.closed) throw new Error('The event hub is closed.');
    const plan = planSubscription(request, this.window, { bootId: this.identity.bootId, now: this.now() });
    const subscription = new Subscription(this.host, {
      id: this.nextSubscriberId++,
      peer: context.peer,
      plan,
      queueMax: this.queueMax,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      signal: context.signal,
    });
    this.subscriptions.add(subscription);
    this.replaying.add(subscription);
    subscription.start();
    return subscription;
  }

  /** Open streams. */
  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  /** Counters for GetStatus and /metrics. */
  stats(): HubStats {
    const window = this.window;
    const lastSeq = window.nextSeq - 1;
    return {
      captured: lastSeq,
      lastSeq,
      kernelDrops: this.kernelDrops,
      subscriberDrops: this.subscriberDrops,
      replay: {
        events: window.length,
        bytes: window.bytes,
        maxEvents: window.maxEvents,
        maxBytes: window.maxBytes,
        firstSeq: window.length > 0 ? window.firstSeq : 0,
        lastSeq: window.length > 0 ? lastSeq : 0,
      },
      eventsPerSecond: this.rate.perSecond(this.now().getTime()),
      subscribers: [...this.subscriptions].map((s) => ({
        id: s.id,
        peer: s.peer,
        since: s.since,
        delivered: s.delivered,
        dropped: s.dropped,
        queued: s.backlog,
      })),
    };
  }

  /** Ends every stream (their next() returns done) and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const subscription of [...this.subscriptions]) subscription.finish();
  }
}
