import { describe, expect, it } from 'vitest';
import { formatEndpoint, parseEndpoint, parsePort } from './endpoint.js';

describe('parseEndpoint', () => {
  it('parses IPv4 and IPv6 endpoints and marks wildcards', () => {
    expect(parseEndpoint('10.0.0.1:80')).toEqual({ address: '10.0.0.1', family: 4, port: 80, wildcard: false });
    expect(parseEndpoint('0.0.0.0:8080')).toMatchObject({ family: 4, wildcard: true });
    expect(parseEndpoint('[fd00::1]:443')).toEqual({ address: 'fd00::1', family: 6, port: 443, wildcard: false });
    expect(parseEndpoint('[::]:443')).toMatchObject({ family: 6, wildcard: true });
  });

  it.each([
    ['10.0.0.1', /expected IP:PORT/],
    ['10.0.0.1:0', /outside 1-65535/],
    ['10.0.0.1:70000', /outside 1-65535/],
    ['10.0.0.300:80', /not an IP address/],
    ['fd00::1:80', /expected IP:PORT/],
    ['host:80', /not an IP address/],
    ['10.0.0.1:http', /expected IP:PORT/],
  ])('rejects %s with a message naming it', (text, message) => {
    expect(() => parseEndpoint(text)).toThrow(message);
    expect(() => parseEndpoint(text)).toThrow(text);
  });
});

describe('parsePort / formatEndpoint', () => {
  it('round-trips', () => {
    expect(parsePort('65535')).toBe(65535);
    expect(() => parsePort('-1')).toThrow(/not a port/);
    expect(formatEndpoint('fd00::1', 80)).toBe('[fd00::1]:80');
    expect(formatEndpoint('10.0.0.1', 80)).toBe('10.0.0.1:80');
  });
});
