// Collects a KernelCapture's events for assertions: per-connection (cookie)
// sequences rendered with state and observation names, and waiting helpers.
import type { KernelCapture, KernelEvent } from '@tcpstate/kernel';

export const STATE_NAMES: Record<number, string> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
};

const OBSERVATION_NAMES: Record<number, string> = { 1: 'tracepoint', 2: 'handover', 3: 'hook', 4: 'sweep' };

/** "OLD->NEW" plus " (handover)" / " (sweep)" when not a plain tracepoint observation. */
export function step(e: KernelEvent): string {
  const how = e.observedBy === 1 ? '' : ` (${OBSERVATION_NAMES[e.observedBy] ?? e.observedBy})`;
  return `${STATE_NAMES[e.oldState] ?? e.oldState}->${STATE_NAMES[e.newState] ?? e.newState}${how}`;
}

export class EventLog {
  readonly events: KernelEvent[] = [];
  capture?: KernelCapture;

  readonly onEvents = (batch: KernelEvent[]) => {
    this.events.push(...batch);
  };

  /** Cookies of connections that had this local and remote port in this netns at some point. */
  cookies(netns: number, localPort: number, remotePort: number): bigint[] {
    const found = new Set<bigint>();
    for (const e of this.events)
      if (e.netns === netns && e.localPort === localPort && e.remotePort === remotePort) found.add(e.cookie);
    return [...found];
  }

  /** The one connection with these ports (fails if none or several). */
  cookie(netns: number, localPort: number, remotePort: number): bigint {
    const cookies = this.cookies(netns, localPort, remotePort);
    if (cookies.length !== 1)
      throw new Error(`expected one connection ${localPort}->${remotePort} in netns ${netns}, found ${cookies.length}`);
    return cookies[0];
  }

  of(cookie: bigint): KernelEvent[] {
    return this.events.filter((e) => e.cookie === cookie);
  }

  steps(cookie: bigint): string[] {
    return this.of(cookie).map(step);
  }

  /** Polls (flushing the ring) until `done` holds; fails after timeoutMs with what was seen. */
  async waitFor(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.capture?.flush();
      if (done()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits until the connection's last step is `last`. */
  async waitForLast(cookie: () => bigint | undefined, last: string, timeoutMs = 10_000): Promise<void> {
    await this.waitFor(
      `a connection ending with ${last}`,
      () => {
        const c = cookie();
        return c !== undefined && this.steps(c).at(-1) === last;
      },
      timeoutMs,
    ).catch((error: Error) => {
      const c = cookie();
      throw new Error(`${error.message}; saw ${c === undefined ? 'no connection' : JSON.stringify(this.steps(c))}`);
    });
  }
}
