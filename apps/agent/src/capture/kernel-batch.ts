// A batch of kernel records (bpf/tcpstate.h) as the hub keeps it: the
// ring's bytes themselves, read in place; a record becomes a StateChange
// only when a live subscriber or a replay asks for it.
import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import { formatAddress, RECORD_LAYOUT as L, RECORD_SIZE, RecordFlag, type RecordBatch } from '@tcpstate/kernel';
import { AddressFamily, type StateChange } from '@tcpstate/proto';
import type { EventBatch } from '../hub/index.js';

const OBS_SWEEP = 4;
const NS_PER_S = 1_000_000_000n;
/** Below 2^53 ns (104 days) a u64 of nanoseconds is exact as a double: no bigint needed. */
const EXACT_HI = 0x200000;
/**
 * What a batch's JS objects (its view of the capture's records array and
 * the window's entry) take beside the records, counted against the window's byte limit with its first record
 * (at a few records per batch, on a quiet host, they outweigh the records).
 */
const BATCH_OVERHEAD_BYTES = 512;

const textDecoder = new TextDecoder();

/** Address strings by IPv4 address: a host sees a handful of them again and again. */
const ipv4Names = new Map<number, string>();
const IPV4_NAMES_MAX = 4096;

/**
 * One ring-buffer batch, read in place. message() gives exactly what the
 * capture's KernelEvent path gave (toStateChange of decodeRecord);
 * kernel-batch.test.ts checks it against messages made with create().
 */
export class KernelRecordBatch implements EventBatch {
  readonly length: number;
  timeSeconds = 0;
  timeNanos = 0;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly offsetNs: bigint;
  /** offsetNs split, when it is not negative (the fast path). */
  private readonly fastOffset: boolean;
  private readonly offsetSeconds: number;
  private readonly offsetNanos: number;

  constructor(batch: RecordBatch) {
    this.view = batch.view;
    this.bytes = new Uint8Array(batch.view.buffer, batch.view.byteOffset, batch.view.byteLength);
    this.length = batch.count;
    this.offsetNs = batch.wallClockOffsetNs;
    this.fastOffset = batch.wallClockOffsetNs >= 0n;
    this.offsetSeconds = this.fastOffset ? Number(batch.wallClockOffsetNs / NS_PER_S) : 0;
    this.offsetNanos = this.fastOffset ? Number(batch.wallClockOffsetNs % NS_PER_S) : 0;
  }

  /** old_state * 16 + new_state of record i (states are below 16). */
  transition(i: number): number {
    const o = i * RECORD_SIZE;
    return ((this.bytes[o + L.oldState] & 15) << 4) | (this.bytes[o + L.newState] & 15);
  }

  localPort(i: number): number {
    return this.view.getUint16(i * RECORD_SIZE + L.localPort, true);
  }

  remotePort(i: number): number {
    return this.view.getUint16(i * RECORD_SIZE + L.remotePort, true);
  }

  time(i: number): void {
    const view = this.view;
    const at = i * RECORD_SIZE + L.ktimeNs;
    const lo = view.getUint32(at, true);
    const hi = view.getUint32(at + 4, true);
    if (hi < EXACT_HI && this.fastOffset) {
      // Exact in doubles: ktime split into seconds and nanos, plus the batch's offset split the same way.
      const ns = hi * 2 ** 32 + lo;
      let seconds = Math.floor(ns / 1e9);
      let nanos = ns - seconds * 1e9;
      if (nanos < 0) {
        seconds--;
        nanos += 1e9;
      }
      seconds += this.offsetSeconds;
      nanos += this.offsetNanos;
      if (nanos >= 1e9) {
        nanos -= 1e9;
        seconds++;
      }
      this.timeSeconds = seconds;
      this.timeNanos = nanos;
    } else {
      const ns = view.getBigUint64(at, true) + this.offsetNs;
      this.timeSeconds = Number(ns / NS_PER_S);
      this.timeNanos = Number(ns % NS_PER_S);
    }
  }

  size(i: number): number {
    return i === 0 ? RECORD_SIZE + BATCH_OVERHEAD_BYTES : RECORD_SIZE;
  }

  message(i: number): StateChange {
    const view = this.view;
    const bytes = this.bytes;
    const o = i * RECORD_SIZE;
    const family = bytes[o + L.family] === 6 ? 6 : 4;
    const monotonicNs = view.getBigUint64(o + L.ktimeNs, true);
    const side = bytes[o + L.side];
    const observedBy = bytes[o + L.observedBy];
    return {
      $typeName: 'tcpstate.v1.StateChange',
      agentId: '',
      bootId: '',
      seq: 0n,
      time: timestampFromNs(monotonicNs + this.offsetNs),
      monotonicNs,
      cookie: view.getBigUint64(o + L.cookie, true),
      family: family === 6 ? AddressFamily.INET6 : AddressFamily.INET,
      localAddress: this.address(o + L.localAddr, family),
      localPort: view.getUint16(o + L.localPort, true),
      remoteAddress: this.address(o + L.remoteAddr, family),
      remotePort: view.getUint16(o + L.remotePort, true),
      oldState: bytes[o + L.oldState],
      newState: bytes[o + L.newState],
      side: side === 1 || side === 2 ? side : 0,
      timeInOldState:
        bytes[o + L.flags] & RecordFlag.TIME_IN_OLD_STATE ? durationFromNs(view.getBigUint64(o + L.timeInOldStateNs, true)) : undefined,
      pid: view.getUint32(o + L.pid, true),
      comm: this.comm(o + L.comm),
      cgroupId: view.getBigUint64(o + L.cgroupId, true),
      netns: view.getUint32(o + L.netns, true),
      observedBy,
      timeUncertainty: uncertaintyOf(observedBy, view.getBigUint64(o + L.uncertaintyNs, true)),
    };
  }

  private address(at: number, family: 4 | 6): string {
    if (family === 6) return formatAddress(this.bytes.subarray(at, at + 16), 6);
    const key = this.view.getUint32(at + 12);
    let name = ipv4Names.get(key);
    if (name === undefined) {
      if (ipv4Names.size >= IPV4_NAMES_MAX) ipv4Names.clear();
      name = formatAddress(this.bytes.subarray(at, at + 16), 4);
      ipv4Names.set(key, name);
    }
    return name;
  }

  private comm(at: number): string {
    const bytes = this.bytes;
    const end = bytes.subarray(at, at + 16).indexOf(0);
    return textDecoder.decode(bytes.subarray(at, end < 0 ? at + 16 : at + end));
  }
}

function timestampFromNs(ns: bigint): Timestamp {
  return { $typeName: 'google.protobuf.Timestamp', seconds: ns / NS_PER_S, nanos: Number(ns % NS_PER_S) };
}

function durationFromNs(ns: bigint): Duration {
  return { $typeName: 'google.protobuf.Duration', seconds: ns / NS_PER_S, nanos: Number(ns % NS_PER_S) };
}

/** A sweep's observation always carries how late it may be; another only when its time is not exact (0 = exact). */
function uncertaintyOf(observedBy: number, ns: bigint) {
  return observedBy === OBS_SWEEP || ns > 0n ? durationFromNs(ns) : undefined;
}
