import { isIP } from 'node:net';

/** A server endpoint such as the seed's server_ip:server_port. */
export interface Endpoint {
  address: string;
  family: 4 | 6;
  port: number;
  /** Bound to INADDR_ANY or "::": matches any local address. */
  wildcard: boolean;
}

/** Thrown for text that is not what it claims to be; the message names the input. */
export class ParseError extends Error {
  override name = 'ParseError';
}

/** Parses "10.0.0.1:80", "0.0.0.0:80", "[fd00::1]:443" or "[::]:443". */
export function parseEndpoint(text: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new ParseError(`"${text}" is not an endpoint: expected IP:PORT or [IPv6]:PORT`);
  const address = m[1];
  const family = isIP(address);
  if (family === 0) throw new ParseError(`"${text}": "${address}" is not an IP address`);
  const port = parsePort(m[2], text);
  const wildcard = address === '0.0.0.0' || address === '::' || /^[0:]+$/.test(address);
  return { address, family: family as 4 | 6, port, wildcard };
}

/** Parses a TCP port 1..65535 (0 is not a port anyone can listen on). */
export function parsePort(text: string, context = text): number {
  if (!/^\d+$/.test(text.trim())) throw new ParseError(`"${context}": "${text}" is not a port number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new ParseError(`"${context}": port ${port} is outside 1-65535`);
  return port;
}

/** "[fd00::1]:443" or "10.0.0.1:80". */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
