// Subscribe's event responses encoded by the agent itself, for clients that
// speak protobuf (gRPC, gRPC-Web, Connect binary). protobuf-es's reflective
// toBinary was 64% of the agent's CPU serving one collector (BENCHMARKS.md);
// writing StateChange's fields directly, with the bytes of the strings that
// repeat in every event (agent and boot ids, addresses, process names) kept,
// costs about half as much. The result is an ordinary SubscribeResponse whose
// one field is carried as an unknown field: toBinary copies it as it is, so
// clients receive exactly the bytes toBinary would have written (the test
// compares them byte for byte). JSON clients get the messages as before.
import { type Message } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import type { StateChange, SubscribeResponse } from '@tcpstate/proto';

/** SubscribeResponse field numbers of the two event cases. */
const EVENT_FIELD = 1;
const EVENTS_FIELD = 4;

/** The same response, its events pre-encoded; gaps and heartbeats are returned as they are. */
export function preEncoded(response: SubscribeResponse): SubscribeResponse {
  const r = response.response;
  if (r.case === 'events') return carrying(EVENTS_FIELD, (w) => {
    for (const event of r.value.events) writeStateChange(w.tag(1, WireType.LengthDelimited).fork(), event).join();
  });
  if (r.case === 'event') return carrying(EVENT_FIELD, (w) => writeStateChange(w, r.value));
  return response;
}

/** A SubscribeResponse whose field `no` holds what `write` writes (a message body), as an unknown field. */
function carrying(no: number, write: (w: BinaryWriter) => void): SubscribeResponse {
  const w = new BinaryWriter().fork();
  write(w);
  // An unknown field's data is what follows its tag: for a message, the length and the body.
  const data = w.join().finish();
  return { $typeName: 'tcpstate.v1.SubscribeResponse', response: { case: undefined }, $unknown: [{ no, wireType: WireType.LengthDelimited, data }] };
}

/** StateChange's fields in field-number order, defaults left out (proto3), as toBinary writes them. */
function writeStateChange(w: BinaryWriter, e: StateChange): BinaryWriter {
  if (e.agentId !== '') w.tag(1, WireType.LengthDelimited).bytes(utf8(e.agentId));
  if (e.bootId !== '') w.tag(2, WireType.LengthDelimited).bytes(utf8(e.bootId));
  if (e.seq !== 0n) w.tag(3, WireType.Varint).uint64(e.seq);
  if (e.time) secondsNanos(w.tag(4, WireType.LengthDelimited), e.time);
  if (e.monotonicNs !== 0n) w.tag(5, WireType.Varint).uint64(e.monotonicNs);
  if (e.cookie !== 0n) w.tag(6, WireType.Varint).uint64(e.cookie);
  if (e.family !== 0) w.tag(7, WireType.Varint).int32(e.family);
  if (e.localAddress !== '') w.tag(8, WireType.LengthDelimited).bytes(utf8(e.localAddress));
  if (e.localPort !== 0) w.tag(9, WireType.Varint).uint32(e.localPort);
  if (e.remoteAddress !== '') w.tag(10, WireType.LengthDelimited).bytes(utf8(e.remoteAddress));
  if (e.remotePort !== 0) w.tag(11, WireType.Varint).uint32(e.remotePort);
  if (e.oldState !== 0) w.tag(12, WireType.Varint).int32(e.oldState);
  if (e.newState !== 0) w.tag(13, WireType.Varint).int32(e.newState);
  if (e.side !== 0) w.tag(14, WireType.Varint).int32(e.side);
  if (e.timeInOldState) secondsNanos(w.tag(15, WireType.LengthDelimited), e.timeInOldState);
  if (e.pid !== 0) w.tag(16, WireType.Varint).uint32(e.pid);
  if (e.comm !== '') w.tag(17, WireType.LengthDelimited).bytes(utf8(e.comm));
  if (e.cgroupId !== 0n) w.tag(18, WireType.Varint).uint64(e.cgroupId);
  if (e.netns !== 0) w.tag(19, WireType.Varint).uint32(e.netns);
  if (e.observedBy !== 0) w.tag(20, WireType.Varint).int32(e.observedBy);
  if (e.timeUncertainty) secondsNanos(w.tag(21, WireType.LengthDelimited), e.timeUncertainty);
  return writeUnknown(w, e);
}

/** A Timestamp or Duration as a length-delimited message (int64 seconds = 1, int32 nanos = 2). */
function secondsNanos(w: BinaryWriter, t: Timestamp | Duration): void {
  w.fork();
  if (t.seconds !== 0n) w.tag(1, WireType.Varint).int64(t.seconds);
  if (t.nanos !== 0) w.tag(2, WireType.Varint).int32(t.nanos);
  writeUnknown(w, t).join();
}

/** Fields a message carries unknown (none, for events the agent makes), written last as toBinary does. */
function writeUnknown(w: BinaryWriter, m: Message): BinaryWriter {
  if (m.$unknown) for (const { no, wireType, data } of m.$unknown) w.tag(no, wireType).raw(data);
  return w;
}

/** UTF-8 bytes of the strings events repeat, computed once each (bounded: cleared when full). */
const encoded = new Map<string, Uint8Array>();
const textEncoder = new TextEncoder();
function utf8(text: string): Uint8Array {
  let bytes = encoded.get(text);
  if (bytes === undefined) {
    if (encoded.size >= 4096) encoded.clear();
    bytes = textEncoder.encode(text);
    encoded.set(text, bytes);
  }
  return bytes;
}
