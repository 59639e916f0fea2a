// @tcpstate/store: the collector's storage behind one interface.
export * from './event-store.js';
export * from './errors.js';
export { openStore } from './open-store.js';
export { SqliteStore, SQLITE_FILE } from './sqlite-store.js';
export { SqliteThreadStore } from './sqlite-thread-store.js';
export { PostgresStore } from './postgres-store.js';
export { applyEvents, type ConnectionEvent, type ConnectionState, type Segment } from './connection-builder.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_STEPS } from './queries.js';
export type { TimeInput } from './time.js';
export { decodeEventBlock, type StoredEvent } from './event-block.js';
