// KernelCapture.openRecords without a kernel: a fake addon writes records into
// the capture's records array and announces them the way the native side does
// (first record, count), and the consumer must get exactly those, undecoded.
import { describe, expect, it } from 'vitest';

import { KernelCapture, type RecordBatch } from './kernel-capture.js';
import { RECORD_LAYOUT, RECORD_SIZE, RecordKind } from './record.js';
import { fakeAddon } from './test-support/fake-addon.js';

/** A fake addon that keeps the records array and the batch callback the capture gives it. */
function recordingAddon() {
  let records: ArrayBuffer | undefined;
  let onBatch: ((first: number, count: number) => void) | undefined;
  const addon = fakeAddon({
    onOpen: (args) => {
      records = args[9] as ArrayBuffer;
      onBatch = args[10] as (first: number, count: number) => void;
    },
  });
  /** Writes records (cookie = the given values) at `first`, as the addon does, and announces them. */
  const deliver = (first: number, cookies: bigint[]) => {
    const view = new DataView(records!);
    cookies.forEach((cookie, i) => {
      view.setUint8((first + i) * RECORD_SIZE + RECORD_LAYOUT.kind, RecordKind.TRANSITION);
      view.setBigUint64((first + i) * RECORD_SIZE + RECORD_LAYOUT.cookie, cookie, true);
    });
    onBatch!(first, cookies.length);
  };
  return { addon, deliver, capacity: () => records!.byteLength / RECORD_SIZE };
}

const cookies = (batch: RecordBatch) =>
  Array.from({ length: batch.count }, (_, i) => batch.view.getBigUint64(i * RECORD_SIZE + RECORD_LAYOUT.cookie, true));

describe('KernelCapture.openRecords', () => {
  it('hands over each batch as a view of the records array, in laps, with the wall clock offset', () => {
    const { addon, deliver, capacity } = recordingAddon();
    const batches: RecordBatch[] = [];
    const seen: bigint[][] = []; // read at delivery: the next lap writes over the first records
    const capture = KernelCapture.openRecords({ keepRecords: 1000 }, (batch) => batches.push(batch) && seen.push(cookies(batch)), {
      addon,
      preflight: () => {},
    });
    // What the consumer keeps, the batch being written and one more of slack.
    expect(capacity()).toBe(1000 + 2 * 16384);
    deliver(0, [10n, 11n, 12n]);
    deliver(3, []); // nothing to hand over: no call
    deliver(capacity() - 2, [20n, 21n]); // the end of a lap...
    deliver(0, [30n]); // ...and the next begins at record 0
    expect(seen).toEqual([[10n, 11n, 12n], [20n, 21n], [30n]]);
    expect(batches.map((b) => [b.view.byteOffset / RECORD_SIZE, b.count])).toEqual([[0, 3], [capacity() - 2, 2], [0, 1]]);
    expect(typeof batches[0].wallClockOffsetNs).toBe('bigint');
    capture.close();
  });

  it('refuses a keepRecords that is not a count, in one sentence', () => {
    const { addon } = recordingAddon();
    expect(() => KernelCapture.openRecords({ keepRecords: -1 }, () => {}, { addon, preflight: () => {} })).toThrow(
      'Option keepRecords must be an integer from 0 to 10000000, not -1.',
    );
  });

  it('refuses a consumer that is not a function, in one sentence', () => {
    expect(() => KernelCapture.openRecords({}, undefined as unknown as () => void)).toThrow('onRecords must be a function.');
  });
});
