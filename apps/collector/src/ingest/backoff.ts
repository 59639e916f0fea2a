// Reconnect delays: exponential, with jitter so that a collector that lost
// many agents at once (a network blip, a restart) does not call them all back
// in the same instant.

/** Exponential backoff with "equal jitter": each delay is uniform in [ceiling/2, ceiling]. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 200,
    private readonly maxMs = 10_000,
    /** Uniform in [0, 1); injectable so that tests can pin it. */
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the ceiling up to maxMs. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** After a success: the next failure starts again from initialMs. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Waits `ms`, or less when `signal` aborts (then resolves, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
