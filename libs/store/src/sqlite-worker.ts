// The worker thread behind SqliteThreadStore: it owns the SQLite store and
// runs the calls the owning thread posts, one message each, answering in
// order. Ingest arrives with its events encoded already (event blocks, a few
// dozen bytes an event, copied once) rather than as message objects, which
// would cost more to copy between threads than to store; the store keeps
// them as they are. Once no ingest came for a moment, the store writes
// connection rows between calls, so a call waits behind at most one chunk.
import { parentPort, workerData } from 'node:worker_threads';
import type { EventBlock } from './event-block.js';
import type { Gap } from '@tcpstate/proto';
import { SqliteStore } from './sqlite-store.js';
import type { StoreOpenOptions } from './event-store.js';

/** What the owning thread posts: a call of a store method (or "ingestBlocks"). */
export interface WorkerCall {
  id: number;
  method: string;
  args: unknown[];
}

/** What the worker posts back. */
export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string } }
  | { progress: string }
  | { ready: string }
  | { openFailed: { name: string; message: string } };

/** ingestBlocks' arguments: a prepared batch with its events as blocks. */
export type IngestBlocksArgs = [agentId: string, bootId: string, blocks: EventBlock[], gaps: readonly Gap[], repeatedInBatch: number, hostname?: string];

const port = parentPort;
if (!port) throw new Error('sqlite-worker.js runs as a worker thread (SqliteThreadStore)');
const post = (reply: WorkerReply) => port.postMessage(reply);
const described = (error: unknown) =>
  error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };

let store: SqliteStore;
try {
  const { dir, derivationTrail, backgroundDerivation } = workerData as { dir: string } & StoreOpenOptions;
  const options: StoreOpenOptions = { onProgress: (message) => post({ progress: message }), derivationTrail, backgroundDerivation };
  store = SqliteStore.open(dir, options);
  post({ ready: store.location });
} catch (error) {
  post({ openFailed: described(error) });
  port.close();
}

port.on('message', async ({ id, method, args }: WorkerCall) => {
  try {
    let value: unknown;
    if (method === 'ingestBlocks') {
      const [agentId, bootId, copied, gaps, repeatedInBatch, hostname] = args as IngestBlocksArgs;
      // Bytes arrive as Uint8Array; the store binds them as a Buffer.
      const blocks = copied.map((b) => ({ ...b, events: Buffer.from(b.events.buffer, b.events.byteOffset, b.events.byteLength) }));
      value = store.ingestBlocks(agentId, bootId, blocks, gaps, repeatedInBatch, hostname);
    } else {
      value = await (store as unknown as Record<string, (...a: unknown[]) => unknown>)[method](...args);
    }
    post({ id, ok: true, value });
    if (method === 'close') port.close();
  } catch (error) {
    post({ id, ok: false, error: described(error) });
  }
});
