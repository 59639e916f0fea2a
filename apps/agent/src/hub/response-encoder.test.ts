import { create, type DescField, equals, fromBinary, toBinary, toJson } from '@bufbuild/protobuf';
import { type StateChange, StateChangeSchema, SubscribeResponseSchema } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { eventResponse, eventsResponse, heartbeatResponse } from './messages.js';
import { preEncoded } from './response-encoder.js';

/** A value for every field of StateChange, none of them the default: whatever the schema holds today. */
function everyFieldSet(n: number): StateChange {
  const init: Record<string, unknown> = {};
  const valueOf = (f: DescField): unknown => {
    if (f.fieldKind === 'message') return { seconds: BigInt(1_795_000_000 + n), nanos: 999_999_999 - n };
    if (f.fieldKind === 'enum') return f.enum.values[f.enum.values.length - 1].number;
    if (f.fieldKind !== 'scalar') throw new Error(`StateChange.${f.name} is a ${f.fieldKind}: encode it in response-encoder.ts and here`);
    const v = f.scalar;
    if (v === 9 /* string */) return `${f.name}-ü-${n}`;
    if (v === 4 /* uint64 */) return 18_446_744_073_709_551_615n - BigInt(n);
    if (v === 13 /* uint32 */) return 4_294_967_295 - n;
    throw new Error(`StateChange.${f.name} has scalar type ${v}: encode it in response-encoder.ts and here`);
  };
  for (const f of StateChangeSchema.fields) init[f.localName] = valueOf(f);
  return create(StateChangeSchema, init);
}

const agentLike = (seq: number): StateChange =>
  create(StateChangeSchema, {
    agentId: 'node-a', bootId: '5f0c', seq: BigInt(seq), time: { seconds: 1_795_762_230n, nanos: seq * 1000 },
    monotonicNs: 11_732_173_188_304n, cookie: 7_845_730n, family: 2, localAddress: '10.95.0.2', localPort: seq % 2 ? 0 : 40_000,
    remoteAddress: '10.95.0.1', remotePort: 8080, oldState: 7, newState: 2, side: 1, pid: 6187, comm: 'curl', cgroupId: 1n,
    netns: 4_026_532_814, observedBy: 1, ...(seq % 3 ? { timeInOldState: { seconds: 0n, nanos: 52_000 } } : {}),
  });

const bytesOf = (r: Parameters<typeof toBinary<typeof SubscribeResponseSchema>>[1]) => toBinary(SubscribeResponseSchema, r);

describe('preEncoded', () => {
  it('gives the bytes toBinary writes, for every field of StateChange, in a batch and alone', () => {
    const events = [everyFieldSet(0), everyFieldSet(1), agentLike(3), agentLike(4)];
    expect(bytesOf(preEncoded(eventsResponse(events)))).toEqual(bytesOf(eventsResponse(events)));
    for (const e of events) expect(bytesOf(preEncoded(eventResponse(e)))).toEqual(bytesOf(eventResponse(e)));
    // And clients decode the events it was given.
    const decoded = fromBinary(SubscribeResponseSchema, bytesOf(preEncoded(eventsResponse(events))));
    expect(decoded.response.case).toBe('events');
    expect(equals(SubscribeResponseSchema, decoded, eventsResponse(events))).toBe(true);
  });

  it('leaves defaults out, keeps set empty messages, negative times and unknown fields, as toBinary does', () => {
    const odd = create(StateChangeSchema, { seq: 1n, timeInOldState: {}, timeUncertainty: { seconds: -3n, nanos: -5 }, oldState: -1 });
    odd.$unknown = [{ no: 99, wireType: 2, data: new Uint8Array([2, 104, 105]) }];
    for (const e of [create(StateChangeSchema), odd]) {
      expect(bytesOf(preEncoded(eventsResponse([e])))).toEqual(bytesOf(eventsResponse([e])));
      expect(bytesOf(preEncoded(eventResponse(e)))).toEqual(bytesOf(eventResponse(e)));
    }
    expect(bytesOf(preEncoded(eventsResponse([])))).toEqual(bytesOf(eventsResponse([])));
  });

  it('returns gaps and heartbeats as they are (they are rare and small)', () => {
    const heartbeat = heartbeatResponse({ agentId: 'a', bootId: 'b' }, 7, new Date(0));
    expect(preEncoded(heartbeat)).toBe(heartbeat);
    expect(toJson(SubscribeResponseSchema, preEncoded(heartbeat))).toEqual(toJson(SubscribeResponseSchema, heartbeat));
  });
});
