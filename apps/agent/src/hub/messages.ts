// The SubscribeResponse messages the hub sends besides events.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  GapReason,
  GapSchema,
  HeartbeatSchema,
  SubscribeResponseSchema,
  type StateChange,
  type SubscribeResponse,
} from '@tcpstate/proto';

/** Who is speaking: stamped on every gap and heartbeat. */
export interface AgentIdentity {
  readonly agentId: string;
  readonly bootId: string;
}

/**
 * Wraps an event once; the same response object goes to every subscriber
 * that takes it. A literal equal to what create() makes, for the same
 * reason as the StateChange literals: it is made per event.
 */
export function eventResponse(event: StateChange): SubscribeResponse {
  return { $typeName: 'tcpstate.v1.SubscribeResponse', response: { case: 'event', value: event } };
}

/** Consecutive events as one response (SubscribeRequest.max_batch). */
export function eventsResponse(events: StateChange[]): SubscribeResponse {
  return {
    $typeName: 'tcpstate.v1.SubscribeResponse',
    response: { case: 'events', value: { $typeName: 'tcpstate.v1.EventBatch', events } },
  };
}

interface GapFields {
  reason: GapReason;
  count: number;
  firstSeq?: number;
  lastSeq?: number;
  time: Date;
  message: string;
}

export function gapResponse(identity: AgentIdentity, gap: GapFields): SubscribeResponse {
  const value = create(GapSchema, {
    agentId: identity.agentId,
    bootId: identity.bootId,
    reason: gap.reason,
    count: BigInt(gap.count),
    firstSeq: BigInt(gap.firstSeq ?? 0),
    lastSeq: BigInt(gap.lastSeq ?? 0),
    time: timestampFromDate(gap.time),
    message: gap.message,
  });
  return create(SubscribeResponseSchema, { response: { case: 'gap', value } });
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

/** Events this subscriber could not take: its queue was full (or its replay fell out of the window). */
export function slowSubscriberGap(
  identity: AgentIdentity,
  firstSeq: number,
  lastSeq: number,
  count: number,
  time: Date,
): SubscribeResponse {
  return gapResponse(identity, {
    reason: GapReason.SLOW_SUBSCRIBER,
    count,
    firstSeq,
    lastSeq,
    time,
    message: `This subscriber read too slowly: ${plural(count, 'matching event')} between seq ${firstSeq} and ${lastSeq} were dropped.`,
  });
}

/** Transitions the kernel lost (ring buffer full, or a skipped program run): they never had a seq. */
export function kernelGap(identity: AgentIdentity, count: number, time: Date): SubscribeResponse {
  return gapResponse(identity, {
    reason: GapReason.KERNEL,
    count,
    time,
    message: `The kernel lost ${plural(count, 'transition')} before the agent read them (ring buffer full, or a BPF program skipped by the kernel while another ran on the same CPU).`,
  });
}

/** What a resume asked for that had already left the replay window. */
export interface EvictedRange {
  firstSeq: number;
  lastSeq: number;
  /** Resumed by time: the range is the most that can have been lost (times are not kept for evicted events). */
  upperBound: boolean;
  /** Set when the client's boot_id was another run of the agent. */
  otherBootId?: string;
}

export function replayEvictedGap(identity: AgentIdentity, range: EvictedRange, time: Date): SubscribeResponse {
  const count = range.lastSeq - range.firstSeq + 1;
  const lost = `${range.upperBound ? 'up to ' : ''}${plural(count, 'event')} (seq ${range.firstSeq} to ${range.lastSeq})`;
  const restarted =
    range.otherBootId === undefined
      ? ''
      : `The agent restarted (boot_id ${identity.bootId}, not ${range.otherBootId}): `;
  return gapResponse(identity, {
    reason: GapReason.REPLAY_EVICTED,
    count,
    firstSeq: range.firstSeq,
    lastSeq: range.lastSeq,
    time,
    message: `${restarted}${lost} had left the replay window; the replay starts at seq ${range.lastSeq + 1}.`,
  });
}

export function heartbeatResponse(identity: AgentIdentity, lastSeq: number, time: Date): SubscribeResponse {
  const value = create(HeartbeatSchema, {
    agentId: identity.agentId,
    bootId: identity.bootId,
    lastSeq: BigInt(lastSeq),
    time: timestampFromDate(time),
  });
  return create(SubscribeResponseSchema, { response: { case: 'heartbeat', value } });
}
