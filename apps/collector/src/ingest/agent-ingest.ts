// One agent's ingest: GetStatus (who is it?), its lease, the resume cursor
// from the store, then one Subscribe stream written to the store in batches.
// Any failure (agent unreachable, stream broken, store down, lease lost) ends
// the attempt; the next one starts over from the store's cursor after a
// backoff, so nothing is skipped and nothing is stored twice.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@nestjs/common';
import { type Gap, GapReason, HostState, type StateChange, SubscribeRequestSchema } from '@tcpstate/proto';
import type { EventStore } from '@tcpstate/store';
import type { AgentTarget } from '../discovery/agent-discovery.js';
import type { LiveFeed } from '../watch/live-feed.js';
import { AgentConnection, type AgentTls } from './agent-connection.js';
import { Backoff, sleep } from './backoff.js';
import { type Batch, type BatchWriterOptions, BatchWriter, DEFAULT_BATCH_OPTIONS } from './batch-writer.js';
import type { LeaseKeeper } from './lease-keeper.js';
import { describeTlsError } from './tls-errors.js';

/** What an ingest needs from the collector around it. */
export interface IngestEnvironment {
  store: EventStore;
  feed: LiveFeed;
  leases: LeaseKeeper;
  /**
   * Registers this ingest as the one for an agent id in this replica; returns
   * the other ingest that already has it (two addresses of one agent).
   */
  claim(agentId: string, ingest: AgentIngest): AgentIngest | undefined;
  unclaim(agentId: string, ingest: AgentIngest): void;
  tls?: AgentTls;
  /** Keepalive PING period and timeout (ms). */
  keepaliveMs: number;
  /** Ask agents to gzip their streams (--agent-compression gzip). */
  gzip?: boolean;
  /** Unreachable this long: GONE (ms). */
  goneAfterMs: number;
  /** Connected and this far behind the agent: LAGGING (ms). */
  lagThresholdMs: number;
  batch?: BatchWriterOptions;
  log: Logger;
}

/** How an ingest is doing, for ListHosts and metrics. */
export interface IngestSnapshot {
  address: string;
  /** Empty until the agent has answered GetStatus. */
  agentId: string;
  hostname: string;
  /** The boot of the newest run stored. */
  bootId: string;
  state: HostState;
  /** This replica holds the agent's lease and ingests it (false: standby or a second address of it). */
  active: boolean;
  lagMs: number;
  lastError: string;
  /** Newest seq stored of bootId. */
  storedSeq: bigint;
  eventsStored: number;
  gapsStored: number;
  reconnects: number;
}

type Phase = 'connecting' | 'streaming' | 'stopped';

/** Why this replica leaves an agent to someone else: its lease is another replica's, or another address of it is ingested here. */
type Passive = 'standby' | 'duplicate';

/** GetStatus must answer within this time, or the agent counts as unreachable. */
const STATUS_TIMEOUT_MS = 5_000;

/** Ends an attempt because this replica no longer holds the agent's lease. */
class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** Ends an attempt because this replica holds more than its share: the agent goes to another replica. */
class HandOverError extends Error {
  override name = 'HandOverError';
}

/** The subscription to one agent address, kept up until stop(). */
export class AgentIngest {
  readonly address: string;
  private readonly connection: AgentConnection;
  private readonly stopped = new AbortController();
  private attemptAbort: AbortController | undefined;
  private done: Promise<void> | undefined;
  private writer: BatchWriter | undefined;

  private phase: Phase = 'connecting';
  /** Set while the agent is left to another replica or address; kept across attempts until that changes. */
  private passive: Passive | undefined;
  private agentId = '';
  private hostname = '';
  private lastError = '';
  private loggedError = '';
  private unreachableSince: number | undefined;
  /** The agent's current boot and newest seq, from GetStatus, events and heartbeats. */
  private agentBoot = '';
  private agentNewestSeq = 0n;
  /** The newest seq of agentBoot received on this attempt's stream (or stored before it). */
  private receivedSeq = 0n;
  /** What is stored: the newest run and its highest seq. */
  private storedBoot = '';
  private storedSeq = 0n;
  /** Since when the agent has reported seqs that have not reached us yet. */
  private behindSince: number | undefined;
  private streamedSomething = false;
  /** Set by handOver(): the next chance, the lease is released rather than used. */
  private handingOver = false;
  /** Between two attempts (backoff or standby). */
  private waiting = false;
  private eventsStored = 0;
  private gapsStored = 0;
  private reconnects = 0;

