// The embedded SQLite store in a thread of its own (sqlite-worker.ts).
// better-sqlite3 is synchronous: in the caller's thread every batch stored
// holds up everything else that thread does (the collector receiving and
// decoding the agents' streams, answering queries, PINGs). Here the caller
// checks and encodes each batch (blockBatch: checked, ordered, event blocks) and the worker
// does the rest, so a collector uses two cores. Calls are answered in the
// order they were made, as in one thread.
import { Worker } from 'node:worker_threads';
import type { ConnectionTimeline, Gap, GetStatsResponse, Host, QueryTimelineResponse } from '@tcpstate/proto';
import { InvalidQueryError, SchemaVersionError, StoreError, StoreUnavailableError } from './errors.js';
import type {
  ConnectionKey,
  EndpointSpec,
  EventStore,
  HostUpdate,
  IngestBatch,
  IngestResult,
  PeerLookup,
  ReplicaView,
  RetentionResult,
  StatsQuery,
  StoreCursor,
  StoreOpenOptions,
  TimelineQuery,
  TimeWindow,
} from './event-store.js';
import { blockBatch } from './ingest-plan.js';
import type { IngestBlocksArgs, WorkerReply } from './sqlite-worker.js';
import type { TimeInput } from './time.js';

/** The worker's script: beside this file when built; the built one when this runs from its TypeScript source (tests). */
const workerScript = import.meta.url.endsWith('.ts')
  ? new URL('../dist/sqlite-worker.js', import.meta.url)
  : new URL('./sqlite-worker.js', import.meta.url);

/** The store's own error classes by name, so that a caller's instanceof holds across the thread boundary. */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  StoreError,
  InvalidQueryError,
  StoreUnavailableError,
  SchemaVersionError,
};
const errorOf = ({ name, message }: { name: string; message: string }) => new (ERROR_CLASSES[name] ?? Error)(message);

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** A worker that has opened the store in `dir`: started, migrations applied, the store's location known. */
function startWorker(dir: string, options: StoreOpenOptions): Promise<{ worker: Worker; location: string }> {
  // None of the caller's Node options: the built worker imports the built libraries whatever --conditions a test
  // runner set, and options such as --input-type or --eval do not apply to it.
  const { derivationTrail, backgroundDerivation } = options;
  const worker = new Worker(workerScript, { workerData: { dir, derivationTrail, backgroundDerivation }, execArgv: [] });
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      if ('progress' in reply) options.onProgress?.(reply.progress);
      else if ('ready' in reply) settle(() => resolve({ worker, location: reply.ready }));
      else if ('openFailed' in reply) settle(() => reject(errorOf(reply.openFailed)));
    };
    const onError = (error: Error) => settle(() => reject(new StoreError(`the SQLite store's thread failed to start: ${error.message}`)));
    const onExit = (code: number) => settle(() => reject(new StoreError(`the SQLite store's thread stopped while opening ${dir} (exit code ${code})`)));
    const settle = (then: () => void) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      then();
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/**
 * SQLite behind EventStore, in a worker thread. Open with SqliteThreadStore.open(dir) or
 * openStore(dir, { ownThread: true }). Should the thread die (out of memory, say), the calls in
 * flight fail as StoreUnavailableError, which the collector retries, and the next call starts a new
 * thread on the same file: a batch cut short was one transaction, rolled back, and is sent again.
 */
export class SqliteThreadStore implements EventStore {
  readonly kind = 'sqlite' as const;
  readonly shared = false;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  /** The running worker; undefined after it died, until the next call starts another. */
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  /** Set by close(): every call after fails with it. */
  private closed: StoreError | undefined;

  private constructor(
    private readonly dir: string,
    /** What a restarted worker opens the store with (its progress is the first opener's to hear). */
    private readonly reopen: StoreOpenOptions,
    worker: Worker,
    readonly location: string,
  ) {
    this.attach(worker);
  }

  /** Starts the worker, which opens (creating when needed) the store in `dir` and applies pending migrations. */
  static async open(dir: string, options: StoreOpenOptions = {}): Promise<SqliteThreadStore> {
    const { worker, location } = await startWorker(dir, options);
    return new SqliteThreadStore(dir, { derivationTrail: options.derivationTrail, backgroundDerivation: options.backgroundDerivation }, worker, location);
  }

