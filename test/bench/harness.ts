// What the capture and streaming benchmarks share: hosts in private network
// namespaces, the project's load generator, an independent kernel count
// (bpftrace), the agent as a process, its GetStatus, and per-process CPU and
// memory read from /proc.
//
// Node runs these files by stripping types: erasable TypeScript only (no
// enums, no parameter properties), and local imports name the .ts file.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import type { SubscriberReport } from './subscriber-process.ts';
import { type GetStatusResponse, GetStatusRequestSchema, GetStatusResponseSchema, TcpState } from '@tcpstate/proto';
import { createNetwork, loadgenScript, type NetnsHost, nodeBin, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';

/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux x86). */
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Fails with "`what` took more than `ms` ms" when `promise` has not settled by
 * then: every wait on another process is bounded, so a stuck one ends the run
 * loudly (and its cleanup runs) instead of hanging it.
 */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Fails loudly when the benchmark cannot run here (never a silent skip). */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('The benchmark loads eBPF programs and makes network namespaces: run it as root.');
}

// ---------------------------------------------------------------- hosts

/** Where the load runs: loopback inside one namespace, or two namespaces joined by veth through a bridge. */
export type NetworkPath = 'lo' | 'veth';

/** A private network for one run: nginx on `server`, the load generator in `client`. */
export interface BenchNetwork {
  server: NetnsHost;
  client: NetnsHost;
  /** The address the client connects to. */
  target: string;
  /** Inodes of the namespaces the run's connections live in (agent --netns, bpftrace filter). */
  netns: number[];
  destroy(): Promise<void>;
}

/**
 * Builds fresh namespaces for one run, so that TIME_WAIT sockets of earlier
 * runs (60 s on Linux) do not weigh on this one (they die with their
 * namespace), and starts nginx on `ports`.
 */
export async function makeBenchNetwork(path: NetworkPath, tag: string, subnet: number, ports: number[]): Promise<BenchNetwork> {
  const network = createNetwork(tag, subnet, path === 'lo' ? 1 : 2);
  try {
    const server = network.hosts[0];
    const client = path === 'lo' ? server : network.hosts[1];
    // Ephemeral ports come back 1 s after TIME_WAIT (tcp_tw_reuse=1) and the
    // range is wide: at thousands of connections per second the default
    // 28 232 ports would run out within seconds.
    client.exec('sysctl', ['-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65000']);
    const nginx = await startNginx(server, [{ listen: ports.map(String) }]);
    const netns = [...new Set([server.inode, client.inode])];
    return {
      server,
      client,
      target: path === 'lo' ? '127.0.0.1' : server.ipv4,
      netns,
      async destroy() {
        await nginx.stop();
        network.destroy();
      },
    };
  } catch (err) {
    network.destroy();
    throw err;
  }
}

/** What the project's load generator prints. */
export interface LoadResult {
  connections: number;
  errors: number;
  seconds: number;
  rate: number;
}

/** Runs libs/testbed's load generator (connect + close loop) in `host` until it ends. */
export async function runLoadgen(
  host: NetnsHost,
  target: string,
  port: number,
  options: { seconds: number; concurrency: number; rate?: number },
): Promise<LoadResult> {
  const args = [loadgenScript, target, String(port), '--seconds', String(options.seconds), '--concurrency', String(options.concurrency)];
  if (options.rate) args.push('--rate', String(options.rate));
  const out = await within((options.seconds + 60) * 1000, 'the load generator', host.run(nodeBin, args));
  return JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
}

const multiPortLoadgenScript = new URL('./multi-port-loadgen.ts', import.meta.url).pathname;

/** Runs multi-port-loadgen.ts (the same loop, round robin over ports first..last) in `host` until it ends. */
export async function runMultiPortLoadgen(
  host: NetnsHost,
  target: string,
  ports: { first: number; last: number },
  options: { seconds: number; concurrency: number; rate?: number },
): Promise<LoadResult> {
  const args = [multiPortLoadgenScript, target, `${ports.first}-${ports.last}`, '--seconds', String(options.seconds), '--concurrency', String(options.concurrency)];
  if (options.rate) args.push('--rate', String(options.rate));
  const out = await within((options.seconds + 60) * 1000, 'the load generator', host.run(nodeBin, args));
  return JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
}

// ---------------------------------------------------------------- kernel count

/** Tracepoint firings: the total and, when counted by pair, per "old->new" (kernel numbering). */
export interface KernelCount {
  total: number;
  pairs: Map<string, number>;
}

