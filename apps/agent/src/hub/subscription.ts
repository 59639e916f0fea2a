// One Subscribe stream: replays from the window, then takes live events from
// its own bounded queue, reporting every loss in order as a gap.
import type { StateChange, SubscribeResponse } from '@tcpstate/proto';
import type { CompiledFilters } from '@tcpstate/model';
import { Fifo } from './fifo.js';
import {
  eventResponse,
  eventsResponse,
  heartbeatResponse,
  kernelGap,
  replayEvictedGap,
  slowSubscriberGap,
  type AgentIdentity,
} from './messages.js';
import type { KernelMark, ReplayWindow } from './replay-window.js';
import type { SubscriptionPlan } from './subscribe-request.js';

/** What a subscription needs from the hub that owns it. */
export interface SubscriptionHost {
  readonly identity: AgentIdentity;
  readonly window: ReplayWindow;
  now(): Date;
  /** Called once the replay has caught up: from now on the hub offers live events. */
  goLive(subscription: Subscription): void;
  /** Called once when the stream ends for any reason. */
  release(subscription: Subscription): void;
  /** Counts events dropped for slow subscribers, all subscribers together. */
  countDropped(count: number): void;
}

export interface SubscriptionOptions {
  id: number;
  peer: string;
  plan: SubscriptionPlan;
  queueMax: number;
  /** 0 disables heartbeats. */
  heartbeatIntervalMs: number;
  signal?: AbortSignal;
}

const enum Phase {
  /** Reading from the replay window at `cursor`; not offered live events. */
  Replay,
  /** Offered live events by the hub into `queue`. */
  Live,
  Done,
}

/** Marks the end of the stream in poll(). */
const DONE = Symbol('done');
const doneResult: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The async iterator behind one Subscribe call. Written by hand rather than
 * as an async generator so that cancellation (abort signal, return()) takes
 * effect at once even while a next() is waiting for events.
 */
export class Subscription implements AsyncIterableIterator<SubscribeResponse> {
  readonly id: number;
  readonly peer: string;
  readonly since: Date;
  /** Events delivered (gaps and heartbeats not counted). */
  delivered = 0;
  /** Matching events dropped because this subscriber was too slow. */
  dropped = 0;
  /** Events waiting in the live queue. */
  queuedEvents = 0;

  readonly filters: CompiledFilters;
  private readonly matchesAll: boolean;
  private phase = Phase.Replay;
  private readonly follow: boolean;
  private readonly endSeq: number;
  private remaining: number;
  private readonly maxBatch: number;
  /** A gap polled while a batch of events was being gathered: it goes next, after the batch. */
  private held: SubscribeResponse | undefined;
  /** Replay position: the next seq to look at. */
  cursor: number;
  private nextMark: KernelMark | undefined;
  private initialGap: SubscribeResponse | undefined;

  private readonly queue = new Fifo<SubscribeResponse>();
  private lastOffered = 0;
  private readonly queueMax: number;
  // Losses since the last queued item, reported before the next one (or when
  // the queue runs dry): one gap per reason, consecutive losses coalesced.
  private slowCount = 0;
  private slowFirstSeq = 0;
  private slowLastSeq = 0;
  private slowTime: Date | undefined;
  private kernelCount = 0;
  private kernelTime: Date | undefined;
  private kernelFirst = false;

  private waiter: ((result: IteratorResult<SubscribeResponse, undefined>) => void) | undefined;
  private readonly heartbeatIntervalMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastSentAt = performance.now();
  private heartbeatDue = false;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = () => this.finish();

  constructor(
    private readonly host: SubscriptionHost,
    options: SubscriptionOptions,
  ) {
    const { plan } = options;
    this.id = options.id;
    this.peer = options.peer;
    this.since = host.now();
    this.filters = plan.filters;
    this.matchesAll = plan.filters.matchesAll;
    this.follow = plan.follow;
    this.endSeq = plan.endSeq;
    this.remaining = plan.first;
    this.maxBatch = plan.maxBatch;
    this.queueMax = options.queueMax;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.cursor = plan.startSeq;
    this.nextMark = host.window.markAtOrAfter(plan.startSeq);
    if (plan.evicted) this.initialGap = replayEvictedGap(host.identity, plan.evicted, this.since);
    this.signal = options.signal;
  }

