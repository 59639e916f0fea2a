// One readable line per transition, gap or heartbeat, for `tcpstate watch`.
import { durationNs, formatDuration, formatEndpoint, stateName, timestampNs } from '@tcpstate/model';
import { type Gap, GapReason, type Heartbeat, Observation, Side, type StateChange, TcpState } from '@tcpstate/proto';
import type { Timestamp } from '@bufbuild/protobuf/wkt';

/** ANSI colours, or none. */
export interface Palette {
  side(side: Side, text: string): string;
  state(state: TcpState, text: string): string;
  dim(text: string): string;
  alert(text: string): string;
}

const sgr = (code: string) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;

export const noColor: Palette = { side: (_s, t) => t, state: (_s, t) => t, dim: (t) => t, alert: (t) => t };

export const ansiColor: Palette = {
  side: (side, text) => (side === Side.CLIENT ? sgr('36')(text) : side === Side.SERVER ? sgr('35')(text) : text),
  state: (state, text) => {
    switch (state) {
      case TcpState.ESTABLISHED:
        return sgr('32')(text);
      case TcpState.SYN_SENT:
      case TcpState.SYN_RECV:
      case TcpState.NEW_SYN_RECV:
        return sgr('34')(text);
      case TcpState.CLOSE_WAIT:
      case TcpState.LAST_ACK:
        return sgr('31')(text);
      case TcpState.FIN_WAIT1:
      case TcpState.FIN_WAIT2:
      case TcpState.CLOSING:
        return sgr('33')(text);
      case TcpState.TIME_WAIT:
        return sgr('95')(text);
      default:
        return sgr('2')(text);
    }
  },
  dim: sgr('2'),
  alert: sgr('1;31'),
};

/** "04:38:49.123456" in the local time zone (TZ), microseconds kept. */
export function formatClock(ts: Timestamp | undefined): string {
  const ns = timestampNs(ts) ?? 0n;
  const d = new Date(Number(ns / 1_000_000n));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String((ns / 1000n) % 1_000_000n).padStart(6, '0')}`;
}

/** "curl[311]"; "curl" or "pid 311" when half is known; "-" when neither is (a softirq's transition). */
export function processName(comm: string, pid: number): string {
  if (comm && pid) return `${comm}[${pid}]`;
  return comm || (pid ? `pid ${pid}` : '-');
}

export function sideName(side: Side): string {
  return side === Side.CLIENT ? 'client' : side === Side.SERVER ? 'server' : 'unknown';
}

/**
 * TIME  HOST  SIDE  LOCAL > REMOTE  OLD -> NEW  TIME-IN-OLD  COMM[PID]  cookie N
 * e.g. "04:38:49.123456  web1  client  10.0.0.2:41000 > 10.0.0.1:80  SYN_SENT -> ESTABLISHED  62µs  curl[311]  cookie 4097".
 * A sweep's observation says so, with how late it may be; so does a step whose time was read from the
 * timewait socket's timer (the timer strategy's FIN_WAIT2 -> TIME_WAIT without a tracepoint).
 */
export function formatEvent(e: StateChange, palette: Palette = noColor): string {
  const endpoints = `${formatEndpoint(e.localAddress, e.localPort)} > ${formatEndpoint(e.remoteAddress, e.remotePort)}`;
  const inOld = durationNs(e.timeInOldState);
  const transition = `${stateName(e.oldState)} -> ${stateName(e.newState)}`;
  const notes: string[] = [];
  if (e.observedBy === Observation.SWEEP) {
    const u = durationNs(e.timeUncertainty);
    notes.push(`seen by a sweep${u !== undefined ? `, within ${formatDuration(u)}` : ''}`);
  } else if (e.observedBy === Observation.SNAPSHOT) notes.push('found at agent start');
  else if (e.timeUncertainty) notes.push(`time from the timewait timer, within ${formatDuration(durationNs(e.timeUncertainty)!)}`);
  return [
    palette.dim(formatClock(e.time)),
    e.agentId,
    palette.side(e.side, sideName(e.side).padEnd(7)),
    endpoints.padEnd(45),
    palette.state(e.newState, transition.padEnd(28)),
    (inOld === undefined ? '-' : formatDuration(inOld)).padStart(7),
    processName(e.comm, e.pid),
    `cookie ${e.cookie}${notes.length ? `  (${notes.join('; ')})` : ''}`,
  ].join('  ');
}

const gapReasons: Record<number, string> = {
  [GapReason.KERNEL]: 'in the kernel',
  [GapReason.SLOW_SUBSCRIBER]: 'this stream read too slowly',
  [GapReason.REPLAY_EVICTED]: 'no longer in the replay window',
  [GapReason.COLLECTOR_OUTAGE]: 'collector could not reach the agent',
};

/** "04:38:50.000000  web1  GAP  12 events lost (this stream read too slowly), seq 100-111: ..." */
export function formatGap(g: Gap, palette: Palette = noColor): string {
  const seqs = g.firstSeq > 0n ? `, seq ${g.firstSeq}-${g.lastSeq}` : '';
  const reason = gapReasons[g.reason] ?? 'reason unknown';
  return `${palette.dim(formatClock(g.time))}  ${g.agentId}  ${palette.alert('GAP')}  ${g.count} events lost (${reason})${seqs}${g.message ? `: ${g.message}` : ''}`;
}

/** "… 04:39:05.000000 web1 idle, newest seq 1234" */
export function formatHeartbeat(h: Heartbeat): string {
  return `… ${formatClock(h.time)}  ${h.agentId || 'collector'}  idle, newest seq ${h.lastSeq}`;
}
