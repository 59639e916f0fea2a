// What the thread boundary of SqliteThreadStore could lose: the store's error
// classes, the progress of its start, a batch refused before it is sent, and
// calls after close. (event-store.test.ts runs the whole store suite on it.)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { StateChangeSchema, TcpState } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { InvalidQueryError, StoreError, StoreUnavailableError } from './errors.js';
import { openStore } from './open-store.js';
import { SqliteThreadStore } from './sqlite-thread-store.js';
import { testDatabases } from './test-support/databases.js';

const databases = testDatabases('tcpstate-thread-store-');
const change = (agentId: string, seq: number) =>
  create(StateChangeSchema, {
    agentId,
    bootId: 'boot-a',
    seq: BigInt(seq),
    time: timestampFromMs(1_700_000_000_000 + seq),
    cookie: 7n,
    oldState: TcpState.CLOSE,
    newState: TcpState.SYN_SENT,
    localAddress: '10.0.0.1',
    remoteAddress: '10.0.0.2',
  });

describe('SqliteThreadStore', () => {
  it('tells the progress of its start and stores in its thread what the caller sent', async () => {
    const dir = join(await databases.tempDir(), 'data');
    const said: string[] = [];
    const store = await openStore(dir, { ownThread: true, onProgress: (m) => said.push(m) });
    expect(store).toBeInstanceOf(SqliteThreadStore);
    expect(said).toEqual([`created a new store at ${dir} (schema version 6)`]);
    expect(await store.ingest('agent-a', 'boot-a', { events: [change('agent-a', 1), change('agent-a', 2)], gaps: [] }, 'host-a')).toEqual({
      inserted: 2,
      duplicates: 0,
      gapsInserted: 0,
    });
    expect(await store.ingest('agent-a', 'boot-a', { events: [change('agent-a', 2), change('agent-a', 3)], gaps: [] })).toEqual({
      inserted: 1,
      duplicates: 1,
      gapsInserted: 0,
    });
    expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 3n });
    await store.close();
  });

  it('starts its thread again after it died: the call in flight fails as retryable, the next one works', async () => {
    const store = await openStore(join(await databases.tempDir(), 'data'), { ownThread: true });
    await store.ingest('agent-a', 'boot-a', { events: [change('agent-a', 1)], gaps: [] });
    // As if it ran out of memory: the thread ends under a call.
    const inFlight = store.listHosts();
    await (store as unknown as { worker: Worker }).worker.terminate();
    await expect(inFlight).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(inFlight).rejects.toThrow(/^the SQLite store's thread stopped \(exit code 1\); the next call starts it again$/);
    expect(await store.ingest('agent-a', 'boot-a', { events: [change('agent-a', 1), change('agent-a', 2)], gaps: [] })).toEqual({
      inserted: 1,
      duplicates: 1,
      gapsInserted: 0,
    });
    expect(await store.cursor('agent-a')).toEqual({ bootId: 'boot-a', seq: 2n });
    await store.close();
  });

  it("keeps the store's error classes across the thread", async () => {
    const store = await openStore(join(await databases.tempDir(), 'data'), { ownThread: true });
    // Refused in the caller's thread, before anything is sent.
    await expect(store.ingest('agent-a', 'boot-a', { events: [change('agent-b', 1)], gaps: [] })).rejects.toThrow(StoreError);
    // Refused in the worker: an inverted window.
    const inverted = store.queryTimeline({ start: timestampFromMs(2000), end: timestampFromMs(1000) });
    await expect(inverted).rejects.toBeInstanceOf(InvalidQueryError);
    await store.close();
    await expect(store.listHosts()).rejects.toThrow(/^the SQLite store in .* is closed$/);
    // Opening where no directory can be made (under a file): the worker's StoreUnavailableError reaches the caller as one.
    const file = join(await databases.tempDir(), 'a-file');
    writeFileSync(file, '');
    await expect(openStore(join(file, 'data'), { ownThread: true })).rejects.toBeInstanceOf(StoreUnavailableError);
    // Under /proc, where Node's recursive mkdir would spin forever: an error too.
    await expect(openStore('/proc/no-store-here/data', { ownThread: true })).rejects.toThrow(
      /^cannot open the SQLite store in \/proc\/no-store-here\/data: ENOENT/,
    );
  });
});