  /** Starts the stream: called by the hub once it has registered the subscription. */
  start(): void {
    if (this.signal?.aborted) return this.finish();
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.heartbeatIntervalMs > 0) this.armHeartbeat(this.heartbeatIntervalMs);
    if (this.follow && this.cursor === this.host.window.nextSeq) this.goLive();
  }

  /** Events this subscriber has yet to receive: its live queue, or the rest of its replay. */
  get backlog(): number {
    if (this.phase === Phase.Replay) return (this.follow ? this.host.window.nextSeq : this.endSeq) - this.cursor;
    return this.queuedEvents;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<SubscribeResponse, undefined>> {
    if (this.waiter !== undefined) return Promise.reject(new Error('Subscription.next() called while another next() is pending'));
    const item = this.take();
    if (item !== undefined) return Promise.resolve(this.result(item));
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<SubscribeResponse, undefined>> {
    this.finish();
    return Promise.resolve(doneResult);
  }

  /** Ends the stream now and releases it from the hub; queued items are discarded. */
  finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    clearTimeout(this.heartbeatTimer);
    this.signal?.removeEventListener('abort', this.onAbort);
    this.queue.clear();
    this.queuedEvents = 0;
    this.held = undefined;
    this.host.release(this);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(doneResult);
  }

  /**
   * A live event from the hub (seq `seq`). Never blocks: when the queue is
   * full the event is counted as dropped.
   */
  offer(event: StateChange, response: SubscribeResponse, seq: number): void {
    // The same event can be offered twice (indexed under both of its ports).
    if (seq === this.lastOffered) return;
    this.lastOffered = seq;
    if (!this.matchesAll && !this.filters.matches(event)) return;
    if (this.queuedEvents >= this.queueMax) return this.drop(seq);
    if (this.slowCount > 0 || this.kernelCount > 0) this.flushLossesToQueue();
    this.queue.push(response);
    this.queuedEvents++;
  }

  /**
   * Kernel drops reported now: a live stream reports them before its next
   * event; a replay reports them when it reaches the mark in the window.
   */
  kernelDropped(mark: KernelMark, count: number, time: Date): void {
    if (this.phase === Phase.Live) this.addKernelLoss(count, time);
    else if (this.phase === Phase.Replay && this.nextMark === undefined) this.nextMark = mark;
  }

  /** Hands the waiting next() whatever is ready: the hub calls this once per batch. */
  wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    // Detached while polling: a poll that ends the stream (first=N reached)
    // must hand over its last event, not have finish() answer "done" first.
    this.waiter = undefined;
    const item = this.take();
    if (item !== undefined) waiter(this.result(item));
    else if (this.phase === Phase.Done) waiter(doneResult);
    else this.waiter = waiter;
  }

  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /**
   * The window is about to evict everything before `firstKept` and this
   * replay has not read it yet: the matching events among them are lost to
   * this subscriber, exactly as if its queue had overflowed.
   */
  replayEvicted(firstKept: number): void {
    const window = this.host.window;
    const limit = Math.min(firstKept, this.follow ? window.nextSeq : this.endSeq);
    for (let seq = this.cursor; seq < limit; seq++) {
      this.passMarksBefore(seq);
      if (this.matchesAll || this.filters.matches(window.event(seq))) this.drop(seq);
    }
    this.cursor = Math.max(this.cursor, limit);
    this.passMarksBefore(this.cursor);
  }

  private passMarksBefore(seq: number): void {
    while (this.nextMark !== undefined && this.nextMark.afterSeq < seq) {
      this.addKernelLoss(this.nextMark.count, this.nextMark.time);
      this.nextMark = this.host.window.markAtOrAfter(this.nextMark.afterSeq + 1);
    }
  }

  private drop(seq: number): void {
    if (this.slowCount === 0) {
      this.slowFirstSeq = seq;
      this.slowTime = this.host.now();
    }
    this.slowLastSeq = seq;
    this.slowCount++;
    this.dropped++;
    this.host.countDropped(1);
  }

  private addKernelLoss(count: number, time: Date): void {
    if (this.kernelCount === 0) {
      this.kernelTime = time;
      this.kernelFirst = this.slowCount === 0;
    }
    this.kernelCount += count;
  }

  /** The oldest pending loss as a gap, or undefined. */
  private takeLoss(): SubscribeResponse | undefined {
    const identity = this.host.identity;
    if (this.kernelCount > 0 && (this.kernelFirst || this.slowCount === 0)) {
      const gap = kernelGap(identity, this.kernelCount, this.kernelTime!);
      this.kernelCount = 0;
      return gap;
    }
    if (this.slowCount > 0) {
      const gap = slowSubscriberGap(identity, this.slowFirstSeq, this.slowLastSeq, this.slowCount, this.slowTime!);
      this.slowCount = 0;
      this.kernelFirst = true;
      return gap;
    }
    return undefined;
  }

  private flushLossesToQueue(): void {
    for (let gap = this.takeLoss(); gap !== undefined; gap = this.takeLoss()) this.queue.push(gap);
  }

  private goLive(): void {
    // Kernel drops right after the last replayed event come before live events.
    this.passMarksBefore(this.cursor);
    this.phase = Phase.Live;
    this.host.goLive(this);
  }

  /**
   * The next response: poll()'s, or with max_batch the events ready now, up
   * to max_batch, gathered into one (a gap or the end that follows them
   * comes with the next call; a heartbeat is pointless after events).
   */
  private take(): SubscribeResponse | typeof DONE | undefined {
    const held = this.held;
    if (held !== undefined) {
      this.held = undefined;
      return held;
    }
    const first = this.poll();
    if (this.maxBatch === 1 || first === undefined || first === DONE || first.response.case !== 'event') return first;
    const events = [first.response.value];
    while (events.length < this.maxBatch) {
      const item = this.poll();
      if (item === undefined || item === DONE) break;
      if (item.response.case === 'event') events.push(item.response.value);
      else {
        if (item.response.case !== 'heartbeat') this.held = item;
        break;
      }
    }
    return eventsResponse(events);
  }

  /** The next thing to send, DONE at the end, undefined when there is nothing yet. */
  private poll(): SubscribeResponse | typeof DONE | undefined {
    if (this.phase === Phase.Done) return DONE;
    if (this.initialGap !== undefined) {
      const gap = this.initialGap;
      this.initialGap = undefined;
      return gap;
    }
    if (this.phase === Phase.Replay) {
      const item = this.pollReplay();
      if (item !== undefined) return item;
    }
    const item = this.queue.shift();
    if (item !== undefined) {
      if (item.response.case === 'event') {
        this.queuedEvents--;
        this.countDelivered();
      }
      return item;
    }
    const loss = this.takeLoss();
    if (loss !== undefined) return loss;
    if (this.heartbeatDue) {
      const window = this.host.window;
      return heartbeatResponse(this.host.identity, window.nextSeq - 1, this.host.now());
    }
    return undefined;
  }

  /** Replay step; undefined once the replay has turned live (the caller reads the queue). */
  private pollReplay(): SubscribeResponse | typeof DONE | undefined {
    const window = this.host.window;
    for (;;) {
      const loss = this.takeLoss();
      if (loss !== undefined) return loss;
      const seq = this.cursor;
      if (this.nextMark !== undefined && this.nextMark.afterSeq < seq) {
        const mark = this.nextMark;
        this.nextMark = window.markAtOrAfter(mark.afterSeq + 1);
        return kernelGap(this.host.identity, mark.count, mark.time);
      }
      const end = this.follow ? window.nextSeq : this.endSeq;
      if (seq >= end) {
        if (!this.follow) {
          this.finish();
          return DONE;
        }
        this.goLive();
        return undefined;
      }
      const event = window.event(seq);
      this.cursor = seq + 1;
      if (this.matchesAll || this.filters.matches(event)) {
        this.countDelivered();
        // Switch as soon as the replay has caught up, so that no event
        // published meanwhile has to be read back from the window (and
        // cannot be evicted under this subscriber).
        if (this.follow && this.phase === Phase.Replay && this.cursor === window.nextSeq) this.goLive();
        return eventResponse(event);
      }
    }
  }

  private countDelivered(): void {
    this.delivered++;
    // first=N: the stream ends right after the Nth event.
    if (--this.remaining <= 0) this.finish();
  }

  private result(item: SubscribeResponse | typeof DONE): IteratorResult<SubscribeResponse, undefined> {
    if (item === DONE) return doneResult;
    this.lastSentAt = performance.now();
    this.heartbeatDue = false;
    return { done: false, value: item };
  }

  // One timer per stream, re-armed only when it fires: nothing per event.
  private armHeartbeat(delayMs: number): void {
    this.heartbeatTimer = setTimeout(() => this.onHeartbeatTimer(), delayMs);
    this.heartbeatTimer.unref();
  }

  private onHeartbeatTimer(): void {
    if (this.phase === Phase.Done) return;
    const idle = performance.now() - this.lastSentAt;
    if (idle >= this.heartbeatIntervalMs) {
      this.heartbeatDue = true;
      this.wake();
      this.armHeartbeat(this.heartbeatIntervalMs);
    } else {
      this.armHeartbeat(this.heartbeatIntervalMs - idle);
    }
  }
}
