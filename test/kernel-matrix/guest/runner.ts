// The kernel-matrix guest runner: runs inside the QEMU guest on Node 24 (type
// stripping, so erasable TypeScript only and no relative imports: it is copied
// alone into the initramfs beside @tcpstate/kernel's build).
//
// For each TIME_WAIT strategy (auto, then forced kprobe, then forced sweep) it
// opens KernelCapture, drives the seed's two connections between a Node client
// and a Node server on loopback, and prints one "KM-RESULT {json}" line per
// (strategy, case) with the exact per-side sequences expected and seen. TIME_WAIT
// is ended early by a new SYN on the same 4-tuple; one more connection, under
// `auto`, runs through the kernel's real 60 s TIME_WAIT timer, in parallel.
import net from 'node:net';
import { release } from 'node:os';

import { KernelCapture, type KernelEvent } from '@tcpstate/kernel';

const STATE_NAMES: Record<number, string> = {
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
const OBSERVATION_SUFFIX: Record<number, string> = { 1: '', 2: ' (handover)', 3: ' (hook)', 4: ' (sweep)' };
const OBS_HOOK = 3;
const OBS_SWEEP = 4;
const SWEEP_MS = 200;
const WAIT_MS = 20_000; // TCG emulation is slow, and the host is shared
/** Linux's TCP_TIMEWAIT_LEN. */
const TIMEWAIT_LEN_NS = 60_000_000_000n;
/** A 60 s timer lands in timer-wheel level 3 (HZ=250: 2.048 s buckets); allow for a busy emulated CPU on top. */
const TIMEWAIT_TIMER_SLACK_NS = 5_000_000_000n;
/** 6.1 reuses a TIME_WAIT 4-tuple only once its last timestamp is older, in whole seconds, than now. */
const TW_REUSE_WAIT_MS = 2100;

type Strategy = 'auto' | 'kprobe' | 'timer' | 'sweep';
const EXPECTED_ACTIVE: Record<Strategy, string> = { auto: 'fexit', kprobe: 'kprobe', timer: 'timer', sweep: 'sweep' };

/** "OLD->NEW", plus how it was seen when not by the tracepoint. */
function step(e: KernelEvent): string {
  return `${STATE_NAMES[e.oldState] ?? e.oldState}->${STATE_NAMES[e.newState] ?? e.newState}${OBSERVATION_SUFFIX[e.observedBy] ?? ` (${e.observedBy})`}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A capture's events, per connection, with polling waits (flushing the ring). */
class EventLog {
  readonly events: KernelEvent[] = [];
  capture: KernelCapture | undefined;
  readonly onEvents = (batch: KernelEvent[]) => {
    this.events.push(...batch);
  };
  /** Cookies of the connections with these ports, in order of first sight. */
  cookies(localPort: number, remotePort: number): bigint[] {
    const found = new Set<bigint>();
    for (const e of this.events) if (e.localPort === localPort && e.remotePort === remotePort) found.add(e.cookie);
    return [...found];
  }
  of(cookie: bigint | undefined): KernelEvent[] {
    return cookie === undefined ? [] : this.events.filter((e) => e.cookie === cookie);
  }
  steps(cookie: bigint | undefined): string[] {
    return this.of(cookie).map(step);
  }
  async waitFor(what: string, done: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.capture?.flush();
      if (done()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }
  /** Waits until the n-th connection with these ports ends with `last`. */
  async waitForLast(localPort: number, remotePort: number, last: string, nth = 0, timeoutMs = WAIT_MS): Promise<bigint> {
    const cookie = () => this.cookies(localPort, remotePort)[nth];
    await this.waitFor(`${localPort}->${remotePort} #${nth} to end with ${last}`, () => this.steps(cookie()).at(-1) === last, timeoutMs).catch(
      (error: Error) => {
        throw new Error(`${error.message}; saw ${JSON.stringify(this.steps(cookie()))}`);
      },
    );
    return cookie()!;
  }
}

