// The storage benchmark's event generator: a replay of recorded real events
// (record-events.ts), copied as often as needed. Each copy becomes distinct
// connections at a later time: cookies, client ports, seqs and times are
// rewritten per copy, addresses per agent, and copies follow each other over
// the benchmark's time span, merged in time order per agent as an agent would
// send them.
//
// Node runs this file by stripping types: erasable TypeScript only.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { sizeDelimitedDecodeStream } from '@bufbuild/protobuf/wire';
import { type StateChange, StateChangeSchema, Side } from '@tcpstate/proto';

/** The recorded events and what the rewriting needs to know about them. */
export interface Recording {
  /** In the agent's seq order. */
  events: StateChange[];
  /** Time of each event in ns, relative to the first event. */
  offsetsNs: bigint[];
  /** The same as whole seconds and nanoseconds (numbers: the generator avoids bigint arithmetic). */
  offsetSeconds: number[];
  offsetNanos: number[];
  /** From the first event to the last. */
  spanNs: bigint;
  connections: number;
  /** Cookies of the recording are in [minCookie, minCookie + cookieStride). */
  minCookie: bigint;
  cookieStride: bigint;
  /** Ports that servers listen on (kept as they are; every other port is a client's and rewritten per copy). */
  serverPorts: Set<number>;
  /** Whether event i is the first of its connection. */
  opensConnection: boolean[];
}

const nsOf = (t: { seconds: bigint; nanos: number }) => t.seconds * 1_000_000_000n + BigInt(t.nanos);

/** Reads a fixture written by record-events.ts. */
export async function loadRecording(file: string): Promise<Recording> {
  const bytes = gunzipSync(readFileSync(file));
  const events: StateChange[] = [];
  for await (const e of sizeDelimitedDecodeStream(StateChangeSchema, (async function* () { yield bytes; })())) events.push(e);
  if (events.length === 0) throw new Error(`${file} holds no events`);
  const first = nsOf(events[0].time!);
  const offsetsNs = events.map((e) => nsOf(e.time!) - first);
  let min = events[0].cookie;
  let max = events[0].cookie;
  for (const e of events) {
    if (e.cookie < min) min = e.cookie;
    if (e.cookie > max) max = e.cookie;
  }
  const serverPorts = new Set(events.filter((e) => e.side === Side.SERVER && e.localPort !== 0).map((e) => e.localPort));
  const seen = new Set<bigint>();
  const opensConnection = events.map((e) => !seen.has(e.cookie) && seen.add(e.cookie) !== undefined);
  return {
    events,
    offsetsNs,
    offsetSeconds: offsetsNs.map((ns) => Number(ns / 1_000_000_000n)),
    offsetNanos: offsetsNs.map((ns) => Number(ns % 1_000_000_000n)),
    spanNs: offsetsNs.reduce((a, b) => (b > a ? b : a), 0n),
    connections: seen.size,
    minCookie: min,
    cookieStride: max - min + 1n,
    serverPorts,
    opensConnection,
  };
}

/** Where a copy's replay stands. */
interface Cursor {
  copy: number;
  /** Next event of the recording to send. */
  index: number;
  startSeconds: number;
  startNanos: number;
  monotonicShift: bigint;
  cookieShift: bigint;
}

/** How the copies are laid out. */
export interface ReplayPlan {
  agents: number;
  /** Events in all, over all agents. */
  events: number;
  /** The time span the copies are spread over (the last copy's tail goes beyond it by the recording's span). */
  spanNs: bigint;
  /** When the span starts, ns since the epoch. */
  startNs: bigint;
}

/** One agent's stream: copies of the recording, one after the other in time, merged by time where they overlap. */
export class AgentReplay {
  readonly agentId: string;
  readonly bootId: string;
  /** Events this agent sends in all. */
  readonly quota: number;
  /** Copies this agent sends (the last one possibly cut short). */
  readonly copies: number;
  /** Time between the starts of two copies. */
  readonly periodNs: bigint;
  private readonly recording: Recording;
  private readonly agent: number;
  private readonly firstCopyNs: bigint;
  private nextCopy = 0;
  private active: Cursor[] = [];
  private seq = 0n;

