// StateChange decoding for the collector's hot path. protobuf-es decodes by
// reflection over the schema (a generic loop, create() per message); at tens
// of thousands of events a second that was a third of the collector's main
// thread. This decoder is written for the one message and makes the same
// objects (equal by protobuf-es's equals(), checked field by field against
// the schema in its test, so a field added to tcp.proto fails that test until
// it is decoded here too).
import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { StateChange } from '@tcpstate/proto';

/** The StateChanges of an EventBatch's bytes (field 1: repeated StateChange). */
export function decodeEventBatch(bytes: Uint8Array): StateChange[] {
  const reader = new BinaryReader(bytes);
  const events: StateChange[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) events.push(readStateChange(reader, reader.uint32() + reader.pos));
    else reader.skip(wireType, field);
  }
  return events;
}

/** One StateChange's bytes. */
export function decodeStateChange(bytes: Uint8Array): StateChange {
  const reader = new BinaryReader(bytes);
  return readStateChange(reader, reader.len);
}

function readStateChange(r: BinaryReader, end: number): StateChange {
  // Every field present from the start (one object shape); unset messages stay undefined, as protobuf-es leaves them unset.
  const m: StateChange = {
    $typeName: 'tcpstate.v1.StateChange',
    agentId: '', bootId: '', seq: 0n, time: undefined, monotonicNs: 0n, cookie: 0n, family: 0,
    localAddress: '', localPort: 0, remoteAddress: '', remotePort: 0, oldState: 0, newState: 0, side: 0,
    timeInOldState: undefined, pid: 0, comm: '', cgroupId: 0n, netns: 0, observedBy: 0, timeUncertainty: undefined,
  };
  while (r.pos < end) {
    const [field, wireType] = r.tag();
    switch (field) {
      case 1: m.agentId = r.string(); break;
      case 2: m.bootId = r.string(); break;
      case 3: m.seq = BigInt(r.uint64()); break;
      case 4: m.time = readSecondsNanos(r, 'google.protobuf.Timestamp') as Timestamp; break;
      case 5: m.monotonicNs = BigInt(r.uint64()); break;
      case 6: m.cookie = BigInt(r.uint64()); break;
      case 7: m.family = r.int32(); break;
      case 8: m.localAddress = r.string(); break;
      case 9: m.localPort = r.uint32(); break;
      case 10: m.remoteAddress = r.string(); break;
      case 11: m.remotePort = r.uint32(); break;
      case 12: m.oldState = r.int32(); break;
      case 13: m.newState = r.int32(); break;
      case 14: m.side = r.int32(); break;
      case 15: m.timeInOldState = readSecondsNanos(r, 'google.protobuf.Duration') as Duration; break;
      case 16: m.pid = r.uint32(); break;
      case 17: m.comm = r.string(); break;
      case 18: m.cgroupId = BigInt(r.uint64()); break;
      case 19: m.netns = r.uint32(); break;
      case 20: m.observedBy = r.int32(); break;
      case 21: m.timeUncertainty = readSecondsNanos(r, 'google.protobuf.Duration') as Duration; break;
      default: r.skip(wireType, field); // a field of a newer agent: not stored by this collector
    }
  }
  return m;
}

/** A Timestamp or Duration (both: int64 seconds = 1, int32 nanos = 2). */
function readSecondsNanos(r: BinaryReader, typeName: string): Timestamp | Duration {
  const end = r.uint32() + r.pos;
  let seconds = 0n;
  let nanos = 0;
  while (r.pos < end) {
    const [field, wireType] = r.tag();
    if (field === 1) seconds = BigInt(r.int64());
    else if (field === 2) nanos = r.int32();
    else r.skip(wireType, field);
  }
  return { $typeName: typeName, seconds, nanos } as Timestamp | Duration;
}
