// All of this replica's agent subscriptions: discovery decides which agent
// addresses exist, one AgentIngest per address subscribes, leases decide
// which replica ingests which agent.
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HostState } from '@tcpstate/proto';
import type { EventStore } from '@tcpstate/store';
import type { CollectorOptions } from '../collector-options.js';
import { AgentDiscovery } from '../discovery/agent-discovery.js';
import { COLLECTOR_OPTIONS, EVENT_STORE } from '../tokens.js';
import { LiveFeed } from '../watch/live-feed.js';
import { loadAgentTls } from './agent-connection.js';
import { AgentIngest, type IngestEnvironment, type IngestSnapshot } from './agent-ingest.js';
import { LeaseKeeper } from './lease-keeper.js';

/** Connected but this far behind the agent: LAGGING. */
const LAG_THRESHOLD_MS = 2_000;

/** How long an address dropped by discovery is still listed with its own reason (the store lists the agent after that). */
const GONE_MEMORY_MS = 3_600_000;

/** An agent address that discovery no longer lists, remembered for ListHosts. */
interface GoneTarget {
  snapshot: IngestSnapshot;
  since: Date;
}

@Injectable()
export class AgentFleet implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('Ingest');
  private readonly ingests = new Map<string, AgentIngest>();
  private readonly claims = new Map<string, AgentIngest>();
  private readonly gone = new Map<string, GoneTarget>();
  private readonly discovery: AgentDiscovery;
  private readonly environment: IngestEnvironment;
  readonly leases: LeaseKeeper;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private loggedProblems = '';

  constructor(
    @Inject(COLLECTOR_OPTIONS) private readonly options: CollectorOptions,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(LiveFeed) feed: LiveFeed,
  ) {
    this.discovery = new AgentDiscovery({ agents: options.agent, agentsFile: options.agentsFile });
    this.leases = new LeaseKeeper(store, options.replicaId, options.leaseTtl, {
      onLost: (agentId) => this.claims.get(agentId)?.leaseLost(),
      onSurplus: (agentId) => this.claims.get(agentId)?.handOver(),
    });
    this.environment = {
      store,
      feed,
      leases: this.leases,
      claim: (agentId, ingest) => {
        const holder = this.claims.get(agentId);
        if (holder && holder !== ingest) return holder;
        this.claims.set(agentId, ingest);
        return undefined;
      },
      unclaim: (agentId, ingest) => {
        if (this.claims.get(agentId) === ingest) this.claims.delete(agentId);
      },
      tls: loadAgentTls(options),
      keepaliveMs: options.agentKeepalive,
      gzip: options.agentCompression === 'gzip',
      goneAfterMs: options.goneAfter,
      lagThresholdMs: LAG_THRESHOLD_MS,
      log: this.log,
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    // The first heartbeat before any lease is asked for: a replica that joins
    // others takes its share, not whatever is free first.
    await this.leases.start();
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.discoveryInterval);
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing;
    await Promise.all([...this.ingests.values()].map((i) => i.stop()));
    await this.leases.stop();
  }

  /** Discovers the agents now: new addresses are subscribed, vanished ones stopped and reported GONE. */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshNow().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async refreshNow(): Promise<void> {
    let targets;
    try {
      targets = await this.discovery.discover();
    } catch (error) {
      this.log.warn((error as Error).message);
      return;
    }
    const problems = this.discovery.problems.join('\n');
    if (problems !== this.loggedProblems && problems !== '') this.log.warn(problems);
    this.loggedProblems = problems;

    for (const [address, target] of targets) {
      if (this.ingests.has(address)) continue;
      const ingest = new AgentIngest(target, this.environment);
      this.ingests.set(address, ingest);
      this.gone.delete(address);
      ingest.start();
      this.log.log(`subscribing to the agent at ${address} (${target.source})`);
    }
    for (const [address, gone] of this.gone) {
      if (Date.now() - gone.since.getTime() > GONE_MEMORY_MS) this.gone.delete(address);
    }
    for (const [address, ingest] of this.ingests) {
      if (targets.has(address)) continue;
      this.ingests.delete(address);
      this.log.log(`the agent at ${address} is no longer listed: unsubscribing`);
      await ingest.stop();
      const snapshot = ingest.snapshot();
      this.gone.set(address, {
        snapshot: { ...snapshot, state: HostState.GONE, active: false, lagMs: 0, lastError: 'no longer listed by discovery' },
        since: new Date(),
      });
    }
  }

  /** Every agent address this replica subscribes to, or did until discovery dropped it. */
  snapshot(): IngestSnapshot[] {
    return [...[...this.ingests.values()].map((i) => i.snapshot()), ...[...this.gone.values()].map((g) => g.snapshot)];
  }
}
