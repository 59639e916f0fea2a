// ConnectionFilter lists (tcp.proto) as an SQL condition on a connection row
// aliased `c`. Every field is expressible in SQL, CIDR prefixes included
// (address keys, see address-key.ts), so paging and aggregates stay in the
// database. Values are validated by libs/model's compileFilters first, so a
// bad value gets the same message as on an agent's Subscribe.
//
// On a connection (rather than on one event), old_state/new_state match when
// any of its transitions left/entered one of the states listed.
import { compileFilters, FilterError, parseCidr, parseEndpoint, parseIp } from '@tcpstate/model';
import { type ConnectionFilter, Side } from '@tcpstate/proto';
import { addressKey, cidrKeyRange, toInt64 } from './address-key.js';
import { stateMask } from './connection-builder.js';
import { InvalidQueryError } from './errors.js';
import { join, list, raw, type Sql, sql } from './sql.js';

/** The condition for (any include matches, or none given) and no exclude matches. */
export function filtersToSql(include: readonly ConnectionFilter[], exclude: readonly ConnectionFilter[]): Sql {
  try {
    compileFilters(include, exclude);
  } catch (error) {
    if (error instanceof FilterError) throw new InvalidQueryError(error.message);
    throw error;
  }
  const parts: Sql[] = [];
  if (include.length > 0) parts.push(sql`(${join(include.map(filterToSql), ' OR ')})`);
  for (const filter of exclude) parts.push(sql`NOT ${filterToSql(filter)}`);
  return parts.length > 0 ? join(parts, ' AND ') : raw('1 = 1');
}

/** Whether no filter narrows anything: queries can skip joining connections. */
export function filtersAreEmpty(include: readonly ConnectionFilter[], exclude: readonly ConnectionFilter[]): boolean {
  return include.length === 0 && exclude.length === 0;
}

/** The agent ids and host names a filter list restricts to, or undefined when some include names no host. */
export function hostsOf(include: readonly ConnectionFilter[]): string[] | undefined {
  if (include.length === 0 || include.some((f) => f.host.length === 0)) return undefined;
  return [...new Set(include.flatMap((f) => f.host))];
}

/** One filter: every field that is set must match. Always parenthesised. */
function filterToSql(f: ConnectionFilter): Sql {
  const clauses: Sql[] = [];
  if (f.address.length > 0) {
    const any = f.address.map((text) => {
      const [low, high] = cidrKeyRange(parseCidr(text)!);
      return low.equals(high)
        ? sql`(c.local_key = ${low} OR c.remote_key = ${low})`
        : sql`(c.local_key BETWEEN ${low} AND ${high} OR c.remote_key BETWEEN ${low} AND ${high})`;
    });
    clauses.push(sql`(${join(any, ' OR ')})`);
  }
  if (f.port.length > 0) clauses.push(sql`(c.local_port IN ${list(f.port)} OR c.remote_port IN ${list(f.port)})`);
  if (f.serverEndpoint.length > 0) clauses.push(sql`(${join(f.serverEndpoint.map(serverEndpointSql), ' OR ')})`);
  if (f.side.length > 0) clauses.push(sql`c.side IN ${list(f.side)}`);
  if (f.oldState.length > 0) clauses.push(sql`(c.left_states & ${stateMask(f.oldState)}) <> 0`);
  if (f.newState.length > 0) clauses.push(sql`(c.entered_states & ${stateMask(f.newState)}) <> 0`);
  if (f.netns.length > 0) clauses.push(sql`c.netns IN ${list(f.netns)}`);
  if (f.pid.length > 0) clauses.push(sql`c.pid IN ${list(f.pid)}`);
  if (f.comm.length > 0) clauses.push(sql`c.comm IN ${list(f.comm)}`);
  if (f.cookie.length > 0) clauses.push(sql`c.cookie IN ${list(f.cookie.map(toInt64))}`);
  if (f.host.length > 0) {
    // Unary +: a host's runs are a range of the primary key, which the planner
    // would otherwise walk whole (every connection the host ever had) instead
    // of the window's time ranges (0.27 s a query at 10 million events, BENCHMARKS.md).
    clauses.push(
      sql`+c.run_id IN (SELECT hr.run_id FROM runs hr WHERE hr.agent_id IN ${list(f.host)}
        OR hr.agent_id IN (SELECT hh.agent_id FROM hosts hh WHERE hh.hostname IN ${list(f.host)}))`,
    );
  }
  return clauses.length > 0 ? sql`(${join(clauses, ' AND ')})` : raw('(1 = 1)');
}

/** The connection's server end is this endpoint: local on a server, remote on a client, either when unknown. */
function serverEndpointSql(text: string): Sql {
  const endpoint = parseEndpoint(text);
  const key = endpoint.wildcard ? null : addressKey(parseIp(endpoint.address) ? endpoint.address : '');
  const local = key ? sql`c.local_port = ${endpoint.port} AND c.local_key = ${key}` : sql`c.local_port = ${endpoint.port}`;
  const remote = key
    ? sql`c.remote_port = ${endpoint.port} AND c.remote_key = ${key}`
    : sql`c.remote_port = ${endpoint.port}`;
  return sql`((c.side <> ${Side.CLIENT} AND ${local}) OR (c.side <> ${Side.SERVER} AND ${remote}))`;
}
