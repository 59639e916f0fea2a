import { describe, expect, it } from 'vitest';
import { Fifo } from './fifo.js';

describe('Fifo', () => {
  it('keeps order across wrap-around and growth', () => {
    const fifo = new Fifo<number>(4);
    const expected: number[] = [];
    let next = 0;
    // Interleave pushes and shifts so that the ring wraps before it grows.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < (round % 7) + 1; i++) {
        fifo.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < round % 5; i++) expect(fifo.shift()).toBe(expected.shift());
      expect(fifo.length).toBe(expected.length);
      for (let i = 0; i < expected.length; i++) expect(fifo.at(i)).toBe(expected[i]);
      expect(fifo.last()).toBe(expected.at(-1));
    }
    while (expected.length > 0) expect(fifo.shift()).toBe(expected.shift());
    expect(fifo.shift()).toBeUndefined();
    expect(fifo.last()).toBeUndefined();
  });

  it('clears', () => {
    const fifo = new Fifo<string>();
    fifo.push('a');
    fifo.clear();
    expect(fifo.length).toBe(0);
    fifo.push('b');
    expect(fifo.shift()).toBe('b');
  });
});
