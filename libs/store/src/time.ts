// Times are stored as integer nanoseconds since the Unix epoch (bigint in
// TypeScript, 64-bit integers in both databases): exact, and comparable in SQL.
import { create } from '@bufbuild/protobuf';
import { type Duration, DurationSchema, type Timestamp, TimestampSchema } from '@bufbuild/protobuf/wkt';

/** A point in time as callers give it. */
export type TimeInput = Timestamp | Date;

const NS_PER_SECOND = 1_000_000_000n;

/** Nanoseconds since the epoch. */
export function toNs(time: TimeInput): bigint {
  if (time instanceof Date) return BigInt(time.getTime()) * 1_000_000n;
  return time.seconds * NS_PER_SECOND + BigInt(time.nanos);
}

/** The Timestamp of `ns` nanoseconds since the epoch. */
export function timestampOfNs(ns: bigint): Timestamp {
  const seconds = ns >= 0n ? ns / NS_PER_SECOND : -((-ns + NS_PER_SECOND - 1n) / NS_PER_SECOND);
  return create(TimestampSchema, { seconds, nanos: Number(ns - seconds * NS_PER_SECOND) });
}

/** A Duration of `ns` nanoseconds (seconds and nanos share the sign, as the type requires). */
export function durationOfNs(ns: bigint): Duration {
  const seconds = ns / NS_PER_SECOND; // truncates toward zero
  return create(DurationSchema, { seconds, nanos: Number(ns - seconds * NS_PER_SECOND) });
}

/** Nanoseconds of a Duration. */
export function durationNs(duration: Duration): bigint {
  return duration.seconds * NS_PER_SECOND + BigInt(duration.nanos);
}

/** Now, in ns since the epoch (the machine's clock, millisecond resolution). */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
