import { describe, expect, it } from 'vitest';
import { buildQuery, parseEndpointBox, windowOf } from './query.js';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const ns = (ms: number) => BigInt(ms) * 1_000_000n;

describe('the endpoint box', () => {
  it('reads server endpoints, ports and addresses into one filter', () => {
    expect(parseEndpointBox(' 10.0.0.1:80, [fd00::1]:443 :8080 22  10.0.0.0/8 fd00::2 ')).toEqual({
      filter: { serverEndpoint: ['10.0.0.1:80', '[fd00::1]:443'], port: [8080, 22], address: ['10.0.0.0/8', 'fd00::2'] },
      problems: [],
    });
    expect(parseEndpointBox('')).toEqual({ filter: {}, problems: [] });
  });

  it('names every token it cannot read', () => {
    expect(parseEndpointBox('web:80 :70000 10.0.0.1').problems).toEqual([
      '"web:80" is not an endpoint (IP:PORT, [IPv6]:PORT), a port (:PORT) or an address (IP, IP/PREFIX)',
      '":70000" is not an endpoint (IP:PORT, [IPv6]:PORT), a port (:PORT) or an address (IP, IP/PREFIX)',
    ]);
  });
});

describe('the window', () => {
  it('turns the presets into the last 5 minutes, hour and day', () => {
    expect(windowOf({ hosts: [], endpoint: '', window: '5m' }, NOW)).toEqual({ startNs: ns(NOW - 300_000), endNs: ns(NOW) });
    expect(windowOf({ hosts: [], endpoint: '', window: '1h' }, NOW)).toEqual({ startNs: ns(NOW - 3_600_000), endNs: ns(NOW) });
    expect(windowOf({ hosts: [], endpoint: '', window: '24h' }, NOW)).toEqual({ startNs: ns(NOW - 86_400_000), endNs: ns(NOW) });
  });

  it('takes a custom window as given, and refuses an empty or inverted one', () => {
    expect(windowOf({ hosts: [], endpoint: '', window: 'custom', fromMs: NOW - 1000, toMs: NOW }, NOW)).toEqual({ startNs: ns(NOW - 1000), endNs: ns(NOW) });
    expect(windowOf({ hosts: [], endpoint: '', window: 'custom', fromMs: NaN, toMs: NOW }, NOW)).toEqual({ problem: 'the custom window needs a valid start time' });
    expect(windowOf({ hosts: [], endpoint: '', window: 'custom', fromMs: NOW, toMs: NaN }, NOW)).toEqual({ problem: 'the custom window needs a valid end time' });
    expect(windowOf({ hosts: [], endpoint: '', window: 'custom', fromMs: NOW, toMs: NOW - 1 }, NOW)).toEqual({ problem: 'the custom window ends before it starts' });
  });
});

describe('the query', () => {
  it('puts hosts and the endpoint box into one include filter; nothing set means no filter', () => {
    expect(buildQuery({ hosts: ['web-1', 'web-2'], endpoint: '10.0.0.1:80', window: '1h' }, NOW)).toEqual({
      ok: true,
      include: [{ serverEndpoint: ['10.0.0.1:80'], host: ['web-1', 'web-2'] }],
      startNs: ns(NOW - 3_600_000),
      endNs: ns(NOW),
    });
    expect(buildQuery({ hosts: [], endpoint: ' ', window: '5m' }, NOW)).toMatchObject({ ok: true, include: [] });
  });

  it('lists every problem at once', () => {
    expect(buildQuery({ hosts: [], endpoint: 'nope', window: 'custom', fromMs: NaN }, NOW)).toEqual({
      ok: false,
      problems: ['"nope" is not an endpoint (IP:PORT, [IPv6]:PORT), a port (:PORT) or an address (IP, IP/PREFIX)', 'the custom window needs a valid start time'],
    });
  });
});
