import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { healthV1 } from '@tcpstate/proto';

/** grpc.health.v1 serving status (SERVING, NOT_SERVING, ...). */
export const ServingStatus = healthV1.HealthCheckResponse_ServingStatus;
/** grpc.health.v1 serving status (SERVING, NOT_SERVING, ...). */
export type ServingStatus = healthV1.HealthCheckResponse_ServingStatus;

/** The name grpc.health.v1 uses for the server as a whole. */
export const OVERALL_HEALTH = '';

type Listener = (status: ServingStatus) => void;

/**
 * Serving status per service name ("" is the whole server), as grpc.health.v1
 * reports it. Once `shutdown()` is called every status is NOT_SERVING for good,
 * so nothing can make a stopping server look healthy again.
 */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private stopping = false;

  /** The status of a service, or undefined for a name never set. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Sets a status and tells watchers. Ignored once shutdown has begun. */
  set(service: string, status: ServingStatus): void {
    if (this.stopping) return;
    this.update(service, status);
  }

  /** True once `shutdown()` was called. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** Marks every known service (and the server) NOT_SERVING, permanently. */
  shutdown(): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const service of new Set([OVERALL_HEALTH, ...this.statuses.keys()])) {
      this.update(service, ServingStatus.NOT_SERVING);
    }
  }

  /**
   * The current status of `service` (SERVICE_UNKNOWN when never set), then every
   * change, until `signal` aborts. Changes that happened before the abort are
   * still delivered, so a watcher sees NOT_SERVING even when shutdown aborts it.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    const pending: ServingStatus[] = [this.get(service) ?? ServingStatus.SERVICE_UNKNOWN];
    let wake: (() => void) | undefined;
    const listener: Listener = (status) => {
      pending.push(status);
      wake?.();
    };
    const onAbort = () => wake?.();
    let set = this.listeners.get(service);
    if (!set) this.listeners.set(service, (set = new Set()));
    set.add(listener);
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (pending.length > 0) yield pending.shift() as ServingStatus;
        if (signal.aborted) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      set.delete(listener);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private update(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const listener of this.listeners.get(service) ?? []) listener(status);
  }
}

/** grpc.health.v1.Health over a HealthState. */
export function createHealthService(state: HealthState): ServiceImpl<typeof healthV1.Health> {
  return {
    check(request) {
      const status = state.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      }
      return { status };
    },
    async *watch(request, context) {
      for await (const status of state.watch(request.service, context.signal)) yield { status };
    },
  };
}
