/**
 * The record layout of bpf/tcpstate.h (`struct tcpstate_record`), decoded
 * with a DataView. record-layout.test.ts checks every offset here against the
 * compiled object's BTF, so a change on one side cannot go unnoticed.
 */

/** Byte offsets of the fields of `struct tcpstate_record` (little-endian host). */
export const RECORD_LAYOUT = {
  kind: 0,
  version: 1,
  size: 2,
  ktimeNs: 8,
  cookie: 16,
  timeInOldStateNs: 24,
  uncertaintyNs: 32,
  cgroupId: 40,
  localAddr: 48,
  remoteAddr: 64,
  netns: 80,
  pid: 84,
  localPort: 88,
  remotePort: 90,
  family: 92,
  oldState: 93,
  newState: 94,
  side: 95,
  observedBy: 96,
  flags: 97,
  comm: 104,
} as const;

/** sizeof(struct tcpstate_record). */
export const RECORD_SIZE = 120;
export const COMM_LENGTH = 16;
export const RECORD_VERSION = 1;

/** `enum tcpstate_record_kind`. */
export const RecordKind = { TRANSITION: 1, SOCKET: 2 } as const;

/** `enum tcpstate_record_flags`. */
export const RecordFlag = { TIME_IN_OLD_STATE: 1, ABORT: 2, SIDE_FROM_ENDPOINT: 4 } as const;

/** One record as the kernel wrote it (addresses as text, times as bigint ns). */
export interface RawRecord {
  kind: number;
  ktimeNs: bigint;
  cookie: bigint;
  timeInOldStateNs: bigint;
  uncertaintyNs: bigint;
  cgroupId: bigint;
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  netns: number;
  pid: number;
  oldState: number;
  newState: number;
  side: 0 | 1 | 2;
  observedBy: number;
  flags: number;
  comm: string;
}

/** Formats a 16-byte address: IPv4 is carried mapped (::ffff:a.b.c.d). */
export function formatAddress(bytes: Uint8Array, family: 4 | 6): string {
  if (family === 4) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

const textDecoder = new TextDecoder();

function readComm(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return textDecoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Decodes the record at `offset` of `view`. */
export function decodeRecord(view: DataView, offset: number): RawRecord {
  const L = RECORD_LAYOUT;
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, RECORD_SIZE);
  const family = view.getUint8(offset + L.family) === 6 ? 6 : 4;
  const side = view.getUint8(offset + L.side);
  return {
    kind: view.getUint8(offset + L.kind),
    ktimeNs: view.getBigUint64(offset + L.ktimeNs, true),
    cookie: view.getBigUint64(offset + L.cookie, true),
    timeInOldStateNs: view.getBigUint64(offset + L.timeInOldStateNs, true),
    uncertaintyNs: view.getBigUint64(offset + L.uncertaintyNs, true),
    cgroupId: view.getBigUint64(offset + L.cgroupId, true),
    family,
    localAddress: formatAddress(bytes.subarray(L.localAddr, L.localAddr + 16), family),
    localPort: view.getUint16(offset + L.localPort, true),
    remoteAddress: formatAddress(bytes.subarray(L.remoteAddr, L.remoteAddr + 16), family),
    remotePort: view.getUint16(offset + L.remotePort, true),
    netns: view.getUint32(offset + L.netns, true),
    pid: view.getUint32(offset + L.pid, true),
    oldState: view.getUint8(offset + L.oldState),
    newState: view.getUint8(offset + L.newState),
    side: side === 1 || side === 2 ? side : 0,
    observedBy: view.getUint8(offset + L.observedBy),
    flags: view.getUint8(offset + L.flags),
    comm: readComm(bytes.subarray(L.comm, L.comm + COMM_LENGTH)),
  };
}

/** Decodes every record of a batch (a whole number of records). */
export function decodeRecords(buffer: ArrayBuffer): RawRecord[] {
  const view = new DataView(buffer);
  const count = Math.floor(buffer.byteLength / RECORD_SIZE);
  const records = new Array<RawRecord>(count);
  for (let i = 0; i < count; i++) records[i] = decodeRecord(view, i * RECORD_SIZE);
  return records;
}
