/**
 * Kernel times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns), the same
 * clock as process.hrtime.bigint(). Wall time is derived from one offset,
 * sampled once per batch, so a batch's events keep their order and spacing.
 */

/** Wall-clock ns since the epoch minus monotonic ns, sampled now. */
export function wallClockOffsetNs(): bigint {
  const monotonic = process.hrtime.bigint();
  const wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wallNs - monotonic;
}

/** Converts a kernel monotonic time to wall-clock ns since the epoch and a Date (ms precision). */
export function monotonicToWallClock(monotonicNs: bigint, offsetNs: bigint = wallClockOffsetNs()): { epochNs: bigint; date: Date } {
  const epochNs = monotonicNs + offsetNs;
  return { epochNs, date: new Date(Number(epochNs / 1_000_000n)) };
}
