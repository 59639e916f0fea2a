// Errors the store throws on purpose. Each message is one sentence a user can
// act on; the collector maps InvalidQueryError to INVALID_ARGUMENT and
// StoreUnavailableError to UNAVAILABLE (and retries ingest on it).

/** Base class of the store's own errors. */
export class StoreError extends Error {
  override name = 'StoreError';
}

/** A query the caller got wrong: bad window, bad filter value, tampered page token. */
export class InvalidQueryError extends StoreError {
  override name = 'InvalidQueryError';
}

/** The database cannot be reached right now (refused, restarting, connection lost); retrying may succeed. */
export class StoreUnavailableError extends StoreError {
  override name = 'StoreUnavailableError';
}

/** The database was written by a newer version of tcpstate than this one. */
export class SchemaVersionError extends StoreError {
  override name = 'SchemaVersionError';
}
