import { isIPv4, isIPv6 } from 'node:net';

import { KernelCaptureError } from './kernel-capture-error.js';

/** A server endpoint as the BPF map keys it (`struct tcpstate_endpoint`). */
export interface ServerEndpoint {
  /** 16 bytes, IPv4 mapped (::ffff:a.b.c.d); all zero for `[::]` (any address, any family). */
  address: Uint8Array;
  port: number;
}

/** sizeof(struct tcpstate_endpoint). */
export const ENDPOINT_SIZE = 20;

function parseIPv4(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  text.split('.').forEach((part, i) => (bytes[12 + i] = Number(part)));
  return bytes;
}

function parseIPv6(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let body = text;
  // A trailing dotted quad (::ffff:10.0.0.1) is two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (quad) {
    const v4 = parseIPv4(quad[1]);
    body = body.slice(0, -quad[1].length) + `${((v4[12] << 8) | v4[13]).toString(16)}:${((v4[14] << 8) | v4[15]).toString(16)}`;
  }
  const [head, tail] = body.includes('::') ? body.split('::') : [body, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[2 * i] = v >> 8;
    bytes[2 * i + 1] = v & 0xff;
  });
  return bytes;
}

/**
 * Parses `IP:PORT` or `[IPv6]:PORT` (the seed's `server_ip:server_port`).
 * `0.0.0.0:PORT` matches any local IPv4 address, `[::]:PORT` any address.
 * Throws KernelCaptureError (BAD_ENDPOINT) with one sentence otherwise.
 */
export function parseServerEndpoint(text: string): ServerEndpoint {
  const bad = (why: string) =>
    new KernelCaptureError('BAD_ENDPOINT', `Server endpoint "${text}" is not valid: ${why} (expected IP:PORT or [IPv6]:PORT).`);
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!match) throw bad('no address and port');
  const [, host, portText] = match;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be 1-65535');
  if (isIPv4(host) && !text.startsWith('[')) return { address: parseIPv4(host), port };
  if (isIPv6(host) && text.startsWith('[')) return { address: parseIPv6(host), port };
  throw bad(`"${host}" is not an IPv4 address or a bracketed IPv6 address`);
}

/** Packs endpoints into the map key layout for the addon. */
export function packEndpoints(endpoints: ServerEndpoint[]): Uint8Array {
  const packed = new Uint8Array(endpoints.length * ENDPOINT_SIZE);
  const view = new DataView(packed.buffer);
  endpoints.forEach((endpoint, i) => {
    packed.set(endpoint.address, i * ENDPOINT_SIZE);
    view.setUint16(i * ENDPOINT_SIZE + 16, endpoint.port, true);
  });
  return packed;
}
