import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HostState } from '@tcpstate/proto';
import { RPC_METRICS_REGISTRY } from '@tcpstate/rpc';
import type { EventStore } from '@tcpstate/store';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AgentFleet } from './ingest/agent-fleet.js';
import { EVENT_STORE } from './tokens.js';
import { LiveFeed } from './watch/live-feed.js';

const stateLabel = (state: HostState) => (HostState[state] ?? 'UNSPECIFIED').toLowerCase();

/**
 * The collector's Prometheus metrics on /metrics, read from the ingests when
 * scraped so that ingest only bumps plain counters.
 */
@Injectable()
export class CollectorMetrics implements OnModuleInit {
  constructor(
    @Inject(RPC_METRICS_REGISTRY) private readonly registry: Registry,
    @Inject(AgentFleet) private readonly fleet: AgentFleet,
    @Inject(LiveFeed) private readonly feed: LiveFeed,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  onModuleInit(): void {
    const { fleet, feed, store } = this;
    const registers = [this.registry];
    const active = () => fleet.snapshot().filter((s) => s.active && s.agentId !== '');
    new Counter({
      name: 'tcpstate_collector_events_stored_total',
      help: 'Events stored by this replica since it started, per agent',
      labelNames: ['agent_id'],
      registers,
      collect() {
        this.reset();
        for (const s of active()) this.inc({ agent_id: s.agentId }, s.eventsStored);
      },
    });
    new Counter({
      name: 'tcpstate_collector_gaps_stored_total',
      help: 'Gaps (losses reported by agents) stored by this replica since it started, per agent',
      labelNames: ['agent_id'],
      registers,
      collect() {
        this.reset();
        for (const s of active()) this.inc({ agent_id: s.agentId }, s.gapsStored);
      },
    });
    new Counter({
      name: 'tcpstate_collector_reconnects_total',
      help: 'Subscribe attempts that ended and were retried, per agent address',
      labelNames: ['address'],
      registers,
      collect() {
        this.reset();
        for (const s of fleet.snapshot()) this.inc({ address: s.address }, s.reconnects);
      },
    });
    new Gauge({
      name: 'tcpstate_collector_ingest_lag_seconds',
      help: 'How far the stored events trail each agent',
      labelNames: ['agent_id'],
      registers,
      collect() {
        this.reset();
        for (const s of active()) this.set({ agent_id: s.agentId }, s.lagMs / 1000);
      },
    });
    new Gauge({
      name: 'tcpstate_collector_agents',
      help: 'Agent addresses this replica subscribes to, by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const s of fleet.snapshot()) this.inc({ state: stateLabel(s.state) });
      },
    });
    new Gauge({
      name: 'tcpstate_collector_rows_pending',
      help: 'Events stored whose connection rows are not written yet (SQLite writes them after ingest; queries wait for them)',
      registers,
      async collect() {
        this.set(await store.rowsPending().catch(() => Number.NaN));
      },
    });
    new Gauge({
      name: 'tcpstate_collector_watch_streams',
      help: 'Open Watch streams',
      registers,
      collect() {
        this.set(feed.watcherCount);
      },
    });
  }
}
