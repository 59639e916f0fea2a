// SubscribeRequest (proto/tcpstate/v1/agent.proto) validated and turned into
// a plan: where the replay starts and ends, and what it cannot deliver.
import { toJson } from '@bufbuild/protobuf';
import { TimestampSchema, type Timestamp } from '@bufbuild/protobuf/wkt';
import { compileFilters, FilterError, type CompiledFilters } from '@tcpstate/model';
import type { SubscribeRequest } from '@tcpstate/proto';
import type { EvictedRange } from './messages.js';
import type { ReplayWindow } from './replay-window.js';

/**
 * An invalid SubscribeRequest; the gRPC layer answers INVALID_ARGUMENT with
 * the message, which starts with (or names) `field`.
 */
export class RequestError extends Error {
  override name = 'RequestError';

  constructor(
    /** The request field at fault, e.g. "since_time" or "include[0].port[1]". */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a valid request asks the hub for. */
export interface SubscriptionPlan {
  readonly filters: CompiledFilters;
  /** First seq to replay; the window's nextSeq when there is nothing to replay. */
  readonly startSeq: number;
  /** The part of the requested replay that had already left the window. */
  readonly evicted?: EvictedRange;
  /** Keep streaming live events after the replay. */
  readonly follow: boolean;
  /** Without follow: the replay ends before this seq (the nextSeq when the request arrived). */
  readonly endSeq: number;
  /** Deliver at most this many events, then end (Infinity: no limit). */
  readonly first: number;
  /** Events per response: 1 sends each as `event`, more sends consecutive ones together as `events`. */
  readonly maxBatch: number;
}

/** The most events one response may carry (SubscribeRequest.max_batch). */
export const MAX_BATCH = 10_000;

// Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

const count = (value: bigint) => (value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value));

function checkSinceTime(time: Timestamp, now: Date): void {
  if (time.seconds < MIN_SECONDS || time.seconds > MAX_SECONDS)
    throw new RequestError('since_time', `since_time: ${time.seconds} seconds is outside 0001-01-01 to 9999-12-31`);
  if (!Number.isInteger(time.nanos) || time.nanos < 0 || time.nanos > 999_999_999)
    throw new RequestError('since_time', `since_time: nanos ${time.nanos} is outside 0-999999999`);
  const ms = Number(time.seconds) * 1000 + time.nanos / 1e6;
  if (ms > now.getTime())
    throw new RequestError('since_time', `since_time: ${String(toJson(TimestampSchema, time))} is in the future`);
}

/**
 * Validates a SubscribeRequest against the agent's state now and plans the
 * stream.
 *
 * @throws RequestError for conflicting options, a since_time in the future,
 *   a since_seq past the newest seq + 1, or an invalid filter (its path as field).
 */
export function planSubscription(
  request: SubscribeRequest,
  window: ReplayWindow,
  agent: { bootId: string; now: Date },
): SubscriptionPlan {
  const since = request.since;
  if (request.first > 0n && request.last > 0n)
    throw new RequestError('first', 'first and last cannot both be set');
  if (request.last > 0n && since.case === 'sinceSeq')
    throw new RequestError('last', 'last: cannot be combined with since_seq');
  if (request.last > 0n && since.case === 'sinceTime')
    throw new RequestError('last', 'last: cannot be combined with since_time');
  if (since.case === 'sinceTime') checkSinceTime(since.value, agent.now);
  if (request.maxBatch > MAX_BATCH)
    throw new RequestError('max_batch', `max_batch: ${request.maxBatch} is more than ${MAX_BATCH} events per response`);

  const otherBoot = request.bootId !== '' && request.bootId !== agent.bootId;
  if (since.case === 'sinceSeq' && !otherBoot && since.value > BigInt(window.nextSeq)) {
    throw new RequestError(
      'since_seq',
      `since_seq: ${since.value} is in the future: the newest seq is ${window.nextSeq - 1} (boot_id ${agent.bootId})`,
    );
  }

  let filters: CompiledFilters;
  try {
    filters = compileFilters(request.include, request.exclude);
  } catch (error) {
    if (error instanceof FilterError) throw new RequestError(error.field, error.message);
    throw error;
  }

  let startSeq = window.nextSeq;
  let evicted: EvictedRange | undefined;
  if (since.case === 'sinceSeq') {
    // A since_seq of another boot means "everything of this boot" (seq 1 on).
    const wanted = otherBoot ? 1 : Math.max(1, Number(since.value));
    startSeq = Math.max(wanted, window.firstSeq);
    if (wanted < window.firstSeq)
      evicted = {
        firstSeq: wanted,
        lastSeq: window.firstSeq - 1,
        upperBound: false,
        ...(otherBoot ? { otherBootId: request.bootId } : {}),
      };
  } else if (since.case === 'sinceTime') {
    const seek = window.seekTime(Number(since.value.seconds), since.value.nanos);
    startSeq = seek.startSeq;
    if (seek.evicted) evicted = { ...seek.evicted, upperBound: true };
  } else if (request.last > 0n) {
    startSeq = window.seekLast(count(request.last), (event) => filters.matches(event));
  }

  return {
    filters,
    startSeq,
    evicted,
    follow: request.follow !== false,
    endSeq: window.nextSeq,
    first: request.first > 0n ? count(request.first) : Infinity,
    maxBatch: Math.max(1, request.maxBatch),
  };
}
