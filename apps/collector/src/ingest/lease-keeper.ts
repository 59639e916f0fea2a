// Leases divide the agents between collector replicas sharing one database:
// a replica ingests an agent only while it holds the agent's lease, renews it
// every third of its time to live, and gives it up when it stops. A replica
// that dies stops renewing; once its leases expire another replica takes the
// agents over, resuming each from the cursor in the store.
//
// Balancing: each replica also heartbeats (a row of its own, with the same time
// to live), and so knows how many replicas are alive. It takes new leases only
// up to its fair share, ceil(agents / live replicas), and when it holds more
// (another replica joined) it hands the surplus over: those ingests store what
// they received and release the lease, and the replica below its share takes
// them at its next retry, from the stored cursor. An agent that stays free for
// a whole time to live (no replica with room can reach it) is taken anyway.
import type { EventStore, ReplicaView } from '@tcpstate/store';
import { agentCount, fairShare, surplusAgents } from './fair-share.js';

/** What the keeper asks of the ingests. */
export interface LeaseEvents {
  /** Another replica now holds this agent's lease: stop ingesting it. */
  onLost(agentId: string): void;
  /** This replica holds more than its share: hand this agent over (store, then release). */
  onSurplus(agentId: string): void;
}

export class LeaseKeeper {
  private readonly owned = new Set<string>();
  /** Agents whose lease is being asked for now: counted against the share before the database answers. */
  private readonly acquiring = new Set<string>();
  /** Agents this replica's ingests have identified and would ingest. */
  private readonly wanted = new Set<string>();
  /** Owned agents taken above the share because they stayed free; never handed over. */
  private readonly overflow = new Set<string>();
  /** Since when each wanted agent has had no live lease (ms, from the heartbeats). */
  private readonly freeSince = new Map<string, number>();
  private view: ReplicaView | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** The last heartbeat or renewal error, for logs; cleared by a successful renewal. */
  lastError: Error | undefined;

  constructor(
    private readonly store: EventStore,
    readonly replicaId: string,
    readonly ttlMs: number,
    private readonly events: LeaseEvents,
  ) {}

  /** How often leases are renewed, and how often a replica on standby asks again. */
  get renewEveryMs(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  /** The most agents this replica takes now (Infinity until the first heartbeat answered). */
  get share(): number {
    if (!this.view) return Infinity;
    return fairShare(agentCount({ view: this.view, wanted: this.wanted, owned: this.owned }), this.view.replicas.length);
  }

  /**
   * Takes (or keeps) the lease on an agent; false while another replica holds
   * it, or while this replica already holds its fair share.
   */
  async acquire(agentId: string): Promise<boolean> {
    this.wanted.add(agentId);
    if (!this.view) await this.tick();
    let aboveShare = false;
    if (!this.owned.has(agentId)) {
      if (this.acquiring.has(agentId)) return false;
      aboveShare = this.owned.size + this.acquiring.size >= this.share;
      if (aboveShare && !this.freeTooLong(agentId)) return false;
    }
    this.acquiring.add(agentId);
    let granted: string[];
    try {
      granted = await this.store.acquireLeases(this.replicaId, [agentId], this.ttlMs);
    } finally {
      this.acquiring.delete(agentId);
    }
    const own = granted.includes(agentId);
    if (own) {
      this.owned.add(agentId);
      if (aboveShare) this.overflow.add(agentId);
    } else {
      this.drop(agentId);
    }
    return own;
  }

  /** Gives up the lease on an agent (handed over, or its ingest stopped). Errors are ignored: the lease then expires. */
  async release(agentId: string): Promise<void> {
    if (!this.owned.has(agentId)) return;
    this.drop(agentId);
    await this.store.releaseLeases(this.replicaId, [agentId]).catch(() => undefined);
  }

  /** The agent is no longer ingested here at all (its address was dropped): release it and stop counting it. */
  async forget(agentId: string): Promise<void> {
    this.wanted.delete(agentId);
    this.freeSince.delete(agentId);
    await this.release(agentId);
  }

  owns(agentId: string): boolean {
    return this.owned.has(agentId);
  }

  /** Heartbeats once (so that the share is known before the first lease is asked for), then periodically. */
  async start(): Promise<void> {
    await this.tick();
    this.timer ??= setInterval(() => void this.tick(), this.renewEveryMs);
  }

  /** Heartbeats, renews every lease held, and hands over any surplus. */
  tick(): Promise<void> {
    this.ticking ??= this.tickNow().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async tickNow(): Promise<void> {
    let view: ReplicaView;
    let agents: string[] = [];
    let granted: string[] = [];
    try {
      view = await this.store.heartbeat(this.replicaId, this.ttlMs);
      agents = [...this.owned];
      if (agents.length > 0) granted = await this.store.acquireLeases(this.replicaId, agents, this.ttlMs);
      // A lease released while the renewal was on its way was renewed with the
      // others: release it again, or it would wait for its expiry.
      const released = agents.filter((a) => granted.includes(a) && !this.owned.has(a) && !this.acquiring.has(a));
      if (released.length > 0) await this.store.releaseLeases(this.replicaId, released);
      this.lastError = undefined;
    } catch (error) {
      // The database is unreachable: keep ingesting (writes fail anyway until
      // it is back), and find out at the next renewal whether we still own.
      this.lastError = error as Error;
      return;
    }
    this.view = view;
    for (const agentId of agents) {
      if (!granted.includes(agentId) && this.owned.has(agentId)) {
        this.drop(agentId);
        this.events.onLost(agentId);
      }
    }
    this.noteFreeAgents(view);
    if (this.owned.size <= this.share) this.overflow.clear();
    for (const agentId of surplusAgents({ replicaId: this.replicaId, view, wanted: this.wanted, owned: this.owned, overflow: this.overflow })) {
      this.events.onSurplus(agentId);
    }
  }

  /** Tracks since when each wanted agent has had no live lease. */
  private noteFreeAgents(view: ReplicaView): void {
    const leased = new Set(view.leases.map((l) => l.agentId));
    const now = Date.now();
    for (const agentId of this.wanted) {
      if (leased.has(agentId) || this.owned.has(agentId)) this.freeSince.delete(agentId);
      else if (!this.freeSince.has(agentId)) this.freeSince.set(agentId, now);
    }
  }

  /** Whether an agent has been free for a whole time to live: no replica with room took it. */
  private freeTooLong(agentId: string): boolean {
    const since = this.freeSince.get(agentId);
    return since !== undefined && Date.now() - since >= this.ttlMs;
  }

  private drop(agentId: string): void {
    this.owned.delete(agentId);
    this.overflow.delete(agentId);
  }

  /** Stops heartbeating and renewing, releases every lease and leaves, so that other replicas take over at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    this.owned.clear();
    this.overflow.clear();
    await this.store.leave(this.replicaId).catch(() => undefined);
  }
}
