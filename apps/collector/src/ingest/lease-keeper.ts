// Leases divide the agents between collector replicas sharing one database:
// a replica ingests an agent only while it holds the agent's lease, renews it
// every third of its time to live, and gives it up when it stops. A replica
// that dies stops renewing; once its leases expire another replica takes the
// agents over, resuming each from the cursor in the store.
import type { EventStore } from '@tcpstate/store';

export class LeaseKeeper {
  private readonly owned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  /** The last renewal error, for logs; cleared by a successful renewal. */
  lastError: Error | undefined;

  constructor(
    private readonly store: EventStore,
    readonly replicaId: string,
    readonly ttlMs: number,
    /** Called for each agent whose lease another replica now holds. */
    private readonly onLost: (agentId: string) => void,
  ) {}

  /** How often leases are renewed, and how often a replica on standby asks again. */
  get renewEveryMs(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  /** Takes (or keeps) the lease on an agent; false while another replica holds it. */
  async acquire(agentId: string): Promise<boolean> {
    const granted = await this.store.acquireLeases(this.replicaId, [agentId], this.ttlMs);
    const own = granted.includes(agentId);
    if (own) this.owned.add(agentId);
    else this.owned.delete(agentId);
    return own;
  }

  /** Gives up the lease on an agent (its ingest stopped). Errors are ignored: the lease then expires. */
  async release(agentId: string): Promise<void> {
    if (!this.owned.delete(agentId)) return;
    await this.store.releaseLeases(this.replicaId, [agentId]).catch(() => undefined);
  }

  owns(agentId: string): boolean {
    return this.owned.has(agentId);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.renew(), this.renewEveryMs);
  }

  /** Renews every lease held; agents whose lease was taken are reported to onLost. */
  renew(): Promise<void> {
    this.renewing ??= this.renewNow().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewNow(): Promise<void> {
    const agents = [...this.owned];
    if (agents.length === 0) return;
    let granted: string[];
    try {
      granted = await this.store.acquireLeases(this.replicaId, agents, this.ttlMs);
      this.lastError = undefined;
    } catch (error) {
      // The database is unreachable: keep ingesting (writes fail anyway until
      // it is back), and find out at the next renewal whether we still own.
      this.lastError = error as Error;
      return;
    }
    for (const agentId of agents) {
      if (!granted.includes(agentId) && this.owned.delete(agentId)) this.onLost(agentId);
    }
  }

  /** Stops renewing and releases every lease, so that another replica can take over at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    const agents = [...this.owned];
    this.owned.clear();
    if (agents.length > 0) await this.store.releaseLeases(this.replicaId, agents).catch(() => undefined);
  }
}
