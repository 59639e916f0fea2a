// KernelCapture.openRecords without a kernel: a fake addon hands over ring
// batches the way the native side does, and the consumer must get exactly the
// TRANSITION records, in order, undecoded.
import { describe, expect, it } from 'vitest';

import { KernelCapture, type RecordBatch } from './kernel-capture.js';
import { RECORD_LAYOUT, RECORD_SIZE, RecordKind } from './record.js';
import { fakeAddon } from './test-support/fake-addon.js';

/** A fake addon that keeps the batch callback the capture gives it. */
function recordingAddon() {
  const handlers: ((buffer: ArrayBuffer) => void)[] = [];
  const addon = fakeAddon({ onOpen: (args) => handlers.push(args[9] as (buffer: ArrayBuffer) => void) });
  return { addon, deliver: (buffer: ArrayBuffer) => handlers[0](buffer) };
}

/** Records of the given kinds, each carrying its index as cookie; `extra` trailing bytes. */
function ring(kinds: number[], extra = 0): ArrayBuffer {
  const view = new DataView(new ArrayBuffer(kinds.length * RECORD_SIZE + extra));
  kinds.forEach((kind, i) => {
    view.setUint8(i * RECORD_SIZE + RECORD_LAYOUT.kind, kind);
    view.setBigUint64(i * RECORD_SIZE + RECORD_LAYOUT.cookie, BigInt(i), true);
  });
  return view.buffer;
}

const cookies = (batch: RecordBatch) =>
  Array.from({ length: batch.count }, (_, i) => batch.view.getBigUint64(i * RECORD_SIZE + RECORD_LAYOUT.cookie, true));

describe('KernelCapture.openRecords', () => {
  it('hands over the transition records of each batch, in order, with the wall clock offset', () => {
    const { addon, deliver } = recordingAddon();
    const batches: RecordBatch[] = [];
    const capture = KernelCapture.openRecords({}, (batch) => batches.push(batch), { addon, preflight: () => {} });
    const { TRANSITION, SOCKET } = RecordKind;
    deliver(ring([TRANSITION, SOCKET, TRANSITION, TRANSITION], 7));
    deliver(ring([SOCKET])); // nothing to hand over: no call
    deliver(ring([TRANSITION]));
    expect(batches.map(cookies)).toEqual([[0n, 2n, 3n], [0n]]);
    expect(typeof batches[0].wallClockOffsetNs).toBe('bigint');
    capture.close();
  });

  it('refuses a consumer that is not a function, in one sentence', () => {
    expect(() => KernelCapture.openRecords({}, undefined as unknown as () => void)).toThrow('onRecords must be a function.');
  });
});
