import { describe, expect, it } from 'vitest';

import { decodeRecords, formatAddress, RECORD_LAYOUT as L, RECORD_SIZE } from './record.js';

function v4(a: number, b: number, c: number, d: number): number[] {
  return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d];
}

describe('formatAddress', () => {
  it('prints mapped IPv4 as dotted quad', () => {
    expect(formatAddress(Uint8Array.from(v4(10, 0, 0, 1)), 4)).toBe('10.0.0.1');
  });
  it('prints IPv6 in RFC 5952 form', () => {
    const fd00 = new Uint8Array(16);
    fd00[0] = 0xfd;
    fd00[15] = 2;
    expect(formatAddress(fd00, 6)).toBe('fd00::2');
    expect(formatAddress(new Uint8Array(16), 6)).toBe('::');
    const full = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6]);
    expect(formatAddress(full, 6)).toBe('2001:db8:1:2:3:4:5:6');
  });
});

describe('decodeRecords', () => {
  it('decodes every field of consecutive records', () => {
    const buffer = new ArrayBuffer(2 * RECORD_SIZE);
    const view = new DataView(buffer);
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < 2; i++) {
      const o = i * RECORD_SIZE;
      view.setUint8(o + L.kind, 1);
      view.setBigUint64(o + L.ktimeNs, 123456789n + BigInt(i), true);
      view.setBigUint64(o + L.cookie, 42n, true);
      view.setBigUint64(o + L.timeInOldStateNs, 1000n, true);
      view.setBigUint64(o + L.cgroupId, 7n, true);
      bytes.set(v4(10, 0, 0, 1), o + L.localAddr);
      bytes.set(v4(10, 0, 0, 2), o + L.remoteAddr);
      view.setUint32(o + L.netns, 4026531840, true);
      view.setUint32(o + L.pid, 99, true);
      view.setUint16(o + L.localPort, 80, true);
      view.setUint16(o + L.remotePort, 40000, true);
      view.setUint8(o + L.family, 4);
      view.setUint8(o + L.oldState, 1);
      view.setUint8(o + L.newState, 4);
      view.setUint8(o + L.side, 2);
      view.setUint8(o + L.observedBy, 1);
      view.setUint8(o + L.flags, 1);
      bytes.set(new TextEncoder().encode('nginx'), o + L.comm);
    }
    const [first, second] = decodeRecords(buffer);
    expect(first).toEqual({
      kind: 1,
      ktimeNs: 123456789n,
      cookie: 42n,
      timeInOldStateNs: 1000n,
      uncertaintyNs: 0n,
      cgroupId: 7n,
      family: 4,
      localAddress: '10.0.0.1',
      localPort: 80,
      remoteAddress: '10.0.0.2',
      remotePort: 40000,
      netns: 4026531840,
      pid: 99,
      oldState: 1,
      newState: 4,
      side: 2,
      observedBy: 1,
      flags: 1,
      comm: 'nginx',
    });
    expect(second.ktimeNs).toBe(123456790n);
  });
});
