// One entry point for the collector's --store option.
import type { EventStore, StoreOpenOptions } from './event-store.js';
import { PostgresStore } from './postgres-store.js';
import { SqliteStore } from './sqlite-store.js';
import { SqliteThreadStore } from './sqlite-thread-store.js';

/**
 * Opens the store a target names: a postgres:// or postgresql:// URL opens
 * PostgreSQL (shared by replicas); anything else is a directory for the
 * embedded SQLite store (created when missing, file tcpstate.db inside).
 * Pending schema migrations are applied before it returns (`onProgress` hears about them).
 * `ownThread`: SQLite in a worker thread (see StoreOpenOptions).
 */
export async function openStore(target: string, options: StoreOpenOptions = {}): Promise<EventStore> {
  if (/^postgres(ql)?:\/\//i.test(target)) return PostgresStore.open(target, options);
  return options.ownThread ? SqliteThreadStore.open(target, options) : SqliteStore.open(target, options);
}
