import { describe, expect, it } from 'vitest';
import { specGrpcMessage } from './grpc-message-encoding.js';

describe('specGrpcMessage', () => {
  it('leaves printable ASCII readable and escapes the rest as the gRPC spec says', () => {
    expect(specGrpcMessage(encodeURIComponent('since_seq: 7 / 10.0.0.0/8, ok'))).toBe('since_seq: 7 / 10.0.0.0/8, ok');
    expect(specGrpcMessage(encodeURIComponent('100% état\n'))).toBe('100%25 %C3%A9tat%0A');
    expect(decodeURI(specGrpcMessage(encodeURIComponent('include[0].port[0]: 70000')))).toBe('include[0].port[0]: 70000');
  });

  it('passes text that is not percent-encoded through unchanged', () => {
    expect(specGrpcMessage('%E0%A4%A')).toBe('%E0%A4%A');
  });
});
