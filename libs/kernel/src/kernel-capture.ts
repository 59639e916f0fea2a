import { wallClockOffsetNs } from './clock.js';
import { packEndpoints, parseServerEndpoint } from './endpoint.js';
import { KernelCaptureError, type KernelCaptureErrorCode } from './kernel-capture-error.js';
import { DEFAULT_OBJECT_PATH, loadAddon, type NativeAddon, type NativeCapture } from './native.js';
import { checkEnvironment } from './preflight.js';
import { decodeRecord, decodeRecords, RECORD_SIZE, RecordFlag, RecordKind, type RawRecord } from './record.js';
import { climbDownLadder, TIME_WAIT_LADDER, type StrategyReport, type TimeWaitStrategy } from './strategy-ladder.js';

/** What to capture and how. Every field is optional: the default is every TCP socket of the host. */
export interface CaptureOptions {
  /** "IP:PORT" / "[v6]:PORT": only connections to or from these servers; 0.0.0.0 / [::] match any local address. Also decides side. */
  serverEndpoints?: string[];
  /** Only connections with one of these ports at either end. */
  ports?: number[];
  /** Only sockets in these network namespaces (inode numbers, as in /proc/PID/ns/net). */
  netns?: number[];
  /** How often the iter/tcp sweep follows TIME_WAIT when no hook is available (default 1000). */
  sweepIntervalMs?: number;
  /** Ring buffer size, a power of two of at least a page (default 8 MiB). */
  ringBufferBytes?: number;
  /** Longest time a record waits in a quiet ring before delivery (default 50). */
  maxLatencyMs?: number;
  /** 'auto' = the best the kernel allows; naming one starts the ladder there (tests go down it). */
  timeWaitStrategy?: 'auto' | TimeWaitStrategy;
  /** The compiled BPF object (default: the one built beside this library). */
  objectPath?: string;
  /**
   * openRecords: how many of the newest records the consumer keeps referring to
   * (its replay window, default 0): records stay valid until this many newer ones came.
   */
  keepRecords?: number;
}

/** One transition, decoded, in the connection's logical-life form. */
export interface KernelEvent {
  /** Kernel CLOCK_MONOTONIC ns when it was observed. */
  monotonicNs: bigint;
  /** Socket cookie: the connection's identity for this boot (the TIME_WAIT phase keeps it). */
  cookie: bigint;
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel numbering (= proto TcpState values). */
  oldState: number;
  newState: number;
  /** = proto Side: 0 unknown, 1 client, 2 server. */
  side: 0 | 1 | 2;
  /** Known when the connection was followed since it entered the old state. */
  timeInOldStateNs?: bigint;
  pid: number;
  comm: string;
  cgroupId: bigint;
  netns: number;
  /** = proto Observation: TRACEPOINT=1, HANDOVER=2, TIMEWAIT_HOOK=3, SWEEP=4. */
  observedBy: number;
  /** The transition happened at most this long before monotonicNs: sweeps, and a timer-strategy step found late. */
  uncertaintyNs?: bigint;
  /** X -> CLOSE of an aborted connection (reset or socket error). */
  abort: boolean;
}

/** A socket as it is now (an iter/tcp listing). */
export interface SocketNow {
  cookie: bigint;
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel numbering; a timewait socket gives its substate (FIN_WAIT2 or TIME_WAIT). */
  state: number;
  side: 0 | 1 | 2;
  /** Monotonic ns when it entered `state`, when followed since then. */
  stateSinceNs?: bigint;
  pid: number;
  comm: string;
  netns: number;
  cgroupId: bigint;
}

/** Replaceable parts, for tests that run without a kernel. */
export interface CaptureInternals {
  addon?: NativeAddon;
  preflight?: (objectPath: string) => void;
}

/**
 * A batch of records as the ring buffer gave them, for a consumer that
 * decodes them itself (RECORD_LAYOUT, RECORD_SIZE): no object per record.
 */
