import type { Http2ServerResponse } from 'node:http2';
import type { ServerResponse } from 'node:http';

/**
 * Re-encodes `grpc-message` the way the gRPC spec asks: percent-encode only
 * bytes outside printable ASCII, and '%'. Connect encodes with
 * encodeURIComponent, which also escapes ':', '/', ',' ...; grpc-js decodes
 * with decodeURI, which leaves those escaped, so grpc-js users would read
 * "since_seq%3A 7". Every decoder accepts the spec's minimal form.
 */
export function specGrpcMessage(value: string): string {
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return value;
  }
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

type HeaderBag = Record<string, string | string[] | number | undefined>;

function fix(headers: HeaderBag | undefined): void {
  const value = headers?.['grpc-message'];
  if (typeof value === 'string') headers!['grpc-message'] = specGrpcMessage(value);
}

/** Wraps a response so grpc-message in headers (trailers-only) and trailers is spec-encoded. */
export function withSpecGrpcMessage<R extends Http2ServerResponse | ServerResponse>(res: R): R {
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: HeaderBag) => R;
  const addTrailers = res.addTrailers.bind(res) as (headers: HeaderBag) => void;
  (res as unknown as { writeHead: typeof writeHead }).writeHead = (status, headers) => {
    fix(headers);
    return writeHead(status, headers);
  };
  (res as unknown as { addTrailers: typeof addTrailers }).addTrailers = (headers) => {
    fix(headers);
    addTrailers(headers);
  };
  return res;
}
