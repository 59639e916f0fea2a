/** Injection tokens of the collector's plain values. */
export const COLLECTOR_OPTIONS = Symbol('CollectorOptions');
/** The EventStore the collector writes and queries (opened at start, closed last). */
export const EVENT_STORE = Symbol('EventStore');
