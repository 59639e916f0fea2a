import { describe, expect, it } from 'vitest';
import { TcpState } from '@tcpstate/proto';
import { parseState, stateName } from './tcp-state.js';

describe('TCP state names', () => {
  it('uses the kernel numbering', () => {
    expect(TcpState.ESTABLISHED).toBe(1);
    expect(TcpState.TIME_WAIT).toBe(6);
    expect(TcpState.CLOSE).toBe(7);
    expect(TcpState.LISTEN).toBe(10);
    expect(stateName(6)).toBe('TIME_WAIT');
    expect(stateName(99)).toBe('STATE_99');
  });

  it('parses names in any spelling', () => {
    expect(parseState('time_wait')).toBe(TcpState.TIME_WAIT);
    expect(parseState('TCP_STATE_CLOSE_WAIT')).toBe(TcpState.CLOSE_WAIT);
    expect(parseState('10')).toBe(TcpState.LISTEN);
    expect(parseState('WAITING')).toBeUndefined();
    expect(parseState('0')).toBeUndefined();
  });
});
