/**
 * How the TIME_WAIT phase is followed, best first. Each rung is tried in
 * turn from the requested one down; a refused rung records why (the errno
 * text) and the next is tried. The sweep is the last rung and always exists.
 */
export type TimeWaitStrategy = 'fexit' | 'kprobe' | 'timer' | 'sweep';

/**
 * Best first. The hooks see every step exactly; the timer strategy too, but
 * for a FIN_WAIT2 -> TIME_WAIT step that re-armed the timer silently (found
 * at the end, its time within two jiffies); the sweep sees exits up to one
 * interval late and costs kernel time per socket per interval.
 */
export const TIME_WAIT_LADDER: readonly TimeWaitStrategy[] = ['fexit', 'kprobe', 'timer', 'sweep'];

/** The programs behind each strategy, for status reports. */
export const TIME_WAIT_STRATEGY_PROGRAMS: Record<TimeWaitStrategy, string> = {
  fexit: 'fexit/inet_twsk_alloc + fentry/inet_twsk_put + fexit/tcp_timewait_state_process',
  kprobe: 'kprobe/inet_twsk_alloc + kprobe/inet_twsk_put + kprobe/tcp_timewait_state_process',
  timer: 'tp_btf/timer_start + tp_btf/timer_expire_entry + tp_btf/timer_cancel on the timewait socket\'s timer',
  sweep: 'hand-over at tcp_time_wait + iter/tcp sweep',
};

/** One way of observing one concern, and whether it runs. */
export interface StrategyReport {
  concern: 'state' | 'time_wait';
  name: string;
  active: boolean;
  /** Why the kernel refused it (errno text), when it did. */
  refusedReason?: string;
}

/** The outcome of one attempt: the opened thing, or why the kernel refused. */
export type Attempt<T> = { opened: T } | { refused: string };

/**
 * Walks the ladder from `requested` ('auto' = the top) and returns the first
 * strategy whose attempt opens, with a report for every rung tried.
 * Throws whatever the last rung's attempt throws.
 */
export function climbDownLadder<T>(
  requested: 'auto' | TimeWaitStrategy,
  attempt: (strategy: TimeWaitStrategy) => Attempt<T>,
): { opened: T; strategy: TimeWaitStrategy; reports: StrategyReport[] } {
  const start = requested === 'auto' ? 0 : TIME_WAIT_LADDER.indexOf(requested);
  const reports: StrategyReport[] = [];
  for (const strategy of TIME_WAIT_LADDER.slice(start)) {
    const result = attempt(strategy);
    if ('opened' in result) {
      reports.push({ concern: 'time_wait', name: strategy, active: true });
      return { opened: result.opened, strategy, reports };
    }
    reports.push({ concern: 'time_wait', name: strategy, active: false, refusedReason: result.refused });
  }
  throw new Error(`every TIME_WAIT strategy was refused: ${reports.map((r) => `${r.name}: ${r.refusedReason}`).join('; ')}`);
}
