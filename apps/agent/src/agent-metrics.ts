import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { stateName } from '@tcpstate/model';
import { RPC_METRICS_REGISTRY } from '@tcpstate/rpc';
import { Counter, Gauge, type Registry } from 'prom-client';
import { CaptureService } from './capture/capture.service.js';
import { EventHub } from './hub/index.js';

/**
 * The agent's Prometheus metrics on /metrics. Values are read from the hub and
 * the capture when scraped, so the event path only bumps plain counters.
 */
@Injectable()
export class AgentMetrics implements OnModuleInit {
  constructor(
    @Inject(RPC_METRICS_REGISTRY) private readonly registry: Registry,
    @Inject(EventHub) private readonly hub: EventHub,
    @Inject(CaptureService) private readonly capture: CaptureService,
  ) {}

  onModuleInit(): void {
    const { hub, capture } = this;
    const registers = [this.registry];
    new Counter({
      name: 'tcpstate_events_captured_total',
      help: 'State transitions captured, by old and new state',
      labelNames: ['old_state', 'new_state'],
      registers,
      collect() {
        this.reset();
        for (const [oldState, newState, count] of capture.transitionCounts()) {
          this.inc({ old_state: stateName(oldState), new_state: stateName(newState) }, count);
        }
      },
    });
    new Counter({
      name: 'tcpstate_events_dropped_total',
      help: 'Events lost, by where: kernel (ring buffer full) or slow_subscriber (per-subscriber queue full)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        this.inc({ reason: 'kernel' }, Number(capture.kernelDrops()));
        this.inc({ reason: 'slow_subscriber' }, hub.stats().subscriberDrops);
      },
    });
    new Gauge({
      name: 'tcpstate_subscribers',
      help: 'Open Subscribe streams',
      registers,
      collect() {
        this.set(hub.subscriberCount);
      },
    });
    new Gauge({
      name: 'tcpstate_subscriber_queue_depth',
      help: 'Events waiting in subscriber queues, all subscribers together',
      registers,
      collect() {
        this.set(hub.stats().subscribers.reduce((sum, s) => sum + s.queued, 0));
      },
    });
    new Gauge({
      name: 'tcpstate_replay_window_events',
      help: 'Events held in the replay window',
      registers,
      collect() {
        this.set(hub.stats().replay.events);
      },
    });
    new Gauge({
      name: 'tcpstate_replay_window_bytes',
      help: 'Estimated bytes held in the replay window',
      registers,
      collect() {
        this.set(hub.stats().replay.bytes);
      },
    });
    new Gauge({
      name: 'tcpstate_last_seq',
      help: 'Newest seq captured by this agent run',
      registers,
      collect() {
        this.set(hub.stats().lastSeq);
      },
    });
  }
}
