// IP addresses and CIDR prefixes as 32-bit words, so that filters compare
// numbers per event instead of parsing or comparing text.
//
// Pure TypeScript (no node:net) so the browser timeline page can use it too.

/**
 * An IP address as four 32-bit words, most significant first (unsigned).
 * IPv4 addresses and IPv4-mapped IPv6 addresses ("::ffff:10.0.0.1") are both
 * family 4, with the address in `w3` and `w0..w2` zero: the kernel reports a
 * v4 peer of a dual-stack socket in the mapped form, and a filter written as
 * "10.0.0.0/8" means it too.
 */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** A CIDR prefix ("10.0.0.0/8", "fd00::/8"); a plain address is a full-length prefix. */
export interface Cidr {
  readonly family: 4 | 6;
  /** Prefix length: 0-32 for family 4, 0-128 for family 6. */
  readonly prefix: number;
  /** The network, with the host bits cleared (unsigned words, as in IpAddress). */
  readonly network: IpAddress;
  /**
   * Only for family 6: the prefix also covers the whole IPv4-mapped range
   * ::ffff:0:0/96 (e.g. "::/0"), so it matches every IPv4 address too.
   */
  readonly coversIpv4: boolean;
}

const V4_MAPPED_W2 = 0x0000ffff;

function makeIp(w0: number, w1: number, w2: number, w3: number): IpAddress {
  if (w0 === 0 && w1 === 0 && w2 === V4_MAPPED_W2) return { family: 4, w0: 0, w1: 0, w2: 0, w3 };
  return { family: 6, w0, w1, w2, w3 };
}

/** Parses dotted-quad IPv4 text into an unsigned 32-bit number; -1 when it is not one. */
function parseIpv4Word(text: string, start: number, end: number): number {
  let word = 0;
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 /* '.' */ : text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octets === 4) return -1;
      word = word * 256 + value;
      octets++;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // A leading zero ("010") is octal to some parsers and decimal to others: refuse it.
      if (digits === 1 && value === 0) return -1;
      value = value * 10 + (c - 48);
      digits++;
      if (value > 255) return -1;
    } else {
      return -1;
    }
  }
  return octets === 4 ? word : -1;
}

/** Parses colon-separated hex groups (no "::") into `out`; false when malformed. */
function parseHexGroups(text: string, out: number[]): boolean {
  if (text === '') return true;
  for (const group of text.split(':')) {
    if (group.length === 0 || group.length > 4 || !/^[0-9a-fA-F]+$/.test(group)) return false;
    out.push(parseInt(group, 16));
  }
  return true;
}

function parseIpv6(text: string): IpAddress | undefined {
  // An embedded dotted quad at the end ("::ffff:10.0.0.1") counts as two groups.
  let tail: number[] = [];
  let body = text;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    const v4 = parseIpv4Word(text, lastColon + 1, text.length);
    if (v4 < 0) return undefined;
    tail = [v4 >>> 16, v4 & 0xffff];
    // Keep the colon before the quad only when it is half of a "::".
    body = text.slice(0, text[lastColon - 1] === ':' ? lastColon + 1 : lastColon);
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const head: number[] = [];
  const rest: number[] = [];
  if (!parseHexGroups(halves[0], head)) return undefined;
  if (halves.length === 2 && !parseHexGroups(halves[1], rest)) return undefined;
  rest.push(...tail);
  const given = head.length + rest.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...rest];
  const word = (i: number) => ((groups[2 * i] << 16) | groups[2 * i + 1]) >>> 0;
  return makeIp(word(0), word(1), word(2), word(3));
}

/**
 * Parses "10.0.0.1", "fd00::1" or "::ffff:10.0.0.1"; undefined for anything
 * else (host names, zone ids, leading zeros, empty text).
 */
export function parseIp(text: string): IpAddress | undefined {
  // IPv4 first: the common case, and it fails fast on the first ':'.
  const v4 = parseIpv4Word(text, 0, text.length);
  if (v4 >= 0) return { family: 4, w0: 0, w1: 0, w2: 0, w3: v4 };
  return text.includes(':') ? parseIpv6(text) : undefined;
}

/** The mask for `bits` leading ones of a 32-bit word (unsigned). */
function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** The masks of a prefix of `prefix` bits over four words (family 6) or w3 (family 4). */
function prefixMasks(family: 4 | 6, prefix: number): [number, number, number, number] {
  if (family === 4) return [0, 0, 0, wordMask(prefix)];
  return [wordMask(prefix), wordMask(prefix - 32), wordMask(prefix - 64), wordMask(prefix - 96)];
}