export interface RecordBatch {
  /**
   * The records, back to back, RECORD_SIZE bytes each: a view into the
   * capture's records array, which the addon fills in laps. A record stays
   * as it is until `keepRecords` newer records have come.
   */
  view: DataView;
  count: number;
  /** Add to a record's ktime_ns to get wall-clock ns since the epoch. */
  wallClockOffsetNs: bigint;
}

/** Per batch: the wall clock offset sampled once for the whole batch. */
export interface BatchClock {
  /** Add to monotonicNs to get wall-clock ns since the epoch. */
  wallClockOffsetNs: bigint;
}

const OBS_SWEEP = 4;
const DEFAULT_RING_BYTES = 8 << 20;

function toEvent(r: RawRecord): KernelEvent {
  return {
    monotonicNs: r.ktimeNs,
    cookie: r.cookie,
    family: r.family,
    localAddress: r.localAddress,
    localPort: r.localPort,
    remoteAddress: r.remoteAddress,
    remotePort: r.remotePort,
    oldState: r.oldState,
    newState: r.newState,
    side: r.side,
    timeInOldStateNs: r.flags & RecordFlag.TIME_IN_OLD_STATE ? r.timeInOldStateNs : undefined,
    pid: r.pid,
    comm: r.comm,
    cgroupId: r.cgroupId,
    netns: r.netns,
    observedBy: r.observedBy,
    // A sweep's observation always says how late it may be; another only when its time is not exact.
    uncertaintyNs: r.observedBy === OBS_SWEEP || r.uncertaintyNs > 0n ? r.uncertaintyNs : undefined,
    abort: (r.flags & RecordFlag.ABORT) !== 0,
  };
}

/**
 * Moves the TRANSITION records of `bytes` to its front, in order, and
 * returns how many there are. The ring carries nothing else today; this
 * keeps openRecords' promise if it ever does.
 */
function toSocket(r: RawRecord): SocketNow {
  return {
    cookie: r.cookie,
    family: r.family,
    localAddress: r.localAddress,
    localPort: r.localPort,
    remoteAddress: r.remoteAddress,
    remotePort: r.remotePort,
    state: r.newState,
    side: r.side,
    stateSinceNs: r.flags & RecordFlag.TIME_IN_OLD_STATE ? r.ktimeNs - r.timeInOldStateNs : undefined,
    pid: r.pid,
    comm: r.comm,
    netns: r.netns,
    cgroupId: r.cgroupId,
  };
}

function badOption(message: string): KernelCaptureError {
  return new KernelCaptureError('BAD_OPTION', message);
}

function integerIn(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max)
    throw badOption(`Option ${name} must be an integer from ${min} to ${max}, not ${String(value)}.`);
  return value;
}

/** Options checked and put in the addon's positional form. */
interface NativeOptions {
  objectPath: string;
  endpoints: Uint8Array;
  ports: Uint16Array;
  netns: Uint32Array;
  ringBytes: number;
  wakeupBytes: number;
  maxLatencyMs: number;
  sweepIntervalMs: number;
  requested: 'auto' | TimeWaitStrategy;
  /** Capacity of the records array, in records. */
  recordsCapacity: number;
}

/** Most records the addon delivers in one batch (native/capture.cc kMaxBatchRecords). */
const MAX_BATCH_RECORDS = 16384;