  constructor(recording: Recording, agent: number, plan: ReplayPlan) {
    this.recording = recording;
    this.agent = agent;
    this.agentId = `replay-agent-${agent}`;
    this.bootId = `replay-boot-${agent}`;
    this.quota = Math.floor(plan.events / plan.agents) + (agent < plan.events % plan.agents ? 1 : 0);
    this.copies = Math.max(1, Math.ceil(this.quota / recording.events.length));
    this.periodNs = plan.spanNs / BigInt(this.copies);
    // Agents start their copies staggered, as a fleet's hosts are not in step.
    this.firstCopyNs = plan.startNs + (this.periodNs * BigInt(agent)) / BigInt(plan.agents);
  }

  /** Events sent so far. */
  get sent(): number {
    return Number(this.seq);
  }

  /** The next `size` events (fewer at the end; empty when done). */
  nextBatch(size: number): StateChange[] {
    const batch: StateChange[] = [];
    while (batch.length < size && this.sent < this.quota) batch.push(this.next());
    return batch;
  }

  /** Cookies of the connections sent so far (by their first event), for looking them up. */
  readonly cookies: bigint[] = [];

  private copyStartNs(copy: number): bigint {
    return this.firstCopyNs + BigInt(copy) * this.periodNs;
  }

  /** An ordering key of a cursor's next event: its time as a double (close enough to merge copies). */
  private keyOf(cursor: Cursor): number {
    return cursor.startSeconds * 1e9 + cursor.startNanos + this.recording.offsetSeconds[cursor.index] * 1e9 + this.recording.offsetNanos[cursor.index];
  }

  private open(copy: number): Cursor {
    const start = this.copyStartNs(copy);
    return {
      copy,
      index: 0,
      startSeconds: Number(start / 1_000_000_000n),
      startNanos: Number(start % 1_000_000_000n),
      monotonicShift: start - this.firstCopyNs,
      cookieShift: BigInt(copy) * this.recording.cookieStride,
    };
  }

  private next(): StateChange {
    const r = this.recording;
    // Open every copy that has begun by the time of the earliest pending event.
    while (this.nextCopy < this.copies) {
      const candidate = this.open(this.nextCopy);
      if (this.active.length > 0 && this.keyOf(candidate) > Math.min(...this.active.map((c) => this.keyOf(c)))) break;
      this.active.push(candidate);
      this.nextCopy++;
    }
    let pick = this.active[0];
    if (this.active.length > 1) for (const c of this.active) if (this.keyOf(c) < this.keyOf(pick)) pick = c;
    const i = pick.index;
    const e = r.events[i];
    let seconds = pick.startSeconds + r.offsetSeconds[i];
    let nanos = pick.startNanos + r.offsetNanos[i];
    if (nanos >= 1e9) {
      seconds += 1;
      nanos -= 1e9;
    }
    pick.index++;
    if (pick.index >= r.events.length) this.active = this.active.filter((c) => c !== pick);
    this.seq++;
    const cookie = e.cookie + pick.cookieShift;
    if (r.opensConnection[i]) this.cookies.push(cookie);
    return {
      ...e,
      agentId: this.agentId,
      bootId: this.bootId,
      seq: this.seq,
      time: { $typeName: 'google.protobuf.Timestamp', seconds: BigInt(seconds), nanos },
      // The agent's monotonic clock runs on from copy to copy.
      monotonicNs: e.monotonicNs + pick.monotonicShift,
      cookie,
      localAddress: this.address(e.localAddress),
      remoteAddress: this.address(e.remoteAddress),
      localPort: this.port(e.localPort, pick.copy),
      remotePort: this.port(e.remotePort, pick.copy),
    };
  }

  /** The recording's 10.95.x.y addresses as this agent's own network 10.(100 + agent).x.y. */
  private address(text: string): string {
    return text.replace('10.95.', `10.${100 + (this.agent % 150)}.`);
  }

  /** A client port moved by copy, the same way on both sides of a connection (so they still pair). */
  private port(port: number, copy: number): number {
    if (port === 0 || this.recording.serverPorts.has(port) || port < 1024) return port;
    return 1024 + ((port - 1024 + copy * 4099) % 64_000);
  }
}
