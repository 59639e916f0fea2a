// Page tokens for keyset paging: the sort key of the last connection returned,
// bound to the query's filters and signed with a key kept in the database, so
// a token altered by a client, or issued by another store, is refused rather
// than silently answering something else. The window is deliberately not
// bound: a caller whose window ends "now" recomputes it for every page.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { toJson } from '@bufbuild/protobuf';
import { type ConnectionFilter, ConnectionFilterSchema } from '@tcpstate/proto';
import { InvalidQueryError } from './errors.js';

/** Where the next page starts: after this connection in (first_seen, run_id, cookie) order. */
export interface PageKey {
  firstSeenNs: bigint;
  runId: bigint;
  /** As stored (signed 64-bit). */
  cookie: bigint;
}

const MAC_BYTES = 16;

/** A short digest of the filters a token belongs to. */
export function filtersFingerprint(include: readonly ConnectionFilter[], exclude: readonly ConnectionFilter[]): string {
  const canonical = JSON.stringify([
    include.map((f) => toJson(ConnectionFilterSchema, f)),
    exclude.map((f) => toJson(ConnectionFilterSchema, f)),
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

function mac(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, MAC_BYTES);
}

/** Encodes a page key as an opaque token. */
export function encodePageToken(secret: Buffer, fingerprint: string, key: PageKey): string {
  const payload = Buffer.from(
    JSON.stringify({ v: 1, q: fingerprint, k: [key.firstSeenNs.toString(), key.runId.toString(), key.cookie.toString()] }),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** Decodes a token from encodePageToken; InvalidQueryError when it was altered or belongs to other filters. */
export function decodePageToken(secret: Buffer, fingerprint: string, token: string): PageKey {
  const tampered = () =>
    new InvalidQueryError('page_token is not valid: it was altered, or was not issued by this collector');
  const [payload, signature, ...rest] = token.split('.');
  if (!payload || !signature || rest.length > 0) throw tampered();
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw tampered();
  let decoded: { v: number; q: string; k: [string, string, string] };
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw tampered();
  }
  if (decoded.v !== 1 || !Array.isArray(decoded.k) || decoded.k.length !== 3) throw tampered();
  if (decoded.q !== fingerprint) {
    throw new InvalidQueryError('page_token belongs to a query with other filters: repeat the query it came from');
  }
  try {
    const [firstSeen, runId, cookie] = decoded.k;
    return { firstSeenNs: BigInt(firstSeen), runId: BigInt(runId), cookie: BigInt(cookie) };
  } catch {
    throw tampered();
  }
}
