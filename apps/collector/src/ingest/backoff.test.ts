import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles its ceiling up to the maximum, each delay between half the ceiling and the ceiling', () => {
    const low = new Backoff(100, 1000, () => 0);
    expect(Array.from({ length: 6 }, () => low.next())).toEqual([50, 100, 200, 400, 500, 500]);
    const high = new Backoff(100, 1000, () => 0.999999);
    expect(Array.from({ length: 6 }, () => high.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff(100, 1000, () => 0);
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(50);
  });
});
