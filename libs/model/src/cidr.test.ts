import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CidrSet, eventIp, formatCidr, formatIp, parseCidr, parseIp, sameIp } from './cidr.js';

const set = (...texts: string[]) =>
  new CidrSet(
    texts.map((t) => {
      const cidr = parseCidr(t);
      if (!cidr) throw new Error(`test setup: ${t}`);
      return cidr;
    }),
  );

describe('parseIp', () => {
  it('parses IPv4 into w3 and IPv6 into four words', () => {
    expect(parseIp('10.0.0.1')).toEqual({ family: 4, w0: 0, w1: 0, w2: 0, w3: 0x0a000001 });
    expect(parseIp('255.255.255.255')).toEqual({ family: 4, w0: 0, w1: 0, w2: 0, w3: 0xffffffff });
    expect(parseIp('fd00::1')).toEqual({ family: 6, w0: 0xfd000000, w1: 0, w2: 0, w3: 1 });
    expect(parseIp('1:2:3:4:5:6:7:8')).toEqual({ family: 6, w0: 0x10002, w1: 0x30004, w2: 0x50006, w3: 0x70008 });
    expect(parseIp('::')).toEqual({ family: 6, w0: 0, w1: 0, w2: 0, w3: 0 });
    expect(parseIp('FE80::ABCD')).toEqual({ family: 6, w0: 0xfe800000, w1: 0, w2: 0, w3: 0xabcd });
  });

  it('turns IPv4-mapped IPv6 into IPv4, whichever way it is written', () => {
    const v4 = parseIp('10.0.0.1');
    expect(parseIp('::ffff:10.0.0.1')).toEqual(v4);
    expect(parseIp('::ffff:a00:1')).toEqual(v4);
    expect(parseIp('0:0:0:0:0:ffff:10.0.0.1')).toEqual(v4);
    // IPv4-compatible (deprecated) and other embedded forms stay IPv6.
    expect(parseIp('::10.0.0.1')).toEqual({ family: 6, w0: 0, w1: 0, w2: 0, w3: 0x0a000001 });
    expect(parseIp('64:ff9b::10.0.0.1')).toEqual({ family: 6, w0: 0x0064ff9b, w1: 0, w2: 0, w3: 0x0a000001 });
  });

  // Node's own parser is the reference for what is an address.
  it.each([
    '0.0.0.0', '1.2.3.4', '10.0.0.300', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.4 ', ' 1.2.3.4',
    '', 'host', '::', '::1', '1::', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7',
    '1::2::3', ':::', '1:::2', ':1::', '1::2:', 'fffff::', 'g::1', '::ffff:10.0.0.1', '::ffff:10.0.0', '::1.2.3.4.5',
    '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::1.2.3.04', ':1.2.3.4', '1::1.2.3.4',
  ])('agrees with node:net about %j', (text) => {
    expect(parseIp(text) !== undefined).toBe(isIP(text) !== 0);
  });

  it('refuses zone ids, which filters and events never carry', () => {
    expect(parseIp('fe80::1%eth0')).toBeUndefined();
  });
});

describe('formatIp', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::', '::'],
    ['1::', '1::'],
  ])('%s -> %s', (text, formatted) => {
    expect(formatIp(parseIp(text)!)).toBe(formatted);
  });
});

describe('parseCidr', () => {
  it('parses prefixes, clears host bits and treats addresses as full-length prefixes', () => {
    expect(formatCidr(parseCidr('10.1.2.3/8')!)).toBe('10.0.0.0/8');
    expect(formatCidr(parseCidr('10.1.2.3')!)).toBe('10.1.2.3/32');
    expect(formatCidr(parseCidr('fd00:1:2::5/33')!)).toBe('fd00:1::/33');
    expect(formatCidr(parseCidr('fd00::1')!)).toBe('fd00::1/128');
    expect(formatCidr(parseCidr('0.0.0.0/0')!)).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('::ffff:10.0.0.0/104')!)).toBe('10.0.0.0/8');
    expect(formatCidr(parseCidr('::ffff:0:0/96')!)).toBe('0.0.0.0/0');
  });

  it.each(['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/08', '10.0.0.300/8', '::/129', 'fd00::/x', '/8', ''])(
    'refuses %j',
    (text) => {
      expect(parseCidr(text)).toBeUndefined();
    },
  );
});

