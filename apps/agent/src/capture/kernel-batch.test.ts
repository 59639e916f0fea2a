import { create, equals } from '@bufbuild/protobuf';
import { decodeRecord, RECORD_LAYOUT as L, RECORD_SIZE, RecordFlag, RecordKind, type RawRecord } from '@tcpstate/kernel';
import { AddressFamily, StateChangeSchema, type StateChange } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { KernelRecordBatch } from './kernel-batch.js';

interface RecordInit {
  ktimeNs?: bigint;
  cookie?: bigint;
  timeInOldStateNs?: bigint;
  uncertaintyNs?: bigint;
  cgroupId?: bigint;
  family?: number;
  localAddr?: number[];
  remoteAddr?: number[];
  netns?: number;
  pid?: number;
  localPort?: number;
  remotePort?: number;
  oldState?: number;
  newState?: number;
  side?: number;
  observedBy?: number;
  flags?: number;
  comm?: number[];
}

const v4 = (a: number, b: number, c: number, d: number) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d];
const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

/** Records as the kernel writes them (bpf/tcpstate.h). */
function records(inits: RecordInit[]): DataView {
  const view = new DataView(new ArrayBuffer(inits.length * RECORD_SIZE));
  inits.forEach((r, i) => {
    const o = i * RECORD_SIZE;
    const bytes = new Uint8Array(view.buffer, o, RECORD_SIZE);
    view.setUint8(o + L.kind, RecordKind.TRANSITION);
    view.setUint8(o + L.version, 1);
    view.setUint16(o + L.size, RECORD_SIZE, true);
    view.setBigUint64(o + L.ktimeNs, r.ktimeNs ?? 0n, true);
    view.setBigUint64(o + L.cookie, r.cookie ?? 0n, true);
    view.setBigUint64(o + L.timeInOldStateNs, r.timeInOldStateNs ?? 0n, true);
    view.setBigUint64(o + L.uncertaintyNs, r.uncertaintyNs ?? 0n, true);
    view.setBigUint64(o + L.cgroupId, r.cgroupId ?? 0n, true);
    bytes.set(r.localAddr ?? v4(0, 0, 0, 0), L.localAddr);
    bytes.set(r.remoteAddr ?? v4(0, 0, 0, 0), L.remoteAddr);
    view.setUint32(o + L.netns, r.netns ?? 0, true);
    view.setUint32(o + L.pid, r.pid ?? 0, true);
    view.setUint16(o + L.localPort, r.localPort ?? 0, true);
    view.setUint16(o + L.remotePort, r.remotePort ?? 0, true);
    view.setUint8(o + L.family, r.family ?? 4);
    view.setUint8(o + L.oldState, r.oldState ?? 0);
    view.setUint8(o + L.newState, r.newState ?? 0);
    view.setUint8(o + L.side, r.side ?? 0);
    view.setUint8(o + L.observedBy, r.observedBy ?? 0);
    view.setUint8(o + L.flags, r.flags ?? 0);
    bytes.set(r.comm ?? [], L.comm);
  });
  return view;
}

const NS = 1_000_000_000n;

/** The reference: the decoder's RawRecord turned into a StateChange by create(), field by field. */
function expected(r: RawRecord, offsetNs: bigint): StateChange {
  const wall = r.ktimeNs + offsetNs;
  return create(StateChangeSchema, {
    time: { seconds: wall / NS, nanos: Number(wall % NS) },
    monotonicNs: r.ktimeNs,
    cookie: r.cookie,
    family: r.family === 6 ? AddressFamily.INET6 : AddressFamily.INET,
    localAddress: r.localAddress,
    localPort: r.localPort,
    remoteAddress: r.remoteAddress,
    remotePort: r.remotePort,
    oldState: r.oldState,
    newState: r.newState,
    side: r.side,
    timeInOldState:
      r.flags & RecordFlag.TIME_IN_OLD_STATE
        ? { seconds: r.timeInOldStateNs / NS, nanos: Number(r.timeInOldStateNs % NS) }
        : undefined,
    pid: r.pid,
    comm: r.comm,
    cgroupId: r.cgroupId,
    netns: r.netns,
    observedBy: r.observedBy,
    // A sweep's observation always carries its uncertainty; another only a non-zero one (a timer-strategy FIN step).
    timeUncertainty:
      r.observedBy === 4 || (r.uncertaintyNs ?? 0n) > 0n ? { seconds: (r.uncertaintyNs ?? 0n) / NS, nanos: Number((r.uncertaintyNs ?? 0n) % NS) } : undefined,
  });
}

