/**
 * Events per second over the last 10 whole seconds, from one counter per
 * wall-clock second in a ring (updated once per batch, not per event).
 */
export class EventRate {
  private static readonly SECONDS = 10;
  // One slot more than the window: the current, still incomplete second.
  private readonly seconds = new Float64Array(EventRate.SECONDS + 1).fill(-1);
  private readonly counts = new Float64Array(EventRate.SECONDS + 1);

  add(count: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const slot = second % this.seconds.length;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot] += count;
  }

  /** Average over the 10 complete seconds before the current one. */
  perSecond(nowMs: number): number {
    const current = Math.floor(nowMs / 1000);
    let total = 0;
    for (let slot = 0; slot < this.seconds.length; slot++) {
      const second = this.seconds[slot];
      if (second >= current - EventRate.SECONDS && second < current) total += this.counts[slot];
    }
    return total / EventRate.SECONDS;
  }
}