/** A loopback server; `onSocket` decides how it closes. */
async function listen(port: number, onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return server;
}

/** Connects from a fixed local port (libuv binds it with SO_REUSEADDR), retrying while the kernel still holds the 4-tuple. */
async function connect(port: number, localPort: number, options: { allowHalfOpen?: boolean } = {}): Promise<net.Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort, allowHalfOpen: options.allowHalfOpen ?? false });
        s.once('connect', () => {
          s.removeListener('error', reject);
          s.on('error', () => {});
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRNOTAVAIL' || attempt >= 10) throw error;
      await sleep(500);
    }
  }
}

interface Sides {
  client: string[];
  server: string[];
}

interface CaseResult {
  kernel: string;
  strategy: Strategy;
  activeStrategy: string | undefined;
  case: string;
  pass: boolean;
  problems: string[];
  /** Which of the kernel's truthful paths ran, when a case has more than one. */
  variant?: string;
  /** Known capture defects recognised in this case (ids; the host decides which a kernel may show). */
  defects: string[];
  expected: Sides;
  actual: Sides;
  timings: Record<string, number>;
  strategies?: unknown;
  /** On failure: every event of the case's ports, "cookie local/remote step". */
  events?: string[];
  /** Set when a first attempt failed while the capture counted transitions lost in the kernel (see retried()). */
  retried?: string;
}

/**
 * Defect "child-syn-recv-under-listener" (seen on 6.1 and 6.12, not on the 6.18 development host): the
 * kernel reports an accepted child's LISTEN -> SYN_RECV before it copies the request's cookie and
 * ports into the child, so the capture sees that step under the listener's cookie and endpoints
 * (PORT/0) and the child's own life starts at SYN_RECV -> ESTABLISHED.
 */
const CHILD_SYN_RECV_UNDER_LISTENER = 'child-syn-recv-under-listener';

/** Compares both sides exactly; recognises the listener-cookie defect instead of calling it a mismatch. */
function compareSides(log: EventLog, serverPort: number, expected: Sides, actual: Sides, result: CaseResult): void {
  if (!same(expected.client, actual.client)) result.problems.push('client sequence differs');
  if (same(expected.server, actual.server)) return;
  const listener = log.cookies(serverPort, 0)[0];
  if (
    expected.server[0] === 'LISTEN->SYN_RECV' &&
    same(expected.server.slice(1), actual.server) &&
    log.steps(listener).includes('LISTEN->SYN_RECV')
  )
    result.defects.push(CHILD_SYN_RECV_UNDER_LISTENER);
  else result.problems.push('server sequence differs');
}

const ms = (ns: bigint) => Number(ns / 1000n) / 1000;

/** The seed's sequences, for a strategy: how TIME_WAIT's entry and exit are seen. */
function expectedSequences(hooks: boolean) {
  const enter = 'handover'; // the full socket's hand-over, in every strategy
  const exit = hooks ? 'hook' : 'sweep';
  return {
    clientClosesFirst: {
      client: ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->FIN_WAIT2', `FIN_WAIT2->TIME_WAIT (${enter})`, `TIME_WAIT->CLOSE (${exit})`],
      server: ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'],
    },
    serverClosesFirst: {
      client: ['CLOSE->SYN_SENT', 'SYN_SENT->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'],
      server: [
        'LISTEN->SYN_RECV',
        'SYN_RECV->ESTABLISHED',
        'ESTABLISHED->FIN_WAIT1',
        'FIN_WAIT1->FIN_WAIT2',
        `FIN_WAIT2->FIN_WAIT2 (${enter})`,
        `FIN_WAIT2->TIME_WAIT (${exit})`,
        `TIME_WAIT->CLOSE (${exit})`,
      ],
    },
  };
}

