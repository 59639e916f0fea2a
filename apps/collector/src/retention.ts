// Retention by age: events, gaps and finished connections older than
// --retention are deleted, at start and then periodically. Every replica may
// run it; the deletes are idempotent.
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EventStore } from '@tcpstate/store';
import type { CollectorOptions } from './collector-options.js';
import { COLLECTOR_OPTIONS, EVENT_STORE } from './tokens.js';

/**
 * How often retention runs: a tenth of the retention, between a second and an
 * hour, so that nothing outlives the retention by more than a tenth of it.
 */
export function retentionPeriodMs(retentionMs: number): number {
  return Math.min(3_600_000, Math.max(1_000, Math.floor(retentionMs / 10)));
}

@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Retention');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    @Inject(COLLECTOR_OPTIONS) private readonly options: CollectorOptions,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  onApplicationBootstrap(): void {
    this.running = this.apply();
    this.timer = setInterval(() => {
      this.running ??= this.apply();
    }, retentionPeriodMs(this.options.retention));
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes what is older than the retention; failures are logged and retried next period. */
  async apply(): Promise<void> {
    try {
      const removed = await this.store.deleteOlderThan(new Date(Date.now() - this.options.retention));
      if (removed.events + removed.connections + removed.gaps > 0) {
        this.log.log(`removed ${removed.events} events, ${removed.connections} connections and ${removed.gaps} gaps older than the retention`);
      }
    } catch (error) {
      this.log.warn(`retention failed (retrying in ${retentionPeriodMs(this.options.retention) / 1000} s): ${(error as Error).message}`);
    } finally {
      this.running = undefined;
    }
  }
}
