import { describe, expect, it } from 'vitest';

import { packEndpoints, parseServerEndpoint } from './endpoint.js';
import { KernelCaptureError } from './kernel-capture-error.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('parseServerEndpoint', () => {
  it('maps IPv4 into ::ffff:a.b.c.d', () => {
    const e = parseServerEndpoint('10.1.2.3:8080');
    expect(hex(e.address)).toBe('00000000000000000000ffff0a010203');
    expect(e.port).toBe(8080);
  });
  it('keeps 0.0.0.0 as the IPv4 wildcard and [::] as the any-family wildcard', () => {
    expect(hex(parseServerEndpoint('0.0.0.0:80').address)).toBe('00000000000000000000ffff00000000');
    expect(hex(parseServerEndpoint('[::]:80').address)).toBe('00000000000000000000000000000000');
  });
  it('parses bracketed IPv6, compressed and with a dotted tail', () => {
    expect(hex(parseServerEndpoint('[fd00::1]:443').address)).toBe('fd000000000000000000000000000001');
    expect(hex(parseServerEndpoint('[::ffff:10.0.0.1]:80').address)).toBe('00000000000000000000ffff0a000001');
    expect(hex(parseServerEndpoint('[2001:db8:0:0:1:0:0:1]:1').address)).toBe('20010db8000000000001000000000001');
  });
  it.each(['10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', 'fd00::1:80', '[10.0.0.1]:80', 'host:80', '300.1.1.1:80', ''])(
    'rejects %j with one sentence',
    (text) => {
      let caught: unknown;
      try {
        parseServerEndpoint(text);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(KernelCaptureError);
      expect((caught as KernelCaptureError).code).toBe('BAD_ENDPOINT');
      expect((caught as KernelCaptureError).message).toMatch(/^Server endpoint ".*" is not valid: .*\.$/);
    },
  );
});

describe('packEndpoints', () => {
  it('lays out 16 address bytes then the port in host order, 20 bytes each', () => {
    const packed = packEndpoints([parseServerEndpoint('10.0.0.1:80'), parseServerEndpoint('[::]:443')]);
    expect(packed.length).toBe(40);
    expect(hex(packed.subarray(0, 20))).toBe('00000000000000000000ffff0a00000150000000');
    expect(hex(packed.subarray(20, 40))).toBe('00000000000000000000000000000000bb010000');
  });
});