/** Validates and normalizes options; throws KernelCaptureError with one sentence. */
export function normalizeOptions(options: CaptureOptions): NativeOptions {
  const endpoints = (options.serverEndpoints ?? []).map(parseServerEndpoint);
  const ports = (options.ports ?? []).map((p) => integerIn('ports', p, 0, 1, 65535));
  const netns = (options.netns ?? []).map((n) => integerIn('netns', n, 0, 1, 0xffffffff));
  const ringBytes = integerIn('ringBufferBytes', options.ringBufferBytes, DEFAULT_RING_BYTES, 4096, 1 << 30);
  if (ringBytes & (ringBytes - 1)) throw badOption(`Option ringBufferBytes must be a power of two, not ${ringBytes}.`);
  const requested = options.timeWaitStrategy ?? 'auto';
  if (!['auto', ...TIME_WAIT_LADDER].includes(requested))
    throw badOption(`Option timeWaitStrategy must be auto, ${TIME_WAIT_LADDER.join(', ')}, not ${String(requested)}.`);
  return {
    objectPath: options.objectPath ?? DEFAULT_OBJECT_PATH,
    endpoints: packEndpoints(endpoints),
    ports: Uint16Array.from(ports),
    netns: Uint32Array.from(netns),
    ringBytes,
    // Wake the reader once an eighth of the ring is waiting; the latency timer covers quiet periods.
    wakeupBytes: ringBytes / 8,
    maxLatencyMs: integerIn('maxLatencyMs', options.maxLatencyMs, 50, 1, 60000),
    sweepIntervalMs: integerIn('sweepIntervalMs', options.sweepIntervalMs, 1000, 10, 3600000),
    requested,
    // The kept records, the batch being written, and one more batch of slack.
    recordsCapacity: integerIn('keepRecords', options.keepRecords, 0, 0, 10_000_000) + 2 * MAX_BATCH_RECORDS,
  };
}

const NATIVE_CODES: Record<string, KernelCaptureErrorCode> = {
  PERMISSION: 'NOT_PERMITTED',
  NO_BTF: 'NO_BTF',
  KERNEL_TOO_OLD: 'KERNEL_TOO_OLD',
  OBJECT_MISSING: 'OBJECT_MISSING',
  OBJECT_INVALID: 'OBJECT_INVALID',
  ATTACH_FAILED: 'ATTACH_FAILED',
  CLOSED: 'CLOSED',
  SNAPSHOT_FAILED: 'SNAPSHOT_FAILED',
};

/** Turns an addon error into a KernelCaptureError (one sentence, the kernel's log in details). */
export function fromNativeError(error: unknown): KernelCaptureError {
  if (error instanceof KernelCaptureError) return error;
  const e = error as { code?: string; message?: string; details?: string };
  // EACCES from a load that the capability preflight let through is the
  // verifier rejecting a program, not a missing privilege: say so, with the
  // verifier's own reason (the last line of its log).
  if (e.code === 'PERMISSION' && /\(errno 13\)/.test(e.message ?? '')) {
    const reason = verifierReason(e.details);
    return new KernelCaptureError(
      'LOAD_FAILED',
      `The kernel's verifier rejected the eBPF programs${reason ? ` (${reason})` : ''}: this kernel differs from those tcpstate is tested on, see docs/kernel.md.`,
      e.details,
    );
  }
  const code = NATIVE_CODES[e.code ?? ''] ?? 'LOAD_FAILED';
  const message =
    code === 'NOT_PERMITTED'
      ? `The kernel refused the eBPF programs (${e.message ?? 'permission denied'}): run the agent as root or with CAP_BPF and CAP_PERFMON.`
      : `${e.message ?? String(error)}.`;
  return new KernelCaptureError(code, message, e.details);
}

/** The verifier's verdict in a libbpf log: its last line that is not a processed-instructions summary. */
function verifierReason(log: string | undefined): string | undefined {
  const lines = (log ?? '').split('\n').map((l) => l.trim()).filter((l) => l && !/^(processed|verification time|stack depth|-- END|libbpf:)/.test(l));
  return lines.at(-1)?.slice(0, 200);
}

/**
 * The kernel capture: loads bpf/tcpstate.bpf.o, attaches it, and calls
 * `onEvents` with batches of transitions until close(). While open it keeps
 * the process alive, like a server.
 */
export class KernelCapture {
  /** Which strategy observes each concern, and why better ones were refused. */
  readonly strategies: StrategyReport[];
  /** The TIME_WAIT strategy that runs. */
  readonly timeWaitStrategy: TimeWaitStrategy;
  private closed = false;

  private constructor(
    private readonly native: NativeCapture,
    timeWaitStrategy: TimeWaitStrategy,
    strategies: StrategyReport[],
  ) {
    this.timeWaitStrategy = timeWaitStrategy;
    this.strategies = strategies;
  }

