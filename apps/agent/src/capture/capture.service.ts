import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { KernelCapture, RECORD_SIZE, type RecordBatch, type SocketNow, type StrategyReport } from '@tcpstate/kernel';
import type { AgentOptions } from '../agent-options.js';
import { AGENT_OPTIONS } from '../tokens.js';
import { EventHub } from '../hub/index.js';
import { KernelRecordBatch } from './kernel-batch.js';

/**
 * Owns the kernel capture: loads the BPF programs at start, feeds every batch
 * of records to the event hub, turns ring-buffer drops into gaps, and detaches
 * everything at shutdown (after the RPC server has stopped).
 */
@Injectable()
export class CaptureService implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('Capture');
  private capture?: KernelCapture;
  private reportedDrops = 0n;
  /** Transitions seen, indexed old * 16 + new (states are below 16). */
  private readonly transitions = new Float64Array(256);
  /** Why capture is not running, when it is not. */
  error?: string;

  constructor(
    @Inject(AGENT_OPTIONS) private readonly options: AgentOptions,
    @Inject(EventHub) private readonly hub: EventHub,
  ) {}

  onModuleInit(): void {
    if (!this.options.capture) {
      this.error = 'capture disabled (--no-capture)';
      this.log.warn('serving without kernel capture (--no-capture)');
      return;
    }
    this.capture = KernelCapture.openRecords(
      {
        serverEndpoints: this.options.serverEndpoint,
        ports: this.options.port,
        netns: this.options.netns,
        sweepIntervalMs: this.options.sweepInterval,
        timeWaitStrategy: this.options.timeWaitStrategy,
        // The replay window keeps the batches, as views of the capture's records array: at most
        // --replay-events records, and at most --replay-bytes of them (each counts RECORD_SIZE or more).
        keepRecords: Math.min(this.options.replayEvents, Math.floor(this.options.replayBytes / RECORD_SIZE)),
      },
      (batch) => this.onBatch(batch),
    );
    for (const s of this.capture.strategies) {
      if (s.active) this.log.log(`${s.concern}: ${s.name}`);
      else if (s.refusedReason) this.log.log(`${s.concern}: ${s.name} refused (${s.refusedReason})`);
    }
  }

  get strategies(): StrategyReport[] {
    return this.capture?.strategies ?? [];
  }

  get capturing(): boolean {
    return this.capture !== undefined;
  }

  kernelDrops(): bigint {
    return this.capture?.kernelDrops() ?? 0n;
  }

  /** [old, new, count] for every transition seen at least once. */
  transitionCounts(): [number, number, number][] {
    const out: [number, number, number][] = [];
    this.transitions.forEach((count, i) => {
      if (count > 0) out.push([i >> 4, i & 15, count]);
    });
    return out;
  }

  /** The sockets that exist now (an iter/tcp sweep); empty without capture. */
  listSockets(): SocketNow[] {
    return this.capture?.listSockets() ?? [];
  }

  private onBatch(records: RecordBatch): void {
    // Drops are counted by the kernel as they happen; report them before the
    // records that arrived after them.
    const drops = this.kernelDrops();
    if (drops > this.reportedDrops) {
      this.hub.reportKernelDrops(Number(drops - this.reportedDrops));
      this.reportedDrops = drops;
    }
    const batch = new KernelRecordBatch(records);
    if (batch.length === 0) return;
    for (let i = 0; i < batch.length; i++) this.transitions[batch.transition(i)]++;
    this.hub.publishBatch(batch);
  }

  onApplicationShutdown(): void {
    this.capture?.close();
    this.capture = undefined;
  }
}