const CASES: RecordInit[] = [
  {
    ktimeNs: 5_000_000_123n,
    cookie: 42n,
    localAddr: v4(10, 0, 0, 1),
    remoteAddr: v4(10, 0, 0, 2),
    localPort: 40000,
    remotePort: 80,
    oldState: 1,
    newState: 4,
    side: 1,
    flags: RecordFlag.TIME_IN_OLD_STATE,
    timeInOldStateNs: 1_500_000_001n,
    pid: 7,
    comm: ascii('curl'),
    cgroupId: 99n,
    netns: 4026531840,
    observedBy: 1,
  },
  {
    // IPv6, sweep with an uncertainty of 0 (an empty Duration is still set), a full 16-byte comm.
    ktimeNs: 999_999_999n,
    cookie: 0xffff_ffff_ffff_ffffn,
    family: 6,
    localAddr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    remoteAddr: new Array(16).fill(0),
    localPort: 65535,
    oldState: 6,
    newState: 7,
    side: 2,
    observedBy: 4,
    uncertaintyNs: 0n,
    comm: ascii('a-sixteen-chars!'),
    cgroupId: (1n << 63n) + 5n,
  },
  {
    // Past 2^53 ns (the bigint path), a long time in the old state, non-ASCII and invalid UTF-8 in comm.
    ktimeNs: (1n << 60n) + 7n,
    localAddr: v4(255, 255, 255, 255),
    remoteAddr: v4(0, 0, 0, 0),
    flags: RecordFlag.TIME_IN_OLD_STATE | RecordFlag.ABORT,
    timeInOldStateNs: (1n << 55n) + 999_999_999n,
    observedBy: 4,
    uncertaintyNs: 3_000_000_000n,
    comm: [0xc3, 0xa9, 0x74, 0xff, 0x41],
    side: 3, // not a side: reported as unknown
  },
  {
    // The timer strategy's FIN_WAIT2 -> TIME_WAIT found by its poll: a hook observation with an uncertainty.
    ktimeNs: 7_000_000_000n,
    cookie: 43n,
    localAddr: v4(10, 0, 0, 1),
    remoteAddr: v4(10, 0, 0, 2),
    localPort: 81,
    remotePort: 40001,
    oldState: 5,
    newState: 6,
    side: 2,
    observedBy: 3,
    uncertaintyNs: 8_000_000n,
  },
  {}, // all zero: fields at their defaults are left out of the bytes
];

describe('KernelRecordBatch', () => {
  for (const offsetNs of [1_764_237_600_123_456_789n, 999_999_999n, 0n, -5_000_000_001n]) {
    it(`gives the message, time and ports create() gives from the decoded record (offset ${offsetNs})`, () => {
      const view = records(CASES);
      const batch = new KernelRecordBatch({ view, count: CASES.length, wallClockOffsetNs: offsetNs });
      expect(batch.length).toBe(CASES.length);
      CASES.forEach((_, i) => {
        const want = expected(decodeRecord(view, i * RECORD_SIZE), offsetNs);
        const message = batch.message(i);
        expect(equals(StateChangeSchema, message, want)).toBe(true);
        expect([batch.localPort(i), batch.remotePort(i)]).toEqual([want.localPort, want.remotePort]);
        expect(Object.keys(message)).toEqual(['$typeName', ...StateChangeSchema.fields.map((f) => f.localName)]);

        batch.time(i);
        expect([batch.timeSeconds, batch.timeNanos]).toEqual([Number(want.time!.seconds), want.time!.nanos]);
        expect(batch.size(i)).toBe(i === 0 ? RECORD_SIZE + 512 : RECORD_SIZE);
      });
    });
  }

  it('names the transition of each record', () => {
    const batch = new KernelRecordBatch({ view: records(CASES), count: 2, wallClockOffsetNs: 0n });
    expect([batch.transition(0), batch.transition(1)]).toEqual([1 * 16 + 4, 6 * 16 + 7]);
  });
});