  /** Opens the capture; throws KernelCaptureError with one clear sentence when it cannot. */
  static open(
    options: CaptureOptions,
    onEvents: (batch: KernelEvent[], clock: BatchClock) => void,
    internals: CaptureInternals = {},
  ): KernelCapture {
    if (typeof onEvents !== 'function') throw badOption('onEvents must be a function.');
    return KernelCapture.start(
      options,
      // The addon copies only TRANSITION records into the records array.
      (view, count) => {
        const events = new Array<KernelEvent>(count);
        for (let i = 0; i < count; i++) events[i] = toEvent(decodeRecord(view, i * RECORD_SIZE));
        if (count > 0) onEvents(events, { wallClockOffsetNs: wallClockOffsetNs() });
      },
      internals,
    );
  }

  /**
   * Opens the capture like open(), handing over each batch undecoded: the
   * agent's path, which turns records into bytes without objects between.
   * Every record in a batch is a TRANSITION.
   */
  static openRecords(
    options: CaptureOptions,
    onRecords: (batch: RecordBatch) => void,
    internals: CaptureInternals = {},
  ): KernelCapture {
    if (typeof onRecords !== 'function') throw badOption('onRecords must be a function.');
    return KernelCapture.start(
      options,
      (view, count) => {
        if (count > 0) onRecords({ view, count, wallClockOffsetNs: wallClockOffsetNs() });
      },
      internals,
    );
  }

  private static start(options: CaptureOptions, onBatch: (view: DataView, count: number) => void, internals: CaptureInternals): KernelCapture {
    const o = normalizeOptions(options);
    // Allocated once: the addon copies each transition record into it (the only
    // copy) and names each batch by its first record and count.
    const records = new ArrayBuffer(o.recordsCapacity * RECORD_SIZE);
    const deliver = (first: number, count: number) => onBatch(new DataView(records, first * RECORD_SIZE, count * RECORD_SIZE), count);
    (internals.preflight ?? checkEnvironment)(o.objectPath);
    const native = internals.addon ?? loadAddon();
    const { opened, strategy, reports } = climbDownLadder<NativeCapture>(o.requested, (strategy) => {
      const refused = native.probeStrategy(strategy);
      if (refused) return { refused };
      try {
        const capture = new native.NativeCapture(
          o.objectPath,
          strategy,
          o.endpoints,
          o.ports,
          o.netns,
          o.ringBytes,
          o.wakeupBytes,
          o.maxLatencyMs,
          o.sweepIntervalMs,
          records,
          deliver,
        );
        return { opened: capture };
      } catch (error) {
        const converted = fromNativeError(error);
        // A hook strategy the probe let through but the kernel refused at load or attach: next rung.
        if (strategy !== 'sweep' && (converted.code === 'LOAD_FAILED' || converted.code === 'ATTACH_FAILED'))
          return { refused: converted.message };
        throw converted;
      }
    });
    const state: StrategyReport = { concern: 'state', name: 'tp_btf/inet_sock_set_state', active: true };
    return new KernelCapture(opened, strategy, [state, ...reports]);
  }

  /** Transitions lost in the kernel so far: ring buffer full, or a program run skipped (recursion_misses). */
  kernelDrops(): bigint {
    return this.closed ? 0n : this.native.drops();
  }

  /** Every TCP socket now (an iter/tcp sweep), listeners and TIME_WAIT included, filtered like the capture. */
  listSockets(): SocketNow[] {
    if (this.closed) throw new KernelCaptureError('CLOSED', 'The kernel capture is closed.');
    try {
      return decodeRecords(this.native.snapshot())
        .filter((r) => r.kind === RecordKind.SOCKET)
        .map(toSocket);
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  /** Runs a TIME_WAIT sweep now (sweep strategy) and delivers what waits in the ring. */
  sweepNow(): void {
    if (!this.closed) this.native.sweep();
  }

  /** Delivers whatever waits in the ring buffer now, before the latency timer would. */
  flush(): void {
    if (!this.closed) this.native.flush();
  }

  /** Detaches every program and frees the ring; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