  private attach(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (reply: WorkerReply) => {
      if (!('id' in reply)) return;
      const call = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.ok) call?.resolve(reply.value);
      else call?.reject(errorOf(reply.error));
    });
    worker.on('error', (error) => this.lost(worker, `failed: ${error.message}`));
    worker.on('exit', (code) => this.lost(worker, `stopped (exit code ${code})`));
  }

  private lost(worker: Worker, how: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const error = this.closed ?? new StoreUnavailableError(`the SQLite store's thread ${how}; the next call starts it again`);
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }

  /** The running worker, or a new one after the last died. */
  private ready(): Worker | Promise<Worker> {
    if (this.worker) return this.worker;
    this.starting ??= startWorker(this.dir, this.reopen).then(
      ({ worker }) => {
        this.starting = undefined;
        this.attach(worker);
        return worker;
      },
      (error: Error) => {
        this.starting = undefined;
        throw error;
      },
    );
    return this.starting;
  }

  private async call<T>(method: string, args: unknown[]): Promise<T> {
    if (this.closed) throw this.closed;
    const worker = await this.ready();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ id, method, args });
    });
  }

  async ingest(agentId: string, bootId: string, batch: IngestBatch, hostname?: string): Promise<IngestResult> {
    // Checked and encoded here: a bad batch fails before it is sent, and the worker gets a few dozen bytes an event.
    const { blocks, gaps, repeatedInBatch } = blockBatch(agentId, bootId, batch);
    const args: IngestBlocksArgs = [agentId, bootId, blocks, gaps, repeatedInBatch, hostname];
    return this.call('ingestBlocks', args);
  }

  cursor(agentId: string): Promise<StoreCursor | undefined> {
    return this.call('cursor', [agentId]);
  }

  upsertHost(host: HostUpdate): Promise<void> {
    return this.call('upsertHost', [host]);
  }

  listHosts(): Promise<Host[]> {
    return this.call('listHosts', []);
  }

  acquireLeases(replicaId: string, agentIds: readonly string[], ttlMs: number): Promise<string[]> {
    return this.call('acquireLeases', [replicaId, agentIds, ttlMs]);
  }

  releaseLeases(replicaId: string, agentIds?: readonly string[]): Promise<void> {
    return this.call('releaseLeases', [replicaId, agentIds]);
  }

  heartbeat(replicaId: string, ttlMs: number): Promise<ReplicaView> {
    return this.call('heartbeat', [replicaId, ttlMs]);
  }

  leave(replicaId: string): Promise<void> {
    return this.call('leave', [replicaId]);
  }

  queryTimeline(query: TimelineQuery): Promise<QueryTimelineResponse> {
    return this.call('queryTimeline', [query]);
  }

  getConnection(ref: ConnectionKey): Promise<ConnectionTimeline | undefined> {
    return this.call('getConnection', [ref]);
  }

  findConnectionByEndpoints(local: EndpointSpec, remote: EndpointSpec, at: TimeInput): Promise<ConnectionTimeline | undefined> {
    return this.call('findConnectionByEndpoints', [local, remote, at]);
  }

  findPeer(connection: ConnectionTimeline): Promise<PeerLookup> {
    return this.call('findPeer', [connection]);
  }

  gaps(window: TimeWindow, hosts?: readonly string[]): Promise<Gap[]> {
    return this.call('gaps', [window, hosts]);
  }

  stats(query: StatsQuery): Promise<GetStatsResponse> {
    return this.call('stats', [query]);
  }

  deleteOlderThan(time: TimeInput): Promise<RetentionResult> {
    return this.call('deleteOlderThan', [time]);
  }

  rowsPending(): Promise<number> {
    return this.call('rowsPending', []);
  }

  /** Closes the database and ends the thread; calls after it fail with a StoreError. */
  async close(): Promise<void> {
    if (this.closed) return;
    const worker = this.worker ?? (await this.starting?.catch(() => undefined));
    this.closed = new StoreError(`the SQLite store in ${this.location} is closed`);
    if (!worker) return;
    const id = this.nextId++;
    const done = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.postMessage({ id, method: 'close', args: [] });
    await done.catch(() => undefined);
    await worker.terminate();
  }
}
