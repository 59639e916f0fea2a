import { isIP } from 'node:net';

/** A listen address such as "0.0.0.0:4270" or "[::1]:4270". */
export interface ListenAddress {
  host: string;
  port: number;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "15s", "2m", "7d", "1h30m" -> milliseconds. */
export function parseDuration(text: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text.trim()) {
    throw new Error(`"${text}" is not a duration (examples: 500ms, 15s, 2m, 7d)`);
  }
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * durationUnits[unit], 0);
}

const sizeUnits: Record<string, number> = { '': 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** "65536", "64MiB", "8M", "1GiB" -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? sizeUnits[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`"${text}" is not a size (examples: 65536, 64MiB, 8M)`);
  return Math.round(Number(m[1]) * unit);
}

/** "HOST:PORT", "[IPv6]:PORT" or ":PORT" (all addresses). Port 0 picks a free port. */
export function parseListen(text: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]*):(\d+)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a listen address (expected HOST:PORT or [IPv6]:PORT)`);
  const host = m[1] === '' ? '0.0.0.0' : m[1];
  if (m[0].startsWith('[') && isIP(host) !== 6) throw new Error(`"${text}": "${host}" is not an IPv6 address`);
  if (!isIP(host) && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(host)) {
    throw new Error(`"${text}": "${host}" is not an IP address or host name`);
  }
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`"${text}": port ${port} is outside 0-65535`);
  return { host, port };
}

/** "127.0.0.1:4270" or "[::1]:4270". */
export function formatListen({ host, port }: ListenAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A whole number within [min, max]. */
export function parseInteger(text: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim())) throw new Error(`"${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new Error(`${n} is outside ${min}-${max}`);
  return n;
}

export function parseBoolean(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  throw new Error(`"${text}" is not true or false`);
}

/** A stream compression an option can ask for: none, or gzip (the one every gRPC implementation has). */
export type Compression = 'none' | 'gzip';

/** "none" or "gzip" (any case). */
export function parseCompression(text: string): Compression {
  const value = text.trim().toLowerCase();
  if (value === 'none' || value === 'gzip') return value;
  throw new Error(`"${text}" is not a compression (none or gzip)`);
}