  constructor(
    readonly target: AgentTarget,
    private readonly env: IngestEnvironment,
  ) {
    this.address = target.address;
    this.connection = new AgentConnection(target.address, env.tls, target.serverName, env.keepaliveMs, env.gzip);
  }

  start(): void {
    this.done ??= this.run();
  }

  /** Ends the subscription (what was received is stored first) and gives the agent up. */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.done;
  }

  /** Another replica took the agent's lease: end the stream; the next attempt finds out who owns it. */
  leaseLost(): void {
    this.attemptAbort?.abort(new LeaseLostError(`another replica took over the lease on agent ${this.agentId}`));
  }

  /**
   * This replica holds more than its fair share of agents: store what was
   * received, release the lease and stand by, so that a replica with room
   * takes the agent over from the stored cursor.
   */
  handOver(): void {
    if (this.handingOver) return;
    this.handingOver = true;
    // Between attempts (the agent is unreachable from here) there is nothing
    // to store: release at once rather than after the next GetStatus.
    if (this.waiting) void this.standAside();
    else this.attemptAbort?.abort(new HandOverError(`handing agent ${this.agentId} over to a replica with fewer agents`));
  }

  snapshot(): IngestSnapshot {
    return {
      address: this.address,
      agentId: this.agentId,
      hostname: this.hostname,
      bootId: this.storedBoot,
      state: this.state(),
      active: this.passive === undefined && this.phase !== 'stopped',
      lagMs: this.phase === 'streaming' ? this.lagMs() : 0,
      lastError: this.lastError,
      storedSeq: this.storedSeq,
      eventsStored: this.eventsStored,
      gapsStored: this.gapsStored,
      reconnects: this.reconnects,
    };
  }

  private state(): HostState {
    if (this.passive) return HostState.UNSPECIFIED;
    switch (this.phase) {
      case 'streaming':
        return this.lagMs() > this.env.lagThresholdMs ? HostState.LAGGING : HostState.CONNECTED;
      case 'connecting':
        return this.unreachableSince !== undefined && Date.now() - this.unreachableSince >= this.env.goneAfterMs
          ? HostState.GONE
          : HostState.CONNECTING;
      case 'stopped':
        return HostState.GONE;
    }
  }

  /**
   * How far the store trails the agent: the age of the oldest event received
   * and not yet stored, or how long the agent has had events not yet received.
   */
  private lagMs(): number {
    const oldest = this.writer?.oldestUnstored();
    const since = [oldest?.time ? Number(oldest.time.seconds) * 1000 + oldest.time.nanos / 1e6 : undefined, this.behindSince].filter(
      (t): t is number => t !== undefined,
    );
    return since.length === 0 ? 0 : Math.max(0, Date.now() - Math.min(...since));
  }

  private async run(): Promise<void> {
    const backoff = new Backoff();
    const stop = this.stopped.signal;
    while (!stop.aborted) {
      const attempt = new AbortController();
      this.attemptAbort = attempt;
      const onStop = () => attempt.abort(new ConnectError('the collector is stopping', Code.Canceled));
      stop.addEventListener('abort', onStop, { once: true });
      this.streamedSomething = false;
      let delay: number | undefined;
      try {
        delay = await this.attempt(attempt.signal);
      } catch (error) {
        if (stop.aborted) break;
        this.failed(error);
      } finally {
        stop.removeEventListener('abort', onStop);
        attempt.abort();
      }
      if (this.streamedSomething) backoff.reset();
      const wait = delay ?? backoff.next();
      this.logError(wait);
      this.reconnects++;
      this.waiting = true;
      await sleep(wait, stop);
      this.waiting = false;
    }
    this.phase = 'stopped';
    await this.letGo();
    this.connection.close();
  }

  /**
   * One attempt: identify the agent, take its lease, resume from the cursor and
   * stream until something breaks. Returns a delay before the next attempt when
   * it ended on purpose (standby, resume at once), or throws.
   */
  private async attempt(signal: AbortSignal): Promise<number | undefined> {
    const { store, leases } = this.env;
    this.phase = 'connecting';
    const status = await this.connection.client.getStatus({}, { signal, timeoutMs: STATUS_TIMEOUT_MS });
    this.unreachableSince = undefined;
    if (status.agentId === '') throw new Error('the agent reported an empty agent_id');
    if (this.agentId !== '' && this.agentId !== status.agentId) {
      // The address now answers as another agent.
      await this.letGo();
      this.passive = undefined;
    }
    this.agentId = status.agentId;
    this.hostname = status.hostname;
    this.seen(status.bootId, status.eventsCaptured, false);

    const holder = this.env.claim(this.agentId, this);
    if (holder) {
      this.passive = 'duplicate';
      this.lastError = `agent ${this.agentId} is already ingested through ${holder.address}`;
      return leases.renewEveryMs;
    }
    await store.upsertHost({ agentId: this.agentId, hostname: status.hostname, address: this.address, bootId: status.bootId, strategies: status.strategies });
    if (this.handingOver) return await this.standAside();
    if (!(await leases.acquire(this.agentId))) {
      this.passive = 'standby';
      this.lastError = '';
      return leases.renewEveryMs;
    }
    this.passive = undefined;

    const cursor = await store.cursor(this.agentId);
    this.storedBoot = cursor?.bootId ?? '';
    this.storedSeq = cursor?.seq ?? 0n;
    this.receivedSeq = this.agentBoot === this.storedBoot ? this.storedSeq : 0n;
    this.updateBehind();
    // since_seq of the stored boot: the agent replays from there, or, when it
    // has restarted since (another boot_id), from seq 1 of its new boot.
    // Events in batches (as many as the writer stores at once): a response per event costs the agent and the
    // collector several times what the event does (BENCHMARKS.md). An agent older than max_batch sends them one by one.
    const request = create(SubscribeRequestSchema, {
      since: { case: 'sinceSeq', value: this.storedSeq + 1n },
      bootId: this.storedBoot,
      maxBatch: (this.env.batch ?? DEFAULT_BATCH_OPTIONS).maxItems,
    });
    const stream = this.connection.subscribe(request, { signal });
    const writer = new BatchWriter((batch) => this.write(batch), (error) => this.attemptAbort?.abort(error), this.env.batch);
    this.writer = writer;
    this.phase = 'streaming';
    this.lastError = '';
    this.loggedError = '';
    this.env.log.log(
      `agent ${this.agentId} (${this.hostname}) at ${this.address}: ingesting from seq ${request.since.value} of ${cursor ? `boot ${cursor.bootId}` : 'its current boot'}`,
    );
    try {
      for await (const message of stream) {
        this.streamedSomething = true;
        const m = message.response;
        if (m.case === 'events') {
          for (const event of m.value.events) this.received(event);
          await writer.addEvents(m.value.events);
        } else if (m.case === 'event') {
          this.received(m.value);
          await writer.addEvent(m.value.bootId, m.value);
        } else if (m.case === 'gap') {
          if (m.value.reason === GapReason.SLOW_SUBSCRIBER) {
            // The agent dropped events from our queue, but they are still in
            // its replay window: store what came before, then resume there.
            await writer.flush();
            this.lastError = `fell behind the agent (${m.value.count} events dropped from its queue); resumed from seq ${this.storedSeq + 1n}`;
            return 0;
          }
          await writer.addGap(m.value.bootId || this.agentBoot, this.asCollectorGap(m.value));
        } else if (m.case === 'heartbeat') {
          this.seen(m.value.bootId, m.value.lastSeq, false);
        }
      }
      await writer.flush();
      throw new Error('the agent ended the stream');
    } catch (error) {
      if (writer.failure) throw writer.failure;
      if (signal.reason instanceof LeaseLostError) throw signal.reason;
      // The stream broke: store what had arrived, then resume after it.
      await writer.flush().catch(() => undefined);
      // Handed over: the other replica resumes from what is now stored.
      if (signal.reason instanceof HandOverError) return await this.standAside();
      throw error;
    } finally {
      writer.discard();
      this.writer = undefined;
    }
  }

  /** Completes a hand-over: the lease is released (everything received is stored) and the agent waits on standby. */
  private async standAside(): Promise<number> {
    this.handingOver = false;
    await this.env.leases.release(this.agentId);
    this.passive = 'standby';
    this.lastError = '';
    this.env.log.log(`agent ${this.agentId} (${this.hostname}): handed over at seq ${this.storedSeq} (this replica holds more than its share)`);
    return this.env.leases.renewEveryMs;
  }

  /** One event received, before the writer takes it: checked and noted. */
  private received(event: StateChange): void {
    if (event.agentId !== this.agentId) throw new Error(`the agent at ${this.address} now sends events of agent ${event.agentId}`);
    this.seen(event.bootId, event.seq, true);
  }

  /** Stores one batch, then offers what is new in it to Watch. */
  private async write(batch: Batch): Promise<void> {
    await this.env.store.ingest(this.agentId, batch.bootId, { events: batch.events, gaps: batch.gaps }, this.hostname);
    const sameRun = batch.bootId === this.storedBoot;
    const fresh = sameRun ? batch.events.filter((e) => e.seq > this.storedSeq) : batch.events;
    let newest = sameRun ? this.storedSeq : 0n;
    for (const e of batch.events) if (e.seq > newest) newest = e.seq;
    for (const g of batch.gaps) if (g.lastSeq > newest) newest = g.lastSeq;
    this.storedBoot = batch.bootId;
    this.storedSeq = newest;
    this.eventsStored += fresh.length;
    this.gapsStored += batch.gaps.length;
    this.updateBehind();
    this.env.feed.publish(this.agentId, this.hostname, fresh, batch.gaps);
  }

  /**
   * A resume that found its events evicted from the agent's window is, seen
   * from the store, a collector outage: relabelled so, unless the agent
   * restarted (its gap then names another boot) or nothing was stored yet.
   */
  private asCollectorGap(gap: Gap): Gap {
    if (gap.reason !== GapReason.REPLAY_EVICTED || this.storedBoot === '' || gap.bootId !== this.storedBoot) return gap;
    return { ...gap, reason: GapReason.COLLECTOR_OUTAGE, message: `The collector could not ingest in time: ${gap.message}` };
  }

  /** Notes the agent's newest seq: reported by its status or a heartbeat, or `received` in an event. */
  private seen(bootId: string, seq: bigint, received: boolean): void {
    if (bootId !== this.agentBoot) {
      this.agentBoot = bootId;
      this.agentNewestSeq = 0n;
      this.receivedSeq = 0n;
    }
    if (seq > this.agentNewestSeq) this.agentNewestSeq = seq;
    if (received && seq > this.receivedSeq) this.receivedSeq = seq;
    this.updateBehind();
  }

  /** Whether the agent has seqs that have not reached us: received events are measured by their own age instead. */
  private updateBehind(): void {
    const have = this.agentBoot === this.storedBoot && this.storedSeq > this.receivedSeq ? this.storedSeq : this.receivedSeq;
    if (this.agentBoot === '' || this.agentNewestSeq <= have) this.behindSince = undefined;
    else this.behindSince ??= Date.now();
  }

  private failed(error: unknown): void {
    const reconnecting = this.phase === 'streaming';
    this.phase = 'connecting';
    this.lastError = (this.env.tls && describeTlsError(error, this.address)) || describeError(error);
    if (!reconnecting) this.unreachableSince ??= Date.now();
  }

  /** Logs an error once, not at every retry. */
  private logError(retryMs: number): void {
    if (this.lastError === '' || this.lastError === this.loggedError) return;
    this.loggedError = this.lastError;
    this.env.log.warn(`agent ${this.agentId || '?'} at ${this.address}: ${this.lastError} (retrying in ${retryMs} ms)`);
  }

  /** Gives up the agent id and its lease. */
  private async letGo(): Promise<void> {
    if (this.agentId === '') return;
    this.env.unclaim(this.agentId, this);
    await this.env.leases.forget(this.agentId);
  }
}

/** One line for last_error and the log. */
export function describeError(error: unknown): string {
  // HTTP/2 RST_STREAM(CANCEL) from the other end: the agent went away mid-stream.
  if (error instanceof ConnectError && error.code === Code.Canceled && /stream closed with error code CANCEL/.test(error.rawMessage)) {
    return 'the agent closed the stream (it stopped, restarted or dropped the connection)';
  }
  if (error instanceof ConnectError) {
    const cause = error.cause instanceof Error && error.cause.message && !error.rawMessage.includes(error.cause.message) ? ` (${error.cause.message})` : '';
    return `${Code[error.code].replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()}: ${error.rawMessage}${cause}`;
  }
  return error instanceof Error ? error.message : String(error);
}

