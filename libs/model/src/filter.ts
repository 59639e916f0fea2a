// ConnectionFilter (proto/tcpstate/v1/tcp.proto) compiled into a matcher.
//
// Matching runs for every event and every subscriber, so all text is parsed
// and validated once here: states and sides become bit masks, ports a bitmap,
// addresses word-compared prefixes, the rest hash sets.
import { Side, TcpState, type ConnectionFilter } from '@tcpstate/proto';
import { CidrSet, eventIp, parseCidr, parseIp, sameIp, type Cidr, type IpAddress } from './cidr.js';
import { parseEndpoint, ParseError } from './endpoint.js';

/**
 * What a filter looks at. A StateChange has all of it; other sources (the
 * ListConnections sweep, the collector) adapt their records to it.
 */
export interface FilterableEvent {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly side: Side;
  readonly oldState: TcpState;
  readonly newState: TcpState;
  readonly netns: number;
  readonly pid: number;
  readonly comm: string;
  readonly cookie: bigint;
  /** Matched by `host`, as is `hostname`. */
  readonly agentId?: string;
  readonly hostname?: string;
}

/** An invalid filter value. `field` is its path ("include[0].port[1]"); the message starts with it. */
export class FilterError extends Error {
  override name = 'FilterError';

  constructor(
    /** Path of the offending value, e.g. "include[0].address[1]". */
    readonly field: string,
    /** What is wrong with it, without the path. */
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** include and exclude lists compiled for matching. */
export interface CompiledFilters {
  /** (no include, or any include matches) and no exclude matches. */
  matches(event: FilterableEvent): boolean;
  /** True when there is nothing to check: every event matches. */
  readonly matchesAll: boolean;
  /**
   * When set, every matching event has one of these ports at one end or the
   * other, so a dispatcher can find the filters worth testing by port
   * instead of testing them all. Undefined: any port can match.
   */
  readonly requiredPorts: readonly number[] | undefined;
}

/** Kernel comm is TASK_COMM_LEN (16) bytes including the terminating NUL. */
const COMM_MAX_BYTES = 15;
const PORT_MAX = 65535;

const tcpStates = new Set<number>(
  Object.values(TcpState).filter((v): v is number => typeof v === 'number' && v !== TcpState.UNSPECIFIED),
);
const sides = new Set<number>(Object.values(Side).filter((v): v is number => typeof v === 'number'));

/** The bit mask of an unset enum field. */
const ANY = -1;

/** Whether bit `value` is set in `mask` (values past 31 are in no mask). */
function inMask(mask: number, value: number): boolean {
  return value >>> 5 === 0 && ((mask >>> value) & 1) === 1;
}

interface ServerEndpoint {
  port: number;
  /** undefined for a wildcard ("0.0.0.0:80", "[::]:80"): any address. */
  ip: IpAddress | undefined;
}

/**
 * One ConnectionFilter, compiled. A null field is unset (matches anything).
 * Kept as one plain class rather than a list of closures so that matching is
 * a single monomorphic function V8 can inline.
 */
class CompiledFilter implements CompiledFilters {
  readonly matchesAll = false;
  addresses: CidrSet | null = null;
  /** Bitmap of 65536 ports. */
  portBits: Uint32Array | null = null;
  requiredPorts: readonly number[] | undefined = undefined;
  serverEndpoints: ServerEndpoint[] | null = null;
  /** Bit n set: Side n matches; ANY when unset. */
  sideMask = ANY;
  oldStateMask = ANY;
  newStateMask = ANY;
  netns: Set<number> | null = null;
  pids: Set<number> | null = null;
  comms: Set<string> | null = null;
  cookies: Set<bigint> | null = null;
  hosts: Set<string> | null = null;

  matches(ev: FilterableEvent): boolean {
    if (this.newStateMask !== ANY && !inMask(this.newStateMask, ev.newState)) return false;
    if (this.oldStateMask !== ANY && !inMask(this.oldStateMask, ev.oldState)) return false;
    if (this.sideMask !== ANY && !inMask(this.sideMask, ev.side)) return false;
    const ports = this.portBits;
    if (
      ports !== null &&
      (ports[ev.localPort >>> 5] & (1 << (ev.localPort & 31))) === 0 &&
      (ports[ev.remotePort >>> 5] & (1 << (ev.remotePort & 31))) === 0
    )
      return false;
    if (this.netns !== null && !this.netns.has(ev.netns)) return false;
    if (this.pids !== null && !this.pids.has(ev.pid)) return false;
    if (this.comms !== null && !this.comms.has(ev.comm)) return false;
    if (this.cookies !== null && !this.cookies.has(ev.cookie)) return false;
    if (this.hosts !== null && !this.hostMatches(ev)) return false;
    if (this.serverEndpoints !== null && !this.serverEndpointMatches(ev)) return false;
    const addresses = this.addresses;
    if (
      addresses !== null &&
      !addresses.has(eventIp(ev.localAddress, 0)) &&
      !addresses.has(eventIp(ev.remoteAddress, 1))
    )
      return false;
    return true;
  }

  private hostMatches(ev: FilterableEvent): boolean {
    const hosts = this.hosts!;
    return (
      (ev.agentId !== undefined && hosts.has(ev.agentId)) || (ev.hostname !== undefined && hosts.has(ev.hostname))
    );
  }

  /** The server end is local on the server side, remote on the client side, either when not known. */
  private serverEndpointMatches(ev: FilterableEvent): boolean {
    const side = ev.side;
    for (const endpoint of this.serverEndpoints!) {
      if (side !== Side.CLIENT && ev.localPort === endpoint.port) {
        if (endpoint.ip === undefined || sameIp(endpoint.ip, eventIp(ev.localAddress, 0))) return true;
      }
      if (side !== Side.SERVER && ev.remotePort === endpoint.port) {
        if (endpoint.ip === undefined || sameIp(endpoint.ip, eventIp(ev.remoteAddress, 1))) return true;
      }
    }
    return false;
  }
}

function compileOne(filter: ConnectionFilter, path: string): CompiledFilter {
  const compiled = new CompiledFilter();
  const fail = (field: string, index: number, problem: string): never => {
    throw new FilterError(`${path}.${field}[${index}]`, problem);
  };

  if (filter.address.length > 0) {
    const cidrs: Cidr[] = filter.address.map(
      (text, i) => parseCidr(text) ?? fail('address', i, `${JSON.stringify(text)} is not an IP address or CIDR`),
    );
    compiled.addresses = new CidrSet(cidrs);
  }

  if (filter.port.length > 0) {
    const bitmap = new Uint32Array((PORT_MAX + 1) / 32);
    filter.port.forEach((port, i) => {
      if (!Number.isInteger(port) || port < 0 || port > PORT_MAX) fail('port', i, `${port} is outside 0-${PORT_MAX}`);
      bitmap[port >>> 5] |= 1 << (port & 31);
    });
    compiled.portBits = bitmap;
  }

  if (filter.serverEndpoint.length > 0) {
    compiled.serverEndpoints = filter.serverEndpoint.map((text, i) => {
      let endpoint;
      try {
        endpoint = parseEndpoint(text);
      } catch (error) {
        if (error instanceof ParseError) return fail('server_endpoint', i, error.message);
        throw error;
      }
      const ip = parseIp(endpoint.address);
      if (!ip) return fail('server_endpoint', i, `${JSON.stringify(text)}: "${endpoint.address}" is not an IP address`);
      return { port: endpoint.port, ip: endpoint.wildcard ? undefined : ip };
    });
  }

  const mask = (field: string, values: readonly number[], valid: Set<number>, what: string): number => {
    let bits = 0;
    values.forEach((value, i) => {
      if (!valid.has(value)) fail(field, i, `${value} is not ${what}`);
      bits |= 1 << value;
    });
    return values.length > 0 ? bits : ANY;
  };
  compiled.sideMask = mask('side', filter.side, sides, 'a side');
  compiled.oldStateMask = mask('old_state', filter.oldState, tcpStates, 'a TCP state');
  compiled.newStateMask = mask('new_state', filter.newState, tcpStates, 'a TCP state');

  const uint32Set = (field: string, values: readonly number[]): Set<number> | null => {
    values.forEach((value, i) => {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) fail(field, i, `${value} is not a uint32`);
    });
    return values.length > 0 ? new Set(values) : null;
  };
  compiled.netns = uint32Set('netns', filter.netns);
  compiled.pids = uint32Set('pid', filter.pid);

  // A port list and server endpoints both restrict ports; either one will do.
  if (filter.port.length > 0) compiled.requiredPorts = [...new Set(filter.port)];
  else if (compiled.serverEndpoints !== null)
    compiled.requiredPorts = [...new Set(compiled.serverEndpoints.map((e) => e.port))];

  if (filter.comm.length > 0) {
    filter.comm.forEach((comm, i) => {
      // The kernel truncates comm: a longer name could never match.
      if (new TextEncoder().encode(comm).length > COMM_MAX_BYTES)
        fail('comm', i, `${JSON.stringify(comm)} is longer than the kernel's ${COMM_MAX_BYTES}-byte comm`);
    });
    compiled.comms = new Set(filter.comm);
  }
  if (filter.cookie.length > 0) compiled.cookies = new Set(filter.cookie);
  if (filter.host.length > 0) compiled.hosts = new Set(filter.host);
  return compiled;
}

/**
 * Compiles include/exclude filter lists (SubscribeRequest, Watch,
 * ListConnections) into a matcher, validating every value.
 *
 * @param fieldPrefix prepended to error paths, e.g. "filter" gives "filter.include[0].port[0]".
 * @throws FilterError naming the first invalid value.
 */
export function compileFilters(
  include: readonly ConnectionFilter[],
  exclude: readonly ConnectionFilter[],
  fieldPrefix = '',
): CompiledFilters {
  const prefix = fieldPrefix === '' ? '' : `${fieldPrefix}.`;
  const includes = include.map((f, i) => compileOne(f, `${prefix}include[${i}]`));
  const excludes = exclude.map((f, i) => compileOne(f, `${prefix}exclude[${i}]`));
  if (includes.length === 0 && excludes.length === 0) return matchEverything;
  // The common case, one include, is the filter itself: no layer in between.
  if (includes.length === 1 && excludes.length === 0) return includes[0];
  return new FilterList(includes, excludes);
}

const matchEverything: CompiledFilters = { matchesAll: true, matches: () => true, requiredPorts: undefined };

class FilterList implements CompiledFilters {
  readonly matchesAll = false;
  readonly requiredPorts: readonly number[] | undefined;

  constructor(
    private readonly includes: readonly CompiledFilter[],
    private readonly excludes: readonly CompiledFilter[],
  ) {
    // Ports bound the list only when every include is bound by ports.
    const bound = includes.length > 0 && includes.every((f) => f.requiredPorts !== undefined);
    this.requiredPorts = bound ? [...new Set(includes.flatMap((f) => f.requiredPorts!))] : undefined;
  }

  matches(ev: FilterableEvent): boolean {
    const includes = this.includes;
    if (includes.length > 0) {
      let included = false;
      for (let i = 0; i < includes.length; i++) {
        if (includes[i].matches(ev)) {
          included = true;
          break;
        }
      }
      if (!included) return false;
    }
    const excludes = this.excludes;
    for (let i = 0; i < excludes.length; i++) if (excludes[i].matches(ev)) return false;
    return true;
  }
}
