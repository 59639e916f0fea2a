import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { describeError } from './agent-ingest.js';

describe('describeError (ListHosts last_error)', () => {
  it('says in words that the agent closed the stream, not the HTTP/2 code', () => {
    expect(describeError(new ConnectError('http/2 stream closed with error code CANCEL (0x8)', Code.Canceled))).toBe(
      'the agent closed the stream (it stopped, restarted or dropped the connection)',
    );
  });

  it('keeps the gRPC code and message otherwise, with a cause not already in it', () => {
    const error = new ConnectError('connect ECONNREFUSED 10.0.0.1:4270', Code.Unavailable);
    expect(describeError(error)).toBe('unavailable: connect ECONNREFUSED 10.0.0.1:4270');
    expect(describeError(new ConnectError('stream failed', Code.Internal, undefined, undefined, new Error('socket hang up')))).toBe(
      'internal: stream failed (socket hang up)',
    );
  });
});
