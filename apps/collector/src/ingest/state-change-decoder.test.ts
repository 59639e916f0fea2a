import { create, type DescField, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { EventBatchSchema, type StateChange, StateChangeSchema } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { decodeEventBatch, decodeStateChange } from './state-change-decoder.js';

/** A value for every field of StateChange, none of them the default: whatever the schema holds today. */
function everyFieldSet(n: number): StateChange {
  const init: Record<string, unknown> = {};
  const valueOf = (f: DescField): unknown => {
    if (f.fieldKind === 'message') return { seconds: BigInt(1_795_000_000 + n), nanos: 999_999_999 - n };
    if (f.fieldKind === 'enum') return f.enum.values[f.enum.values.length - 1].number;
    if (f.fieldKind !== 'scalar') throw new Error(`StateChange.${f.name} is a ${f.fieldKind}: decode it in state-change-decoder.ts and here`);
    const v = f.scalar;
    if (v === 9 /* string */) return `${f.name}-ü-${n}`;
    if (v === 4 /* uint64 */) return 18_446_744_073_709_551_615n - BigInt(n);
    if (v === 13 /* uint32 */) return 4_294_967_295 - n;
    throw new Error(`StateChange.${f.name} has scalar type ${v}: decode it in state-change-decoder.ts and here`);
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

describe('decodeStateChange', () => {
  it('decodes every field of StateChange as protobuf-es does', () => {
    for (let n = 0; n < 3; n++) {
      const bytes = toBinary(StateChangeSchema, everyFieldSet(n));
      const decoded = decodeStateChange(bytes);
      expect(equals(StateChangeSchema, decoded, fromBinary(StateChangeSchema, bytes))).toBe(true);
      expect(equals(StateChangeSchema, decoded, create(StateChangeSchema))).toBe(false);
      // Encoded again, the same bytes: nothing lost on the way.
      expect(toBinary(StateChangeSchema, decoded)).toEqual(bytes);
    }
  });

  it('leaves defaults and unset messages as protobuf-es does, and skips fields of a newer agent', () => {
    expect(equals(StateChangeSchema, decodeStateChange(new Uint8Array()), create(StateChangeSchema))).toBe(true);
    const known = toBinary(StateChangeSchema, agentLike(7));
    const newer = new BinaryWriter().raw(known).tag(99, WireType.LengthDelimited).string('later').tag(98, WireType.Varint).uint64(5n).finish();
    const decoded = decodeStateChange(newer);
    expect(equals(StateChangeSchema, decoded, agentLike(7))).toBe(true);
    expect(decoded.time?.$typeName).toBe('google.protobuf.Timestamp');
    expect(decoded.timeInOldState?.$typeName).toBe('google.protobuf.Duration');
    expect(decoded.timeUncertainty).toBeUndefined();
  });
});

describe('decodeEventBatch', () => {
  it('gives the batch events in order, equal to protobuf-es decoding', () => {
    const events = Array.from({ length: 500 }, (_, i) => agentLike(i + 1));
    const bytes = toBinary(EventBatchSchema, create(EventBatchSchema, { events }));
    const decoded = decodeEventBatch(bytes);
    const reference = fromBinary(EventBatchSchema, bytes).events;
    expect(decoded.length).toBe(500);
    expect(decoded.every((e, i) => equals(StateChangeSchema, e, reference[i]))).toBe(true);
    expect(decodeEventBatch(new Uint8Array())).toEqual([]);
  });

  it('throws on bytes cut short, as protobuf-es does', () => {
    const bytes = toBinary(EventBatchSchema, create(EventBatchSchema, { events: [agentLike(1), agentLike(2)] }));
    expect(() => fromBinary(EventBatchSchema, bytes.subarray(0, bytes.length - 3))).toThrow();
    expect(() => decodeEventBatch(bytes.subarray(0, bytes.length - 3))).toThrow();
  });
});
