// Addresses are stored twice on a connection row: as the agent's text (shown
// to users) and as a 16-byte key used for matching. The key is the IPv6 form,
// with IPv4 as its IPv4-mapped address (::ffff:a.b.c.d), so "10.0.0.1" and
// "::ffff:10.0.0.1" are one key, equality finds mirrored peers, and a CIDR
// prefix is a byte range (BLOB/bytea compare bytewise in both databases).
import { type Cidr, type IpAddress, parseIp } from '@tcpstate/model';

function wordsToKey(w0: number, w1: number, w2: number, w3: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(w0 >>> 0, 0);
  key.writeUInt32BE(w1 >>> 0, 4);
  key.writeUInt32BE(w2 >>> 0, 8);
  key.writeUInt32BE(w3 >>> 0, 12);
  return key;
}

function ipKey(ip: IpAddress): Buffer {
  return ip.family === 4 ? wordsToKey(0, 0, 0xffff, ip.w3) : wordsToKey(ip.w0, ip.w1, ip.w2, ip.w3);
}

/** The matching key of an address text; null when the text is no address (e.g. empty). */
export function addressKey(text: string): Buffer | null {
  const ip = text === '' ? undefined : parseIp(text);
  return ip ? ipKey(ip) : null;
}

/** Answers of isUnknownAddress: ingest asks for every event, and a host has few addresses. */
const unknownAddresses = new Map<string, boolean>();

/** Whether an address text is missing or the unspecified address (0.0.0.0, ::). */
export function isUnknownAddress(text: string): boolean {
  let unknown = unknownAddresses.get(text);
  if (unknown === undefined) {
    const key = addressKey(text);
    unknown = key === null || key.equals(UNSPECIFIED_V4) || key.equals(UNSPECIFIED_V6);
    if (unknownAddresses.size >= 10_000) unknownAddresses.clear();
    unknownAddresses.set(text, unknown);
  }
  return unknown;
}

const UNSPECIFIED_V4 = wordsToKey(0, 0, 0xffff, 0);
const UNSPECIFIED_V6 = wordsToKey(0, 0, 0, 0);

/** The inclusive key range [low, high] of a CIDR prefix. */
export function cidrKeyRange(cidr: Cidr): [Buffer, Buffer] {
  const n = cidr.network;
  if (cidr.family === 4) {
    const hostBits = 32 - cidr.prefix;
    const high = hostBits === 32 ? 0xffffffff : (n.w3 | ((2 ** hostBits - 1) >>> 0)) >>> 0;
    return [wordsToKey(0, 0, 0xffff, n.w3), wordsToKey(0, 0, 0xffff, high)];
  }
  const words = [n.w0, n.w1, n.w2, n.w3];
  const high = words.map((w, i) => {
    const bits = Math.min(32, Math.max(0, cidr.prefix - 32 * i)); // prefix bits inside word i
    const hostMask = bits === 32 ? 0 : bits === 0 ? 0xffffffff : (0xffffffff >>> bits) >>> 0;
    return (w | hostMask) >>> 0;
  });
  return [wordsToKey(n.w0, n.w1, n.w2, n.w3), wordsToKey(high[0], high[1], high[2], high[3])];
}

// Cookies are uint64 in the contract; both databases hold signed 64-bit
// integers. Reinterpreting the bits keeps every cookie exact and unique.

/** A uint64 as the signed 64-bit integer with the same bits. */
export function toInt64(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

/** Back from toInt64. */
export function fromInt64(value: bigint): bigint {
  return BigInt.asUintN(64, value);
}