/**
 * Parses "10.0.0.0/8", "fd00::/16", "::ffff:10.0.0.0/104" or a plain address
 * (a full-length prefix). Host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8).
 * IPv4-mapped prefixes of at least /96 become the IPv4 prefix they cover.
 * Undefined when the text is not one.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!address) return undefined;
  const writtenAsV6 = text.slice(0, slash === -1 ? text.length : slash).includes(':');
  const maxPrefix = writtenAsV6 ? 128 : 32;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const bits = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(bits) || Number(bits) > maxPrefix) return undefined;
    prefix = Number(bits);
  }
  if (writtenAsV6 && address.family === 4) {
    // "::ffff:a.b.c.d/N" was parsed into its IPv4 form already.
    if (prefix >= 96) return cidrOf(4, prefix - 96, address);
    return cidrOf(6, prefix, { family: 6, w0: 0, w1: 0, w2: V4_MAPPED_W2, w3: address.w3 });
  }
  return cidrOf(address.family, prefix, address);
}

function cidrOf(family: 4 | 6, prefix: number, address: IpAddress): Cidr {
  const [m0, m1, m2, m3] = prefixMasks(family, prefix);
  const network: IpAddress = {
    family,
    w0: (address.w0 & m0) >>> 0,
    w1: (address.w1 & m1) >>> 0,
    w2: (address.w2 & m2) >>> 0,
    w3: (address.w3 & m3) >>> 0,
  };
  // A short v6 prefix such as ::/0 or ::/80 also contains every ::ffff:a.b.c.d.
  const coversIpv4 =
    family === 6 && prefix <= 96 && network.w0 === 0 && network.w1 === 0 && (V4_MAPPED_W2 & m2) === network.w2;
  return { family, prefix, network, coversIpv4 };
}

/** "10.0.0.0/8", "fd00::/16": the prefix in its canonical text form. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.network)}/${cidr.prefix}`;
}

/** "10.0.0.1" or the RFC 5952 form of an IPv6 address ("fd00::1"). */
export function formatIp(ip: IpAddress): string {
  const w3 = ip.w3;
  if (ip.family === 4) return `${w3 >>> 24}.${(w3 >>> 16) & 255}.${(w3 >>> 8) & 255}.${w3 & 255}`;
  const groups = [ip.w0, ip.w1, ip.w2, w3].flatMap((w) => [w >>> 16, w & 0xffff]);
  // Compress the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

const EXACT_SET_THRESHOLD = 16;

/**
 * A set of CIDR prefixes compiled for matching: IPv4 and IPv6 prefixes as
 * flat arrays of words and masks (signed 32-bit, the form `&` produces), so a
 * match is a few integer compares; many exact IPv4 addresses go in a hash set.
 */
export class CidrSet {
  /** Exact IPv4 addresses when there are many (a few are cheaper as /32 prefixes). */
  private readonly v4Exact: Set<number> | null;
  private readonly v4Networks: Int32Array;
  private readonly v4Masks: Int32Array;
  /** Four words of network then four words of mask per prefix. */
  private readonly v6: Int32Array;
  private readonly allV4: boolean;

  constructor(cidrs: readonly Cidr[]) {
    let v4 = cidrs.filter((c) => c.family === 4);
    const v6 = cidrs.filter((c) => c.family === 6);
    const exact = v4.filter((c) => c.prefix === 32);
    if (exact.length > EXACT_SET_THRESHOLD) {
      this.v4Exact = new Set(exact.map((c) => c.network.w3));
      v4 = v4.filter((c) => c.prefix !== 32);
    } else {
      this.v4Exact = null;
    }
    this.v4Networks = Int32Array.from(v4, (c) => c.network.w3 | 0);
    this.v4Masks = Int32Array.from(v4, (c) => prefixMasks(4, c.prefix)[3] | 0);
    this.v6 = new Int32Array(v6.length * 8);
    v6.forEach((c, i) => {
      const n = c.network;
      this.v6.set([n.w0, n.w1, n.w2, n.w3, ...prefixMasks(6, c.prefix)], i * 8);
    });
    this.allV4 = v6.some((c) => c.coversIpv4);
  }

  /** Whether `ip` lies in any of the prefixes (false for undefined). */
  has(ip: IpAddress | undefined): boolean {
    if (ip === undefined) return false;
    if (ip.family === 4) {
      if (this.allV4 || (this.v4Exact !== null && this.v4Exact.has(ip.w3))) return true;
      const w3 = ip.w3;
      const networks = this.v4Networks;
      const masks = this.v4Masks;
      for (let i = 0; i < networks.length; i++) if ((w3 & masks[i]) === networks[i]) return true;
      return false;
    }
    const v6 = this.v6;
    for (let i = 0; i < v6.length; i += 8) {
      if (
        (ip.w0 & v6[i + 4]) === v6[i] &&
        (ip.w1 & v6[i + 5]) === v6[i + 1] &&
        (ip.w2 & v6[i + 6]) === v6[i + 2] &&
        (ip.w3 & v6[i + 7]) === v6[i + 3]
      )
        return true;
    }
    return false;
  }
}

/** Whether two addresses are the same (IPv4-mapped and plain IPv4 are the same). */
export function sameIp(a: IpAddress | undefined, b: IpAddress | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return a.family === b.family && a.w0 === b.w0 && a.w1 === b.w1 && a.w2 === b.w2 && a.w3 === b.w3;
}

// Event addresses arrive as text. Every subscriber's filter looks at the same
// event in turn, so remembering the last text parsed per slot turns all but
// the first parse into one string compare; the small table catches the
// replay case, where consecutive events alternate between a few hosts.
const CACHE_LIMIT = 4096;
const cache = new Map<string, IpAddress | null>();
let lastText0 = '';
let lastIp0: IpAddress | undefined;
let lastText1 = '';
let lastIp1: IpAddress | undefined;

function cachedParse(text: string): IpAddress | undefined {
  let ip = cache.get(text);
  if (ip === undefined) {
    ip = parseIp(text) ?? null;
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, ip);
  }
  return ip ?? undefined;
}

/**
 * parseIp for event addresses, memoized: `slot` 0 for local and 1 for remote
 * addresses keeps the two from evicting each other.
 */
export function eventIp(text: string, slot: 0 | 1): IpAddress | undefined {
  if (slot === 0) {
    if (text !== lastText0) {
      lastText0 = text;
      lastIp0 = cachedParse(text);
    }
    return lastIp0;
  }
  if (text !== lastText1) {
    lastText1 = text;
    lastIp1 = cachedParse(text);
  }
  return lastIp1;
}
