// The API's ConnectionFilter as command-line flags: --port 80 --side client
// select (all given must match; a repeated flag matches any of its values),
// --exclude-port 22 --exclude-comm sshd leave out (each exclude flag is its
// own filter: an event matching any of them is left out).
import { create } from '@bufbuild/protobuf';
import { type OptionSpec, parseInteger } from '@tcpstate/config';
import { parseCidr, parseEndpoint, parsePort, parseState } from '@tcpstate/model';
import { type ConnectionFilter, ConnectionFilterSchema, Side } from '@tcpstate/proto';

type FilterField = 'address' | 'port' | 'serverEndpoint' | 'side' | 'newState' | 'oldState' | 'netns' | 'pid' | 'comm' | 'cookie' | 'host';

interface FilterFlag {
  /** Flag name without --, also the suffix of its --exclude- twin. */
  flag: string;
  field: FilterField;
  value: string;
  description: string;
  parse: (text: string) => unknown;
}

function parseSide(text: string): Side {
  const t = text.trim().toLowerCase();
  if (t === 'client') return Side.CLIENT;
  if (t === 'server') return Side.SERVER;
  if (t === 'unknown') return Side.UNSPECIFIED;
  throw new Error(`"${text}" is not a side (client, server or unknown)`);
}

function parseStateFlag(text: string): number {
  const state = parseState(text);
  if (state === undefined) throw new Error(`"${text}" is not a TCP state (e.g. ESTABLISHED, TIME_WAIT)`);
  return state;
}

function parseCookie(text: string): bigint {
  if (!/^\d+$/.test(text.trim()) || BigInt(text) >= 1n << 64n) throw new Error(`"${text}" is not a socket cookie (a whole number)`);
  return BigInt(text);
}

const filterFlags: FilterFlag[] = [
  { flag: 'address', field: 'address', value: 'IP|CIDR', description: 'Either end has this address', parse: (t) => (parseCidr(t) ? t : fail(`"${t}" is not an IP address or CIDR prefix`)) },
  { flag: 'port', field: 'port', value: 'PORT', description: 'Either end has this port', parse: (t) => parsePort(t) },
  { flag: 'server-endpoint', field: 'serverEndpoint', value: 'IP:PORT', description: 'The server end is this endpoint (0.0.0.0:PORT: any address)', parse: (t) => (parseEndpoint(t), t) },
  { flag: 'side', field: 'side', value: 'SIDE', description: 'client, server or unknown', parse: parseSide },
  { flag: 'state', field: 'newState', value: 'STATE', description: 'The transition goes to this state (e.g. TIME_WAIT)', parse: parseStateFlag },
  { flag: 'old-state', field: 'oldState', value: 'STATE', description: 'The transition leaves this state', parse: parseStateFlag },
  { flag: 'netns', field: 'netns', value: 'INODE', description: 'Network namespace inode', parse: (t) => parseInteger(t, 0, 0xffffffff) },
  { flag: 'pid', field: 'pid', value: 'PID', description: 'Process id', parse: (t) => parseInteger(t, 0, 0xffffffff) },
  { flag: 'comm', field: 'comm', value: 'NAME', description: 'Process name (the kernel\'s 15-character comm)', parse: (t) => (Buffer.byteLength(t) <= 15 ? t : fail(`"${t}" is longer than the kernel's 15-byte comm`)) },
  { flag: 'cookie', field: 'cookie', value: 'N', description: 'Socket cookie', parse: parseCookie },
];

const hostFlag: FilterFlag = { flag: 'host', field: 'host', value: 'ID|NAME', description: 'Agent id or host name (collector only)', parse: (t) => t };

function fail(message: string): never {
  throw new Error(message);
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The filter flags and their --exclude- twins; `host` adds --host (collector queries). */
export function filterOptions(options: { host?: boolean } = {}): OptionSpec[] {
  const flags = options.host ? [...filterFlags, hostFlag] : filterFlags;
  return [
    ...flags.map((f) => ({ name: f.flag, value: f.value, description: f.description, parse: f.parse, repeatable: true, env: null })),
    ...flags.map((f) => ({ name: `exclude-${f.flag}`, value: f.value, description: `Leave out: ${f.description.charAt(0).toLowerCase()}${f.description.slice(1)}`, parse: f.parse, repeatable: true, env: null })),
  ];
}

/** include (at most one filter: every flag given must match) and exclude (one filter per --exclude- flag). */
export function buildFilters(values: Record<string, unknown>): { include: ConnectionFilter[]; exclude: ConnectionFilter[] } {
  const include = create(ConnectionFilterSchema);
  let any = false;
  const exclude: ConnectionFilter[] = [];
  for (const f of [...filterFlags, hostFlag]) {
    const given = (values[camel(f.flag)] as unknown[] | undefined) ?? [];
    if (given.length > 0) {
      (include[f.field] as unknown[]).push(...given);
      any = true;
    }
    const excluded = (values[camel(`exclude-${f.flag}`)] as unknown[] | undefined) ?? [];
    if (excluded.length > 0) {
      const filter = create(ConnectionFilterSchema);
      (filter[f.field] as unknown[]).push(...excluded);
      exclude.push(filter);
    }
  }
  return { include: any ? [include] : [], exclude };
}