/** What a case saw, for the checks. */
interface CaseRun {
  expected: Sides;
  actual: Sides;
  /** The events of the connection that went through TIME_WAIT. */
  tw: KernelEvent[];
  /** The events of the connection whose SYN ended that TIME_WAIT. */
  reuser: KernelEvent[];
  variant?: string;
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Checks the TIME_WAIT exit of `tw` (a connection's events) against the connection that ended it
 * (`reuser`, the new SYN on the same 4-tuple): a hook sees it between the new connect()'s
 * CLOSE->SYN_SENT and SYN_SENT->ESTABLISHED; a sweep never before, and says how late it may be.
 */
function checkExit(tw: KernelEvent[], reuser: KernelEvent[], hooks: boolean, problems: string[], timings: Record<string, number>): void {
  const exit = tw.at(-1);
  const enter = tw.findLast((e) => e.newState === 6);
  const synSent = reuser.find((e) => e.newState === 2);
  const established = reuser.find((e) => e.oldState === 2 && e.newState === 1);
  if (!exit || !enter || exit.newState !== 7 || !synSent || !established) {
    problems.push('TIME_WAIT exit or the reusing connection not seen');
    return;
  }
  timings.timeWaitMs = ms(exit.monotonicNs - enter.monotonicNs);
  timings.exitAfterReuseSynSentMs = ms(exit.monotonicNs - synSent.monotonicNs);
  if (exit.monotonicNs < synSent.monotonicNs)
    problems.push(`TIME_WAIT exit at ${exit.monotonicNs} is before the reusing connect() (${synSent.monotonicNs})`);
  if (hooks) {
    if (exit.observedBy !== OBS_HOOK) problems.push(`TIME_WAIT exit observed by ${exit.observedBy}, not the hook`);
    if (exit.monotonicNs > established.monotonicNs)
      problems.push(`hook TIME_WAIT exit at ${exit.monotonicNs} is after the reusing connection was established (${established.monotonicNs})`);
    if (exit.timeInOldStateNs !== exit.monotonicNs - enter.monotonicNs)
      problems.push(`TIME_WAIT exit's time in state ${exit.timeInOldStateNs} is not exit - entry (${exit.monotonicNs - enter.monotonicNs})`);
  } else {
    if (exit.observedBy !== OBS_SWEEP || exit.uncertaintyNs === undefined) problems.push('sweep TIME_WAIT exit without its uncertainty');
    else {
      timings.sweepUncertaintyMs = ms(exit.uncertaintyNs);
      if (exit.monotonicNs - exit.uncertaintyNs > established.monotonicNs)
        problems.push(`sweep TIME_WAIT exit window [${exit.monotonicNs - exit.uncertaintyNs}, ${exit.monotonicNs}] misses the reuse (${synSent.monotonicNs}..${established.monotonicNs})`);
    }
  }
}

/** Client closes first; its TIME_WAIT is ended by a new connect() from the same local port. */
async function clientClosesFirst(log: EventLog, hooks: boolean, port: number, localPort: number): Promise<CaseRun> {
  const expected = expectedSequences(hooks).clientClosesFirst;
  const server = await listen(port, (s) => s.on('end', () => s.destroy())); // close() on the peer's FIN
  try {
    const first = await connect(port, localPort);
    first.end(); // shutdown(SHUT_WR): the client's FIN goes first
    const enter = expected.client[4];
    await log.waitForLast(localPort, port, enter);
    await sleep(TW_REUSE_WAIT_MS);
    const second = await connect(port, localPort); // takes over the TIME_WAIT 4-tuple
    second.end();
    const client = await log.waitForLast(localPort, port, expected.client.at(-1)!);
    const serverCookie = await log.waitForLast(port, localPort, 'LAST_ACK->CLOSE');
    await log.waitFor('the reusing connection to be established', () => log.steps(log.cookies(localPort, port)[1]).length >= 2);
    const reuser = log.of(log.cookies(localPort, port)[1]);
    return { expected, actual: { client: log.steps(client), server: log.steps(serverCookie) }, tw: log.of(client), reuser };
  } finally {
    server.close();
  }
}

/**
 * Server closes first: close() at once, so the orphan is normally handed over to a timewait
 * socket in substate FIN_WAIT2 when our ACK arrives, and the client's later FIN turns it into
 * TIME_WAIT there. Its TIME_WAIT is ended by a new SYN from the same client port.
 *
 * A kernel race can keep the orphan a full socket instead: when our ACK reaches it while
 * close() still owns it, tcp_rcv_state_process arms the FIN_WAIT2 timer rather than handing
 * over, and the hand-over happens later, straight into TIME_WAIT, at the client's FIN. Both are
 * the truth; the result names the variant that ran.
 */
async function serverClosesFirst(log: EventLog, hooks: boolean, port: number, localPort: number): Promise<CaseRun> {
  const expected = expectedSequences(hooks).serverClosesFirst;
  const server = await listen(port, (s) => s.destroy());
  try {
    const held = await connect(port, localPort, { allowHalfOpen: true });
    const serverSteps = () => log.steps(log.cookies(port, localPort)[0]);
    await log.waitFor('the server to reach FIN_WAIT2', () => serverSteps().includes('FIN_WAIT1->FIN_WAIT2'));
    const handedOver = await log
      .waitFor('the FIN_WAIT2 hand-over', () => serverSteps().includes(expected.server[4]), 2000)
      .then(() => true, () => false);
    let variant: string | undefined;
    if (!handedOver) {
      variant = 'orphan kept in FIN_WAIT2 until the FIN';
      expected.server.splice(4, 2, expected.server[4].replace('FIN_WAIT2->FIN_WAIT2', 'FIN_WAIT2->TIME_WAIT'));
    }
    held.destroy(); // now the client's FIN reaches the server
    await log.waitForLast(port, localPort, expected.server.at(-2)!);
    const client = await log.waitForLast(localPort, port, 'LAST_ACK->CLOSE');
    const reuse = await connect(port, localPort); // its SYN ends the server's TIME_WAIT
    reuse.on('end', () => reuse.destroy());
    const serverCookie = await log.waitForLast(port, localPort, expected.server.at(-1)!);
    await log.waitFor('the reusing connection to be established', () => log.steps(log.cookies(localPort, port)[1]).length >= 2);
    const reuser = log.of(log.cookies(localPort, port)[1]);
    return { expected, actual: { client: log.steps(client), server: log.steps(serverCookie) }, tw: log.of(serverCookie), reuser, variant };
  } finally {
    server.close();
  }
}

const kernel = release();

/** For a failure report: the events with this port at either end, in order. */
function eventsOfPort(log: EventLog, port: number): string[] {
  return log.events
    .filter((e) => e.localPort === port || e.remotePort === port)
    .map((e) => `${e.cookie} ${e.localPort}/${e.remotePort} ${step(e)} +${e.monotonicNs}`);
}

function report(result: CaseResult): void {
  console.log(`KM-RESULT ${JSON.stringify(result)}`);
}

function openCapture(strategy: Strategy, ports: number[], log: EventLog): { capture?: KernelCapture; problem?: string } {
  try {
    const capture = KernelCapture.open({ ports, timeWaitStrategy: strategy, sweepIntervalMs: SWEEP_MS, maxLatencyMs: 20 }, log.onEvents);
    log.capture = capture;
    if (capture.timeWaitStrategy !== EXPECTED_ACTIVE[strategy])
      return {
        capture,
        problem: `${strategy} ran ${capture.timeWaitStrategy}, not ${EXPECTED_ACTIVE[strategy]}: ${capture.strategies
          .filter((s) => s.refusedReason)
          .map((s) => s.refusedReason)
          .join('; ')}`,
      };
    return { capture };
  } catch (error) {
    const e = error as { message: string; details?: string };
    return { problem: `KernelCapture.open failed: ${e.message}${e.details ? ` | ${e.details.slice(-3000)}` : ''}` };
  }
}

function newResult(strategy: Strategy, name: string, capture: KernelCapture | undefined, problem: string | undefined): CaseResult {
  return {
    kernel,
    strategy,
    activeStrategy: capture?.timeWaitStrategy,
    case: name,
    pass: false,
    problems: problem ? [problem] : [],
    defects: [],
    expected: { client: [], server: [] },
    actual: { client: [], server: [] },
    timings: {},
    strategies: capture?.strategies,
  };
}

function finish(result: CaseResult, started: number): boolean {
  result.timings.caseMs = Date.now() - started;
  result.pass = result.problems.length === 0;
  report(result);
  return result.pass;
}

/** Closes a capture, saying how long close() held the event loop (detaching links waits for the kernel). */
function closeTimed(capture: KernelCapture | undefined, what: string): void {
  if (!capture) return;
  const started = process.hrtime.bigint();
  capture.close();
  console.log(`KM-GUEST ${what}: close() took ${ms(process.hrtime.bigint() - started)} ms`);
}

/** Ports a case's second attempt uses: its own plus this. */
const RETRY_PORT_OFFSET = 50;

/**
 * A case, and once more on other ports when it failed while the capture counted transitions lost in
 * the kernel: a program run the kernel skipped (nested on a CPU: a softirq transition arriving while
 * the same program ran in process context) or a full ring. Such a loss is reported by the agent as a
 * KERNEL gap and says nothing of the strategy under test. A failure without a counted loss stands, and
 * so does a second failure.
 */
async function retried(capture: KernelCapture | undefined, attempt: (retry: boolean) => Promise<CaseResult>): Promise<CaseResult> {
  const before = capture?.kernelDrops() ?? 0n;
  const first = await attempt(false);
  const lost = (capture?.kernelDrops() ?? 0n) - before;
  if (first.problems.length === 0 || lost === 0n) return first;
  console.log(`KM-GUEST ${first.strategy} / ${first.case}: ${lost} transitions counted lost in the kernel during a failed attempt; once more`);
  const second = await attempt(true);
  second.retried = `first attempt: ${lost} transitions lost in the kernel (counted), ${first.problems.join('; ')}`;
  return second;
}

/** One strategy: both cases in sequence, each with its own ports; TIME_WAIT ended early by reuse. */
async function runStrategy(strategy: Strategy, index: number): Promise<boolean> {
  const hooks = strategy !== 'sweep';
  const ports = { ccf: 7000 + 10 * index, scf: 7001 + 10 * index };
  const localPorts = { ccf: 41000 + 10 * index, scf: 41001 + 10 * index };
  const log = new EventLog();
  const r = RETRY_PORT_OFFSET;
  const { capture, problem } = openCapture(strategy, [ports.ccf, ports.scf, ports.ccf + r, ports.scf + r], log);
  const cases: [string, number, number, typeof clientClosesFirst][] = [
    ['client-closes-first', ports.ccf, localPorts.ccf, clientClosesFirst],
    ['server-closes-first', ports.scf, localPorts.scf, serverClosesFirst],
  ];
  let allPassed = true;
  for (const [name, port, localPort, run] of cases) {
    const started = Date.now();
    const result = await retried(capture, async (retry) => {
      const result = newResult(strategy, name, capture, problem);
      const [p, lp] = retry ? [port + r, localPort + r] : [port, localPort];
      if (capture && !problem) {
        try {
          const seen = await run(log, hooks, p, lp);
          result.expected = seen.expected;
          result.actual = seen.actual;
          result.variant = seen.variant;
          compareSides(log, p, seen.expected, seen.actual, result);
          checkExit(seen.tw, seen.reuser, hooks, result.problems, result.timings);
        } catch (error) {
          result.problems.push((error as Error).message);
        }
        if (result.problems.length) result.events = eventsOfPort(log, p);
      }
      return result;
    });
    allPassed = finish(result, started) && allPassed;
  }
  if (capture && capture.kernelDrops() !== 0n) console.log(`KM-GUEST ${strategy}: ${capture.kernelDrops()} records dropped`);
  closeTimed(capture, strategy);
  return allPassed;
}

/** Client closes first and TIME_WAIT runs out on the kernel's own 60 s timer (no reuse). */
async function realTimer(strategy: Strategy, index: number): Promise<boolean> {
  const started = Date.now();
  const hooks = strategy !== 'sweep';
  const port = 7100 + index;
  const localPort = 41100 + index;
  const log = new EventLog();
  const { capture, problem } = openCapture(strategy, [port, port + RETRY_PORT_OFFSET], log);
  const result = await retried(capture, (retry) =>
    realTimerAttempt(log, capture, problem, strategy, hooks, retry ? port + RETRY_PORT_OFFSET : port, retry ? localPort + RETRY_PORT_OFFSET : localPort),
  );
  const passed = finish(result, started);
  closeTimed(capture, `${strategy} (real timer)`);
  return passed;
}

async function realTimerAttempt(
  log: EventLog,
  capture: KernelCapture | undefined,
  problem: string | undefined,
  strategy: Strategy,
  hooks: boolean,
  port: number,
  localPort: number,
): Promise<CaseResult> {
  const expected = expectedSequences(hooks).clientClosesFirst;
  const result = newResult(strategy, 'client-closes-first, real 60 s timer', capture, problem);
  result.expected = expected;
  if (capture && !problem) {
    const server = await listen(port, (s) => s.on('end', () => s.destroy()));
    try {
      const c = await connect(port, localPort);
      c.end();
      const serverCookie = await log.waitForLast(port, localPort, 'LAST_ACK->CLOSE');
      const client = await log.waitForLast(localPort, port, expected.client.at(-1)!, 0, 90_000);
      result.actual = { client: log.steps(client), server: log.steps(serverCookie) };
      compareSides(log, port, expected, result.actual, result);
      const events = log.of(client);
      const exit = events.at(-1)!;
      const enter = events.findLast((e) => e.newState === 6)!;
      const lasted = exit.monotonicNs - enter.monotonicNs;
      result.timings.timeWaitMs = ms(lasted);
      // The timer is armed just before the hand-over is reported: a few µs may separate them.
      if (lasted < TIMEWAIT_LEN_NS - 1_000_000n) result.problems.push(`TIME_WAIT ended after ${ms(lasted)} ms, before the kernel's 60 s timer`);
      if (hooks) {
        if (lasted > TIMEWAIT_LEN_NS + TIMEWAIT_TIMER_SLACK_NS) result.problems.push(`TIME_WAIT lasted ${ms(lasted)} ms, not the kernel's 60 s timer`);
        if (exit.timeInOldStateNs !== lasted) result.problems.push(`exit's time in state ${exit.timeInOldStateNs} is not ${lasted}`);
      } else if (exit.uncertaintyNs === undefined || lasted - exit.uncertaintyNs > TIMEWAIT_LEN_NS + TIMEWAIT_TIMER_SLACK_NS) {
        result.problems.push(`the sweep's window for the TIME_WAIT exit (${ms(lasted)} ms, uncertainty ${exit.uncertaintyNs}) misses the 60 s timer`);
      } else result.timings.sweepUncertaintyMs = ms(exit.uncertaintyNs);
    } catch (error) {
      result.problems.push((error as Error).message);
    } finally {
      server.close();
    }
    if (result.problems.length) result.events = eventsOfPort(log, port);
  }
  return result;
}

const STRATEGIES: readonly Strategy[] = ['auto', 'kprobe', 'timer', 'sweep'];

async function main(): Promise<void> {
  // Everything, even a hung wait, ends well before the host's limit.
  setTimeout(() => {
    console.log('KM-GUEST runner deadline passed');
    process.exit(2);
  }, 170_000).unref();
  // The 60 s timer cases run beside the others; km_quick=1 on the kernel command line leaves them out (debugging).
  const timers = process.env.km_quick ? [] : STRATEGIES.map((strategy, i) => realTimer(strategy, i));
  const results: boolean[] = [];
  for (const [i, strategy] of STRATEGIES.entries()) results.push(await runStrategy(strategy, i));
  results.push(...(await Promise.all(timers)));
  process.exit(results.every(Boolean) ? 0 : 1);
}

await main();
