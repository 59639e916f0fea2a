import { type DynamicModule, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { RpcModule } from '@tcpstate/rpc';
import { type EventStore, openStore } from '@tcpstate/store';
import { timelinePageRoot } from '@tcpstate/timeline-web';
import type { CollectorOptions } from './collector-options.js';
import { CollectorMetrics } from './collector-metrics.js';
import { CollectorServiceImpl } from './collector.service.js';
import { AgentFleet } from './ingest/agent-fleet.js';
import { RetentionService } from './retention.js';
import { COLLECTOR_OPTIONS, EVENT_STORE } from './tokens.js';
import { LiveFeed } from './watch/live-feed.js';

/** Closes the store last: after the RPC server (onModuleDestroy) and ingest (beforeApplicationShutdown) have stopped. */
@Injectable()
class StoreCloser implements OnApplicationShutdown {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/**
 * The collector: agent subscriptions -> store -> CollectorService, served by
 * RpcModule. Shutdown order: the RPC server stops serving (onModuleDestroy),
 * ingest stores what it received and releases its leases
 * (beforeApplicationShutdown), then the store closes (onApplicationShutdown).
 */
@Module({})
export class CollectorModule {
  static forRoot(options: CollectorOptions): DynamicModule {
    return {
      module: CollectorModule,
      imports: [
        RpcModule.forRoot({
          grpcListen: options.grpcListen,
          httpListen: options.httpListen,
          tls: options.tlsCert && options.tlsKey ? { cert: options.tlsCert, key: options.tlsKey, clientCa: options.tlsClientCa } : undefined,
          // The web timeline page at http://HTTP-PORT/ (served only without TLS, like the API it calls there).
          staticRoot: timelinePageRoot(),
        }),
      ],
      providers: [
        { provide: COLLECTOR_OPTIONS, useValue: options },
        // A schema migration of a large store takes a while: say what is happening before the ports open.
        // SQLite in a thread of its own: storing a batch does not hold up the streams being received and decoded.
        { provide: EVENT_STORE, useFactory: () => openStore(options.store, { onProgress: (message) => new Logger('Store').log(message), ownThread: true }) },
        StoreCloser,
        LiveFeed,
        AgentFleet,
        RetentionService,
        CollectorMetrics,
        CollectorServiceImpl,
      ],
    };
  }
}
