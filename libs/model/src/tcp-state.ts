import { TcpState } from '@tcpstate/proto';

/** Short names as the kernel spells them (tcp_states.h without the TCP_ prefix). */
const shortNames: Record<number, string> = {
  [TcpState.ESTABLISHED]: 'ESTABLISHED',
  [TcpState.SYN_SENT]: 'SYN_SENT',
  [TcpState.SYN_RECV]: 'SYN_RECV',
  [TcpState.FIN_WAIT1]: 'FIN_WAIT1',
  [TcpState.FIN_WAIT2]: 'FIN_WAIT2',
  [TcpState.TIME_WAIT]: 'TIME_WAIT',
  [TcpState.CLOSE]: 'CLOSE',
  [TcpState.CLOSE_WAIT]: 'CLOSE_WAIT',
  [TcpState.LAST_ACK]: 'LAST_ACK',
  [TcpState.LISTEN]: 'LISTEN',
  [TcpState.CLOSING]: 'CLOSING',
  [TcpState.NEW_SYN_RECV]: 'NEW_SYN_RECV',
  [TcpState.BOUND_INACTIVE]: 'BOUND_INACTIVE',
};

/** "TIME_WAIT" for TcpState.TIME_WAIT; "STATE_42" for a number the kernel may add later. */
export function stateName(state: number): string {
  return shortNames[state] ?? `STATE_${state}`;
}

/** Parses "TIME_WAIT", "tcp_state_time_wait" or "6"; undefined when it is none of them. */
export function parseState(text: string): TcpState | undefined {
  const upper = text.trim().toUpperCase().replace(/^TCP_STATE_/, '');
  if (/^\d+$/.test(upper)) {
    const n = Number(upper);
    return shortNames[n] ? (n as TcpState) : undefined;
  }
  for (const [n, name] of Object.entries(shortNames)) if (name === upper) return Number(n) as TcpState;
  return undefined;
}