describe('CidrSet', () => {
  it('matches IPv4 addresses and prefixes, including their IPv4-mapped spelling', () => {
    const s = set('10.0.0.0/8', '192.168.1.7', '172.16.0.0/12');
    for (const yes of ['10.0.0.1', '10.255.255.255', '::ffff:10.0.0.1', '192.168.1.7', '::ffff:192.168.1.7', '172.31.9.9'])
      expect([yes, s.has(parseIp(yes))]).toEqual([yes, true]);
    for (const no of ['11.0.0.1', '192.168.1.8', '172.32.0.0', '::a00:1', 'fd00::1'])
      expect([no, s.has(parseIp(no))]).toEqual([no, false]);
    expect(s.has(undefined)).toBe(false);
  });

  it('matches IPv6 prefixes on all four words', () => {
    const s = set('fd00::/16', '2001:db8::1', '2001:db8:0:0:8000::/65');
    for (const yes of ['fd00::1', 'fd00:ffff::9', '2001:db8::1', '2001:db8::8000:0:0:1'])
      expect([yes, s.has(parseIp(yes))]).toEqual([yes, true]);
    for (const no of ['fd01::1', '2001:db8::2', '2001:db8::7fff:0:0:1', '10.0.0.1'])
      expect([no, s.has(parseIp(no))]).toEqual([no, false]);
  });

  it('lets a short IPv6 prefix that covers ::ffff:0:0/96 match IPv4 too', () => {
    expect(set('::/0').has(parseIp('10.0.0.1'))).toBe(true);
    expect(set('::/80').has(parseIp('10.0.0.1'))).toBe(true);
    expect(set('::/0').has(parseIp('fd00::1'))).toBe(true);
    expect(set('fd00::/8').has(parseIp('10.0.0.1'))).toBe(false);
    expect(set('0.0.0.0/0').has(parseIp('fd00::1'))).toBe(false);
    expect(set('0.0.0.0/0').has(parseIp('::ffff:1.2.3.4'))).toBe(true);
  });

  it('handles the high bit of a word (signed vs unsigned arithmetic)', () => {
    expect(set('255.0.0.0/8').has(parseIp('255.1.2.3'))).toBe(true);
    expect(set('128.0.0.0/1').has(parseIp('200.0.0.1'))).toBe(true);
    expect(set('128.0.0.0/1').has(parseIp('127.0.0.1'))).toBe(false);
    expect(set('ffff::/1').has(parseIp('8000::1'))).toBe(true);
  });
});

describe('sameIp / eventIp', () => {
  it('compares mapped and plain IPv4 as equal', () => {
    expect(sameIp(parseIp('::ffff:10.0.0.1'), parseIp('10.0.0.1'))).toBe(true);
    expect(sameIp(parseIp('fd00::1'), parseIp('fd00::2'))).toBe(false);
    expect(sameIp(undefined, parseIp('10.0.0.1'))).toBe(false);
  });

  it('returns the right address whatever was asked before it', () => {
    const texts = ['10.0.0.1', '10.0.0.2', '10.0.0.1', 'fd00::1', 'junk', '10.0.0.2', '10.0.0.2'];
    for (const slot of [0, 1] as const)
      for (const t of texts) expect([t, eventIp(t, slot)]).toEqual([t, parseIp(t)]);
    // More distinct texts than the cache holds.
    for (let i = 0; i < 5000; i++) {
      const t = `10.${i >> 8}.${i & 255}.1`;
      expect(eventIp(t, 0)?.w3).toBe(parseIp(t)!.w3);
    }
  });
});