/** An independent count of `sock:inet_sock_set_state` firings, by bpftrace. */
export interface KernelCounter {
  pid: number;
  /** Stops bpftrace (once) and returns what it counted; `probe` only with a probePort. */
  stop(): Promise<{ all: KernelCount; probe?: KernelCount }>;
}

/**
 * Starts bpftrace counting the tracepoint. Without options it runs the
 * count-only one-liner of the issue unchanged (every socket of the machine).
 * With `netns`, it counts only sockets of those namespaces, by (old, new)
 * pair, and with `probePort` also, apart, those with that port at either end.
 *
 * bpftrace reads the tracepoint's format from tracefs, which this machine does
 * not mount: it gets its own mount namespace with tracefs mounted inside, so
 * nothing changes for the rest of the machine.
 */
export async function startKernelCounter(options: { netns?: number[]; probePort?: number } = {}): Promise<KernelCounter> {
  const { netns, probePort } = options;
  const probe = probePort ? ` if (args->sport == ${probePort} || args->dport == ${probePort}) { @probe[args->oldstate, args->newstate] = count(); }` : '';
  const program = netns
    ? `tracepoint:sock:inet_sock_set_state { $ns = ((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum; ` +
      `if (${netns.map((n) => `$ns == ${n}`).join(' || ')}) { @all[args->oldstate, args->newstate] = count();${probe} } }`
    : 'tracepoint:sock:inet_sock_set_state { @ = count(); }';
  const child = spawn('unshare', ['-m', 'sh', '-c', 'mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace -e "$0"', program], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await waitFor(() => out.includes('Attaching'), 20_000, () => `bpftrace did not attach:\n${out}`, child);
  // "Attaching" is printed before the attach itself completes.
  await sleep(500);
  let stopped: Promise<{ all: KernelCount; probe?: KernelCount }> | undefined;
  return {
    pid: child.pid!,
    stop() {
      stopped ??= finish();
      return stopped;
    },
  };
  async function finish(): Promise<{ all: KernelCount; probe?: KernelCount }> {
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const [code] = await within(15_000, 'bpftrace stopping', exited).catch((err) => {
      child.kill('SIGKILL');
      throw err;
    });
    if (code !== 0) throw new Error(`bpftrace ended with ${code}:\n${out}`);
    const maps = new Map<string, KernelCount>([
      ['all', { total: 0, pairs: new Map() }],
      ['probe', { total: 0, pairs: new Map() }],
    ]);
    // "@: 123" (count-only), "@all[1, 4]: 123", "@probe[7, 2]: 12"
    for (const m of out.matchAll(/^@(all|probe)?(?:\[(\d+), (\d+)\])?: (\d+)$/gm)) {
      const count = maps.get(m[1] ?? 'all')!;
      count.total += Number(m[4]);
      if (m[2] !== undefined) count.pairs.set(`${m[2]}->${m[3]}`, Number(m[4]));
    }
    return { all: maps.get('all')!, probe: probePort ? maps.get('probe') : undefined };
  }
}

const { CLOSE, TIME_WAIT, FIN_WAIT2 } = TcpState;

/** The agent's records against the kernel's firings, see reconcile(). */
export interface Reconciliation {
  kernelFired: number;
  agentCaptured: number;
  /** TIME_WAIT -> CLOSE records (the timewait timer's or the sweep's): no tracepoint fires for them. */
  sweepExits: number;
  /** Kernel firings with no agent record: exact when `upTo` is 0, else between missing and missing + upTo. */
  missing: number;
  upTo: number;
  /** Pairs reported as the tracepoint gives them whose counts differ: "old->new: kernel K, agent A". */
  differing: string[];
  /** Both sides by pair, for the record. */
  kernelPairs: Record<string, number>;
  agentPairs: Record<string, number>;
}

/**
 * Compares the agent's records by pair with the kernel's firings by pair.
 * Every firing is one record, reported as the tracepoint gives it except the
 * hand-over (the kernel's X -> CLOSE at the end of tcp_time_wait, reported
 * X -> TIME_WAIT, or FIN_WAIT2 -> FIN_WAIT2 for a timewait socket in substate
 * FIN_WAIT2). The TIME_WAIT strategy adds records with no firing: TIME_WAIT -> CLOSE, and
 * FIN_WAIT2 -> TIME_WAIT after a FIN_WAIT2 hand-over (these are the `upTo`
 * uncertainty, at most the FIN_WAIT2 -> FIN_WAIT2 count).
 */
export function reconcile(kernel: KernelCount, agent: Map<string, number>): Reconciliation {
  const pairOf = (key: string) => key.split('->').map(Number) as [number, number];
  const aside = (key: string) => {
    const [o, n] = pairOf(key);
    return n === CLOSE || n === TIME_WAIT || o === TIME_WAIT || (o === FIN_WAIT2 && n === FIN_WAIT2);
  };
  const keys = new Set([...kernel.pairs.keys(), ...agent.keys()]);
  const differing = [...keys]
    .filter((k) => !aside(k) && (kernel.pairs.get(k) ?? 0) !== (agent.get(k) ?? 0))
    .map((k) => `${k}: kernel ${kernel.pairs.get(k) ?? 0}, agent ${agent.get(k) ?? 0}`);
  const agentCaptured = [...agent.values()].reduce((a, b) => a + b, 0);
  const sweepExits = agent.get(`${TIME_WAIT}->${CLOSE}`) ?? 0;
  return {
    kernelFired: kernel.total,
    agentCaptured,
    sweepExits,
    missing: kernel.total - (agentCaptured - sweepExits),
    upTo: agent.get(`${FIN_WAIT2}->${FIN_WAIT2}`) ?? 0,
    differing,
    kernelPairs: Object.fromEntries(kernel.pairs),
    agentPairs: Object.fromEntries(agent),
  };
}

// ---------------------------------------------------------------- agent

/** The agent as a process, and the few RPCs a benchmark needs. */
export interface BenchAgent {
  program: RunningProgram;
  pid: number;
  status(): Promise<GetStatusResponse>;
  /** events_captured once it stays unchanged for quietMs (records still in the ring are counted). */
  settledEventsCaptured(quietMs?: number): Promise<number>;
  /** Transitions captured by "old->new" (kernel numbering), from /metrics. */
  transitionCounts(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/**
 * Starts apps/agent/dist/main.js restricted to `netns` (so other traffic on
 * the machine is not counted). `inspect` opens the V8 inspector for
 * profileCpu(); --cpu-prof cannot be used: its SIGPROF every millisecond
 * interrupts the BPF verifier, which then refuses the load with EAGAIN.
 */
export async function startAgent(netns: number[], options: { inspect?: boolean; args?: string[] } = {}): Promise<BenchAgent> {
  const saved = process.env.NODE_OPTIONS;
  if (options.inspect) process.env.NODE_OPTIONS = `${saved ?? ''} --inspect=127.0.0.1:0`.trim();
  let program: RunningProgram;
  try {
    program = await startProgram('agent', [...netns.flatMap((n) => ['--netns', String(n)]), ...(options.args ?? [])]);
  } finally {
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
  }
  const client = new grpc.Client(program.grpcAddress, grpc.credentials.createInsecure());
  const status = () =>
    new Promise<GetStatusResponse>((resolve, reject) =>
      client.makeUnaryRequest(
        '/tcpstate.v1.AgentService/GetStatus',
        (r: Uint8Array) => Buffer.from(r),
        (b: Buffer) => fromBinary(GetStatusResponseSchema, b),
        toBinary(GetStatusRequestSchema, create(GetStatusRequestSchema)),
        new grpc.Metadata(),
        { deadline: Date.now() + 15_000 },
        (err, value) => (err ? reject(new Error(`GetStatus: ${err.message}`)) : resolve(value!)),
      ),
    );
  return {
    program,
    pid: program.child.pid!,
    status,
    async settledEventsCaptured(quietMs = 300) {
      let last = -1;
      for (let i = 0; i < 100; i++) {
        const now = Number((await status()).eventsCaptured);
        if (now === last) return now;
        last = now;
        await sleep(quietMs);
      }
      throw new Error('the agent kept capturing after the load ended');
    },
    async transitionCounts() {
      const response = await fetch(`http://${program.httpAddress}/metrics`, { signal: AbortSignal.timeout(15_000) });
      const text = await response.text();
      const counts = new Map<string, number>();
      for (const m of text.matchAll(/^tcpstate_events_captured_total\{old_state="(\w+)",new_state="(\w+)"\} (\d+)$/gm)) {
        counts.set(`${TcpState[m[1] as keyof typeof TcpState]}->${TcpState[m[2] as keyof typeof TcpState]}`, Number(m[3]));
      }
      return counts;
    },
    async stop() {
      client.close();
      const code = await within(20_000, 'the agent stopping', program.stop('SIGTERM')).catch((err) => {
        program.child.kill('SIGKILL');
        throw err;
      });
      if (code !== 0) throw new Error(`the agent exited with ${code}:\n${program.output().slice(-2000)}`);
    },
  };
}

/**
 * Starts V8's CPU profiler in an agent started with `inspect`, through the
 * inspector protocol; the returned function stops it and writes the profile
 * (open it in Chrome DevTools or speedscope).
 */
export async function profileCpu(agent: BenchAgent, samplingIntervalUs = 500): Promise<(file: string) => Promise<void>> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(agent.program.output())?.[1];
  if (!url) throw new Error('the agent was not started with its inspector open');
  const socket = new WebSocket(url);
  await within(
    10_000,
    `connecting to the agent's inspector at ${url}`,
    new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot reach the agent's inspector at ${url}`));
    }),
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  socket.onmessage = (m) => {
    const message = JSON.parse(String(m.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  };
  const call = (method: string, params: object = {}) =>
    within(
      30_000,
      `the agent's inspector (${method})`,
      new Promise<unknown>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    );
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await call('Profiler.start');
  return async (file) => {
    const { profile } = (await call('Profiler.stop')) as { profile: object };
    socket.close();
    writeFileSync(file, JSON.stringify(profile));
  };
}

/** Run time and run count of one BPF program (kernel.bpf_stats_enabled must be 1 to count). */
export interface BpfProgramStats {
  name: string;
  runTimeNs: number;
  runCount: number;
  /** Runs the kernel skipped because the program was already running on that CPU (a softirq interrupting it). */
  recursionMisses: number;
}

/** The BPF programs a process holds, with their kernel run statistics, from /proc/PID/fdinfo. */
export function bpfProgramStats(pid: number): Map<number, BpfProgramStats> {
  const programs = new Map<number, BpfProgramStats>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const id = /^prog_id:\s+(\d+)/m.exec(info);
    // Links name their program too; only program fds carry its statistics.
    if (!id || !/^prog_type:/m.test(info)) continue;
    programs.set(Number(id[1]), {
      name: programName(Number(id[1])),
      runTimeNs: Number(/^run_time_ns:\s+(\d+)/m.exec(info)?.[1] ?? 0),
      runCount: Number(/^run_cnt:\s+(\d+)/m.exec(info)?.[1] ?? 0),
      recursionMisses: Number(/^recursion_misses:\s+(\d+)/m.exec(info)?.[1] ?? 0),
    });
  }
  return programs;
}

const programNames = new Map<number, string>();
function programName(id: number): string {
  let name = programNames.get(id);
  if (name === undefined) {
    const shown = execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' });
    name = (JSON.parse(shown) as { name?: string }).name ?? `prog ${id}`;
    programNames.set(id, name);
  }
  return name;
}

/** Runs `fn` with the kernel counting BPF run time (kernel.bpf_stats_enabled), restoring the setting after. */
export async function withBpfStats<T>(fn: () => Promise<T>): Promise<T> {
  const before = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  execFileSync('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  try {
    return await fn();
  } finally {
    execFileSync('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${before}`]);
  }
}

/** Per-program nanoseconds per run between two fdinfo readings. */
export function bpfCostPerRun(before: Map<number, BpfProgramStats>, after: Map<number, BpfProgramStats>): BpfCost[] {
  const out: BpfCost[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    const runs = a.runCount - (b?.runCount ?? 0);
    const recursionMisses = a.recursionMisses - (b?.recursionMisses ?? 0);
    if (runs > 0 || recursionMisses > 0) out.push({ name: a.name, runs, nsPerRun: (a.runTimeNs - (b?.runTimeNs ?? 0)) / runs, recursionMisses });
  }
  return out;
}

/** A BPF program's runs, kernel time per run and skipped (nested) runs over a window. */
export interface BpfCost {
  name: string;
  runs: number;
  nsPerRun: number;
  recursionMisses: number;
}

// ---------------------------------------------------------------- /proc

/** CPU time (user + system) a process has used, in seconds. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** CPU seconds a process has used so far, in user space and in the kernel (system calls, BPF iterators it runs). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

/** Resident and peak resident memory of a process, in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Busy and total jiffies of the whole machine (all CPUs), from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = cpu[3] + cpu[4];
  return { busy: total - idle, total };
}

/**
 * CPU use over a window: each watched process's share of one core, and the
 * machine's busy share of all its cores (contention from everything else,
 * other benchmarks' helpers included, shows up there).
 */
export class CpuWindow {
  private readonly pids: number[];
  private readonly startCpu: number[];
  private readonly startSystem: number[];
  private readonly startMachine: { busy: number; total: number };
  private readonly startTime: number;

  constructor(pids: number[]) {
    this.pids = pids;
    this.startCpu = pids.map(cpuSeconds);
    this.startSystem = pids.map((pid) => cpuSplit(pid).system);
    this.startMachine = machineJiffies();
    this.startTime = performance.now();
  }

  /**
   * Percent of one core per watched process (same order as given), the part
   * of it spent in the kernel, and the machine's busy percent of all cores.
   */
  end(): { processes: number[]; processesSystem: number[]; machineBusy: number; seconds: number } {
    const seconds = (performance.now() - this.startTime) / 1000;
    const machine = machineJiffies();
    return {
      processes: this.pids.map((pid, i) => (100 * (cpuSeconds(pid) - this.startCpu[i])) / seconds),
      processesSystem: this.pids.map((pid, i) => (100 * (cpuSplit(pid).system - this.startSystem[i])) / seconds),
      machineBusy: (100 * (machine.busy - this.startMachine.busy)) / (machine.total - this.startMachine.total),
      seconds,
    };
  }
}

// ---------------------------------------------------------------- numbers

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A fixed-width text table (first row is the header). */
export function table(rows: (string | number)[][]): string {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = text[0].map((_, c) => Math.max(...text.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(text[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...text.slice(1).map(line)].join('\n');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Number.isInteger(n) || Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
}

/** Polls `ready` until it holds; fails with `why()` after timeoutMs or when `child` exits first. */
export async function waitFor(ready: () => boolean, timeoutMs: number, why: () => string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline || (child && child.exitCode !== null)) throw new Error(why());
    await sleep(20);
  }
}

/** The machine in one line, for the report. */
export function machineDescription(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 0;
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return `${model}, ${cores} cores, Linux ${kernel}, Node ${process.versions.node}, load average at start ${load}`;
}

// ---------------------------------------------------------------- subscribers

/** Subscribe streams held by another process (subscriber-process.ts). */
export interface SubscriberProcess {
  pid: number;
  report(): Promise<SubscriberReport>;
  /** Events received and events reported lost (gaps) so far, all streams together. */
  counts(): Promise<{ events: number; lost: number }>;
  /** Reports until the delivered counts stop changing for quietMs. */
  settledReport(quietMs?: number): Promise<SubscriberReport>;
  /** A collector: events it stored whose connection rows are not written yet. */
  rowsPending?(): Promise<number>;
  close(): Promise<void>;
}

/** report() once what a subscriber received (events + losses, by `counts`) stays unchanged for quietMs. */
export async function settled<T>(
  counts: () => Promise<{ events: number; lost: number }>,
  report: () => Promise<T>,
  who: string,
  quietMs = 500,
): Promise<T> {
  let last = -1;
  for (let i = 0; i < 240; i++) {
    const { events, lost } = await counts();
    if (events + lost === last) return report();
    last = events + lost;
    await sleep(quietMs);
  }
  throw new Error(`${who} kept receiving for 2 minutes after the load ended`);
}

/** "old->new: kernel N, delivered M" for each pair whose kernel firings and exact-time events delivered differ. */
export function differingPairs(kernel: Map<string, number>, delivered: Record<string, number>): string[] {
  return [...new Set([...kernel.keys(), ...Object.keys(delivered)])]
    .filter((p) => (kernel.get(p) ?? 0) !== (delivered[p] ?? 0))
    .map((p) => `${p}: kernel ${kernel.get(p) ?? 0}, delivered ${delivered[p] ?? 0}`);
}

const subscriberScript = new URL('./subscriber-process.ts', import.meta.url).pathname;

/** Starts a process holding one stream per request and waits until the agent lists them all. */
export async function startSubscribers(agent: BenchAgent, requests: object[]): Promise<SubscriberProcess> {
  const child = spawn(nodeBin, [subscriberScript, agent.program.grpcAddress, JSON.stringify(requests)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  // The agent registers a stream when its handler runs: poll its status until it lists them all.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const subscribed = (await agent.status()).subscribers.length;
    if (subscribed >= requests.length) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill();
      throw new Error(`the subscriber process did not subscribe (${subscribed} of ${requests.length}):\n${out}`);
    }
    await sleep(100);
  }
  const ask = <T>(type: string) =>
    within(
      30_000,
      `the subscriber process answering "${type}"`,
      new Promise<T>((resolve, reject) => {
        const onMessage = (m: { type: string }) => {
          if (m.type !== type) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(m as T);
        };
        const onExit = (code: number | null) => reject(new Error(`the subscriber process exited with ${code}:\n${out}`));
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send({ type });
      }),
    );
  const report = async () => (await ask<{ report: SubscriberReport }>('report')).report;
  return {
    pid: child.pid!,
    report,
    counts: () => ask<{ events: number; lost: number }>('counts'),
    settledReport: (quietMs = 500) =>
      settled(() => ask<{ events: number; lost: number }>('counts'), report, 'the subscribers', quietMs),
    async close() {
      if (child.exitCode !== null) return;
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await once(child, 'exit');
      clearTimeout(timer);
    },
  };
}
