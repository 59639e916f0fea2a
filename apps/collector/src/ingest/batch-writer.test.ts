import { create } from '@bufbuild/protobuf';
import { GapSchema, type StateChange, StateChangeSchema } from '@tcpstate/proto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Batch, BatchWriter } from './batch-writer.js';

const event = (seq: number, bootId = 'b1'): StateChange => create(StateChangeSchema, { seq: BigInt(seq), bootId, agentId: 'a' });
const seqs = (batch: Batch) => batch.events.map((e) => Number(e.seq));

/** A writer whose writes are recorded and can be held back or failed. */
function recordingWriter(options = { maxItems: 3, flushMs: 60_000 }) {
  const written: Batch[] = [];
  const failures: Error[] = [];
  let failNext: Error | undefined;
  const writer = new BatchWriter(
    async (batch) => {
      await Promise.resolve();
      if (failNext) {
        const error = failNext;
        failNext = undefined;
        throw error;
      }
      written.push(batch);
    },
    (error) => failures.push(error),
    options,
  );
  return { writer, written, failures, failNextWrite: (e: Error) => (failNext = e) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('BatchWriter', () => {
  it('cuts batches by size and writes them in order', async () => {
    const { writer, written } = recordingWriter();
    for (let seq = 1; seq <= 7; seq++) await writer.addEvent('b1', event(seq));
    await writer.flush();
    expect(written.map(seqs)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(writer.busy).toBe(false);
  });

  it('cuts a list of events (an agent batch) as it cuts events added one by one, a new boot_id starting a new batch', async () => {
    const { writer, written } = recordingWriter();
    await writer.addEvents([1, 2, 3, 4, 5].map((seq) => event(seq)));
    await writer.addEvents([event(6), event(1, 'b2'), event(2, 'b2')]);
    await writer.flush();
    expect(written.map((b) => [b.bootId, seqs(b)])).toEqual([
      ['b1', [1, 2, 3]],
      ['b1', [4, 5, 6]],
      ['b2', [1, 2]],
    ]);
  });

  it('starts a new batch when the boot_id changes', async () => {
    const { writer, written } = recordingWriter();
    await writer.addEvent('b1', event(8));
    await writer.addGap('b2', create(GapSchema, { bootId: 'b2', firstSeq: 1n, lastSeq: 3n, count: 3n }));
    await writer.addEvent('b2', event(4, 'b2'));
    await writer.flush();
    expect(written.map((b) => [b.bootId, seqs(b), b.gaps.map((g) => Number(g.lastSeq))])).toEqual([
      ['b1', [8], []],
      ['b2', [4], [3]],
    ]);
  });

  it('writes a batch flushMs after its first item', async () => {
    vi.useFakeTimers();
    const { writer, written } = recordingWriter({ maxItems: 100, flushMs: 100 });
    await writer.addEvent('b1', event(1));
    await writer.addEvent('b1', event(2));
    expect(written).toEqual([]);
    expect(writer.oldestUnstored()?.seq).toBe(1n);
    await vi.advanceTimersByTimeAsync(100);
    expect(written.map(seqs)).toEqual([[1, 2]]);
    expect(writer.oldestUnstored()).toBeUndefined();
  });

  it('writes nothing after a failed write, and says so to the caller', async () => {
    const { writer, written, failures, failNextWrite } = recordingWriter();
    for (let seq = 1; seq <= 3; seq++) await writer.addEvent('b1', event(seq));
    await writer.flush();
    failNextWrite(new Error('the database is gone'));
    for (let seq = 4; seq <= 6; seq++) await writer.addEvent('b1', event(seq)); // batch 4-6 cut, its write fails
    await expect(writer.addEvent('b1', event(7)).then(() => writer.flush())).rejects.toThrow('the database is gone');
    await expect(writer.addEvent('b1', event(8))).rejects.toThrow('the database is gone');
    // The store's cursor stays at 3: a resume replays 4 onwards, and nothing past the hole was written.
    expect(written.map(seqs)).toEqual([[1, 2, 3]]);
    expect(failures.map((e) => e.message)).toEqual(['the database is gone']);
  });
});
