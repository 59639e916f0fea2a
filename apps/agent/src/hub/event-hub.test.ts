import { setImmediate as tick } from 'node:timers/promises';
import { create, equals, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  GapReason,
  Side,
  StateChangeSchema,
  SubscribeRequestSchema,
  TcpState,
  type StateChange,
  type SubscribeResponse,
} from '@tcpstate/proto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventHub, type EventHubOptions } from './event-hub.js';
import type { EventBatch } from './replay-window.js';
import { RequestError } from './subscribe-request.js';

// A whole second, so that per-second rates are easy to reason about.
const T0 = Date.parse('2026-11-27T10:00:00Z');

type ChangeInit = MessageInitShape<typeof StateChangeSchema>;
type RequestInit = MessageInitShape<typeof SubscribeRequestSchema>;
type Stream = AsyncIterableIterator<SubscribeResponse>;

/** A hub with a settable wall clock and no heartbeats (tests that want them say so). */
function setup(options: Partial<EventHubOptions> = {}) {
  const clock = { ms: T0 };
  const hub = new EventHub({
    agentId: 'agent-1',
    bootId: 'boot-1',
    heartbeatIntervalMs: 0,
    now: () => new Date(clock.ms),
    ...options,
  });
  const change = (init: ChangeInit = {}): StateChange =>
    create(StateChangeSchema, {
      localAddress: '10.0.0.1',
      localPort: 40000,
      remoteAddress: '10.0.0.2',
      remotePort: 80,
      oldState: TcpState.ESTABLISHED,
      newState: TcpState.FIN_WAIT1,
      side: Side.CLIENT,
      comm: 'curl',
      time: timestampFromDate(new Date(clock.ms)),
      ...init,
    });
  /** Publishes `count` events in one batch; `init(i)` shapes the i-th. */
  const publish = (count: number, init: (i: number) => ChangeInit = () => ({})) =>
    hub.publish(Array.from({ length: count }, (_, i) => change(init(i))));
  const subscribe = (init: RequestInit = {}, context: { peer?: string; signal?: AbortSignal } = {}) =>
    hub.subscribe(create(SubscribeRequestSchema, init), { peer: context.peer ?? 'test', signal: context.signal });
  return { hub, clock, change, publish, subscribe };
}

/** "e5" for the event with seq 5, "SLOW 11-25 x15" for a gap, "hb 7" for a heartbeat. */
function label(response: SubscribeResponse): string {
  const r = response.response;
  switch (r.case) {
    case 'event':
      return `e${r.value.seq}`;
    case 'gap': {
      const reason = GapReason[r.value.reason].replace('_SUBSCRIBER', '').replace('REPLAY_', '');
      const range = r.value.firstSeq > 0n ? ` ${r.value.firstSeq}-${r.value.lastSeq}` : '';
      return `${reason}${range} x${r.value.count}`;
    }
    case 'heartbeat':
      return `hb ${r.value.lastSeq}`;
    case 'events':
      return `[${r.value.events.map((e) => `e${e.seq}`).join(' ')}]`;
    default:
      return 'empty';
  }
}

const events = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `e${from + i}`);

/**
 * Reads n responses (or up to the end, marked "END"), each of which must be
 * ready already: a stream that stalls fails with what it delivered so far.
 */
async function take(stream: Stream, n: number): Promise<string[]> {
  const out: string[] = [];
  const stalled = Symbol('stalled');
  for (let i = 0; i < n; i++) {
    const result = await Promise.race([stream.next(), tick().then((): typeof stalled => stalled)]);
    if (result === stalled) throw new Error(`stream stalled after ${JSON.stringify(out)}`);
    if (result.done) {
      out.push('END');
      break;
    }
    out.push(label(result.value));
  }
  return out;
}

/** Reads a finite stream to its end. */
async function all(stream: Stream): Promise<string[]> {
  const out: string[] = [];
  for await (const response of stream) out.push(label(response));
  return out;
}

/**
 * Asserts that nothing is ready on the stream; returns the pending next() for
 * later (wrapped: an async function returning a promise would wait for it).
 */
async function expectNothingReady(stream: Stream): Promise<{ next: Promise<string> }> {
  const next = stream.next();
  const marker = Symbol('pending');
  expect(await Promise.race([next, tick().then(() => marker)])).toBe(marker);
  return { next: next.then((r) => (r.done ? 'END' : label(r.value))) };
}

const errorOf = (f: () => unknown): RequestError => {
  try {
    f();
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('expected a RequestError');
};

afterEach(() => {
  vi.useRealTimers();
});

describe('EventHub: numbering and live delivery', () => {
  it('stamps agent_id, boot_id and seq 1, 2, 3... across batches', async () => {
    const { hub, publish, subscribe } = setup();
    publish(2);
    const stream = subscribe();
    publish(3);
    publish(1);
    const first = await stream.next();
    expect(first.value?.response.value).toMatchObject({ agentId: 'agent-1', bootId: 'boot-1', seq: 3n });
    expect(await take(stream, 3)).toEqual(['e4', 'e5', 'e6']);
    expect(hub.stats()).toMatchObject({ captured: 6, lastSeq: 6 });
    await stream.return!();
  });

  it('shares one response object per event among subscribers', async () => {
    const { publish, subscribe } = setup();
    const a = subscribe();
    const b = subscribe();
    publish(1);
    expect((await a.next()).value).toBe((await b.next()).value);
  });

  it('delivers to a waiting next() when a batch arrives', async () => {
    const { publish, subscribe } = setup();
    const stream = subscribe();
    const pending = await expectNothingReady(stream);
    publish(2);
    expect(await pending.next).toBe('e1');
    expect(await take(stream, 1)).toEqual(['e2']);
  });
});

describe('EventHub: replay', () => {
  it('replays from since_seq, then follows live', async () => {
    const { publish, subscribe } = setup();
    publish(10);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 4n } });
    publish(1);
    expect(await take(stream, 8)).toEqual(events(4, 11));
    publish(1);
    expect(await take(stream, 1)).toEqual(['e12']);
  });

  it('treats since_seq = newest + 1 as live only, since_seq 0 as seq 1, and refuses beyond', async () => {
    const { publish, subscribe } = setup();
    publish(10);
    const next = subscribe({ since: { case: 'sinceSeq', value: 11n } });
    const zero = subscribe({ since: { case: 'sinceSeq', value: 0n }, follow: false });
    publish(1);
    expect(await take(next, 1)).toEqual(['e11']);
    expect(await all(zero)).toEqual(events(1, 10));
    const error = errorOf(() => subscribe({ since: { case: 'sinceSeq', value: 13n } }));
    expect(error.field).toBe('since_seq');
    expect(error.message).toBe('since_seq: 13 is in the future: the newest seq is 11 (boot_id boot-1)');
  });

  it('replays from since_time: the first event at or after it, even with slightly unordered times', async () => {
    const { clock, publish, subscribe } = setup();
    // Times in seconds after T0 of seqs 1..6: the 5 s event comes before a 3 s one (another CPU).
    const seconds = [1, 2, 5, 3, 6, 7];
    publish(6, (i) => ({ time: timestampFromDate(new Date(T0 + seconds[i] * 1000)) }));
    clock.ms = T0 + 10_000;
    const at = (s: number) => ({ case: 'sinceTime' as const, value: timestampFromDate(new Date(T0 + s * 1000)) });
    expect(await all(subscribe({ since: at(2), follow: false }))).toEqual(events(2, 6));
    expect(await all(subscribe({ since: at(4), follow: false }))).toEqual(events(3, 6));
    expect(await all(subscribe({ since: at(3), follow: false }))).toEqual(events(3, 6));
    expect(await all(subscribe({ since: at(6.5), follow: false }))).toEqual(['e6']);
    expect(await all(subscribe({ since: at(8), follow: false }))).toEqual([]);
    expect(await all(subscribe({ since: at(0), follow: false }))).toEqual(events(1, 6));
  });

  it('refuses since_time in the future', () => {
    const { subscribe } = setup();
    const value = timestampFromDate(new Date('2030-01-01T00:00:00Z'));
    const error = errorOf(() => subscribe({ since: { case: 'sinceTime', value } }));
    expect(error.field).toBe('since_time');
    expect(error.message).toBe('since_time: 2030-01-01T00:00:00Z is in the future');
    const nanos = errorOf(() => subscribe({ since: { case: 'sinceTime', value: { seconds: 1n, nanos: 1_000_000_000 } } }));
    expect(nanos.message).toBe('since_time: nanos 1000000000 is outside 0-999999999');
  });

  it('follow=false ends after the replay, even while events keep coming', async () => {
    const { publish, subscribe } = setup();
    publish(5);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 2n }, follow: false });
    expect(await take(stream, 2)).toEqual(['e2', 'e3']);
    publish(5);
    expect(await take(stream, 5)).toEqual(['e4', 'e5', 'END']);
    // Without since or last there is nothing to replay: the stream ends at once.
    expect(await all(subscribe({ follow: false }))).toEqual([]);
  });

  it('first=N ends after N matching events, across replay and live, and releases the stream', async () => {
    const { hub, publish, subscribe } = setup();
    publish(4, (i) => ({ localPort: i % 2 === 0 ? 1 : 2 })); // seqs 1..4: ports 1 2 1 2
    const stream = subscribe({ since: { case: 'sinceSeq', value: 1n }, first: 3n, include: [{ port: [1] }] });
    expect(await take(stream, 2)).toEqual(['e1', 'e3']);
    const pending = await expectNothingReady(stream);
    publish(4, (i) => ({ localPort: i % 2 === 0 ? 1 : 2 })); // seqs 5..8
    expect(await pending.next).toBe('e5');
    expect(hub.subscriberCount).toBe(0);
    expect(await take(stream, 1)).toEqual(['END']);
  });

  it('last=N starts with the last N matching events in the window, then follows', async () => {
    const { publish, subscribe } = setup();
    publish(10, (i) => ({ localPort: i % 3 === 0 ? 1 : 2 })); // port 1 at seqs 1 4 7 10
    const stream = subscribe({ last: 3n, include: [{ port: [1] }] });
    const all3 = subscribe({ last: 100n, include: [{ port: [1] }], follow: false });
    const none = subscribe({ last: 2n, include: [{ port: [9] }], follow: false });
    publish(4, (i) => ({ localPort: i % 3 === 0 ? 1 : 2 })); // port 1 at seqs 11 14
    expect(await take(stream, 5)).toEqual(['e4', 'e7', 'e10', 'e11', 'e14']);
    expect(await all(all3)).toEqual(['e1', 'e4', 'e7', 'e10']);
    expect(await all(none)).toEqual([]);
  });

  it('refuses conflicting options and invalid filters, naming the field', () => {
    const { subscribe } = setup();
    const cases: [RequestInit, string, string][] = [
      [{ first: 1n, last: 1n }, 'first', 'first and last cannot both be set'],
      [{ last: 5n, since: { case: 'sinceSeq', value: 1n } }, 'last', 'last: cannot be combined with since_seq'],
      [
        { last: 5n, since: { case: 'sinceTime', value: timestampFromDate(new Date(T0)) } },
        'last',
        'last: cannot be combined with since_time',
      ],
      [{ include: [{ port: [70000] }] }, 'include[0].port[0]', 'include[0].port[0]: 70000 is outside 0-65535'],
      [
        { exclude: [{}, { address: ['10.0.0.300/8'] }] },
        'exclude[1].address[0]',
        'exclude[1].address[0]: "10.0.0.300/8" is not an IP address or CIDR',
      ],
      [{ include: [{ newState: [99 as TcpState] }] }, 'include[0].new_state[0]', 'include[0].new_state[0]: 99 is not a TCP state'],
    ];
    for (const [init, field, message] of cases) {
      const error = errorOf(() => subscribe(init));
      expect({ field: error.field, message: error.message }).toEqual({ field, message });
    }
  });
});

describe('EventHub: the replay window', () => {
  it('evicts beyond maxEvents, and a resume from an evicted seq starts with the exact gap', async () => {
    const { hub, publish, subscribe } = setup({ replayMaxEvents: 5 });
    publish(12);
    expect(hub.stats().replay).toMatchObject({ events: 5, firstSeq: 8, lastSeq: 12, maxEvents: 5 });
    const stream = subscribe({ since: { case: 'sinceSeq', value: 3n } });
    const first = await stream.next();
    expect(first.value?.response.value).toMatchObject({
      agentId: 'agent-1',
      bootId: 'boot-1',
      reason: GapReason.REPLAY_EVICTED,
      firstSeq: 3n,
      lastSeq: 7n,
      count: 5n,
      message: '5 events (seq 3 to 7) had left the replay window; the replay starts at seq 8.',
    });
    expect(await take(stream, 5)).toEqual(events(8, 12));
  });

  it('evicts beyond maxBytes, counting the bytes of the serialized events', () => {
    // Seqs 1 to 7 take one byte each: every event has the same size.
    const size = toBinary(StateChangeSchema, setup().change({ agentId: 'agent-1', bootId: 'boot-1', seq: 1n })).length;
    const { hub, publish } = setup({ replayMaxBytes: 3 * size + 10 });
    publish(7);
    expect(hub.stats().replay).toEqual({
      events: 3,
      bytes: 3 * size,
      maxEvents: 100_000,
      maxBytes: 3 * size + 10,
      firstSeq: 5,
      lastSeq: 7,
    });
  });

  it('keeps no replay with replayMaxEvents 0, yet serves live events', async () => {
    const { hub, publish, subscribe } = setup({ replayMaxEvents: 0 });
    publish(3);
    expect(hub.stats().replay).toMatchObject({ events: 0, bytes: 0, firstSeq: 0, lastSeq: 0 });
    const stream = subscribe({ since: { case: 'sinceSeq', value: 2n } });
    publish(1);
    expect(await take(stream, 2)).toEqual(['EVICTED 2-3 x2', 'e4']);
  });

  it('starts a client of another boot at seq 1 of this one, with a gap for what was evicted', async () => {
    const { publish, subscribe } = setup({ replayMaxEvents: 5 });
    publish(12);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 500n }, bootId: 'boot-0', follow: false });
    const first = await stream.next();
    expect(first.value?.response.value).toMatchObject({
      reason: GapReason.REPLAY_EVICTED,
      firstSeq: 1n,
      lastSeq: 7n,
      count: 7n,
      message:
        'The agent restarted (boot_id boot-1, not boot-0): 7 events (seq 1 to 7) had left the replay window; the replay starts at seq 8.',
    });
    expect(await all(stream)).toEqual(events(8, 12));
    // The same boot_id: an ordinary resume.
    expect(await all(subscribe({ since: { case: 'sinceSeq', value: 10n }, bootId: 'boot-1', follow: false }))).toEqual(
      events(10, 12),
    );
  });

  it('says how much a resume by time may have missed', async () => {
    const { clock, publish, subscribe } = setup({ replayMaxEvents: 1000 });
    // Seqs 1..3000 one millisecond apart; seqs 1..2000 are evicted.
    publish(3000, (i) => ({ time: timestampFromDate(new Date(T0 + i)) }));
    clock.ms = T0 + 60_000;
    const since = (ms: number) => ({ case: 'sinceTime' as const, value: timestampFromDate(new Date(T0 + ms)) });
    // At seq 1500's time: seqs up to the checkpoint at 1024 were earlier for sure.
    const stream = subscribe({ since: since(1499), follow: false });
    expect(await take(stream, 2)).toEqual(['EVICTED 1025-2000 x976', 'e2001']);
    // Before everything evicted: the whole evicted range.
    expect(await take(subscribe({ since: since(-5), follow: false }), 1)).toEqual(['EVICTED 1-2000 x2000']);
    // Inside the window: no gap.
    expect(await take(subscribe({ since: since(2500), follow: false }), 1)).toEqual(['e2501']);
  });
});

describe('EventHub: exact switch from replay to live', () => {
  // The reader reads `readsPerRound` responses, then `publishPerRound` events
  // are published, until `total` events exist; every seq must arrive once.
  async function resumeUnderLoad(options: {
    preloaded: number;
    total: number;
    readsPerRound: number;
    publishPerRound: number;
    replayMaxEvents?: number;
    portOf?: (seq: number) => number;
    include?: RequestInit['include'];
  }) {
    const { hub, publish, subscribe } = setup({ replayMaxEvents: options.replayMaxEvents ?? 100_000 });
    const portOf = options.portOf ?? (() => 80);
    let published = 0;
    const publishN = (n: number) => {
      publish(n, (i) => ({ localPort: portOf(published + i + 1) }));
      published += n;
    };
    publishN(options.preloaded);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 1n }, include: options.include });
    const wanted = (seq: number) => options.include === undefined || portOf(seq) === 1;
    const expected = Array.from({ length: options.total }, (_, i) => i + 1).filter(wanted);
    const received: string[] = [];
    let sawLive = false;
    while (published < options.total) {
      const available = expected.filter((seq) => seq <= published).length - received.length;
      received.push(...(await take(stream, Math.min(options.readsPerRound, available))));
      publishN(Math.min(options.publishPerRound, options.total - published));
      sawLive ||= hub.stats().subscribers[0].queued > 0 && published < options.total;
    }
    received.push(...(await take(stream, expected.length - received.length)));
    await expectNothingReady(stream);
    return { received, expected: expected.map((s) => `e${s}`), sawLive };
  }

  it('delivers every seq once while events arrive during the replay (catching up, then live)', async () => {
    const result = await resumeUnderLoad({ preloaded: 300, total: 2000, readsPerRound: 2, publishPerRound: 1 });
    expect(result.received).toEqual(result.expected);
    // The reader caught up while publishing went on, so both phases were exercised.
    expect(result.sawLive).toBe(true);
  });

  it('does the same with a filter and odd batch sizes', async () => {
    const result = await resumeUnderLoad({
      preloaded: 257,
      total: 3000,
      readsPerRound: 3,
      publishPerRound: 5,
      portOf: (seq) => (seq % 3 === 0 || seq % 7 === 0 ? 1 : 2),
      include: [{ port: [1] }],
    });
    expect(result.received).toEqual(result.expected);
    expect(result.sawLive).toBe(true);
  });

  it('subscribing between two publishes splits them exactly', async () => {
    const { publish, subscribe } = setup();
    publish(3);
    const replay = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    const live = subscribe();
    publish(2);
    expect(await take(replay, 5)).toEqual(events(1, 5));
    expect(await take(live, 2)).toEqual(events(4, 5));
  });

  it('turns live as soon as the replay catches up, so later evictions cost it nothing', async () => {
    const { publish, subscribe } = setup({ replayMaxEvents: 2 });
    publish(2);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    expect(await take(stream, 2)).toEqual(['e1', 'e2']);
    publish(5); // the window keeps only 6 and 7
    expect(await take(stream, 5)).toEqual(events(3, 7));
  });

  it('reports events evicted under a slow replay as a SLOW_SUBSCRIBER gap with exact numbers', async () => {
    const { hub, publish, subscribe } = setup({ replayMaxEvents: 50 });
    // Port 1 on odd seqs.
    let next = 1;
    const publishN = (n: number) => publish(n, () => ({ localPort: next++ % 2 === 1 ? 1 : 2 }));
    publishN(50);
    const everything = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    const odd = subscribe({ since: { case: 'sinceSeq', value: 1n }, include: [{ port: [1] }] });
    expect(await take(everything, 10)).toEqual(events(1, 10));
    expect(await take(odd, 5)).toEqual(['e1', 'e3', 'e5', 'e7', 'e9']);
    publishN(30); // evicts seqs 1..30
    expect(await take(everything, 51)).toEqual(['SLOW 11-30 x20', ...events(31, 80)]);
    expect(await take(odd, 26)).toEqual(['SLOW 11-29 x10', ...events(31, 80).filter((_, i) => i % 2 === 0)]);
    const stats = hub.stats();
    expect(stats.subscriberDrops).toBe(30);
    expect(stats.subscribers.map((s) => s.dropped)).toEqual([20, 10]);
  });
});

describe('EventHub: slow subscribers', () => {
  it('drops what does not fit, with coalesced gaps, while a fast subscriber gets every seq', async () => {
    const { hub, publish, subscribe } = setup({ subscriberQueueMax: 10 });
    const slow = subscribe({}, { peer: 'slow' });
    const fast = subscribe({}, { peer: 'fast' });
    const fastReceived: string[] = [];
    const publishAndReadFast = async (n: number) => {
      publish(n);
      fastReceived.push(...(await take(fast, n)));
    };
    for (let i = 0; i < 5; i++) await publishAndReadFast(5); // slow holds 1..10, drops 11..25
    expect(await take(slow, 5)).toEqual(events(1, 5));
    await publishAndReadFast(10); // slow takes 26..30, drops 31..35
    hub.reportKernelDrops(7);
    fastReceived.push(...(await take(fast, 1)));
    await publishAndReadFast(2); // 36, 37: still no room
    expect(await take(slow, 13)).toEqual([
      ...events(6, 10),
      'SLOW 11-25 x15',
      ...events(26, 30),
      // Losses while the queue stays full: one gap per reason, in order of the first loss.
      'SLOW 31-37 x7',
      'KERNEL x7',
    ]);
    const pending = await expectNothingReady(slow);
    await publishAndReadFast(1);
    expect(await pending.next).toBe('e38');
    expect(fastReceived).toEqual([...events(1, 35), 'KERNEL x7', ...events(36, 38)]);
    const stats = hub.stats();
    expect(stats.subscriberDrops).toBe(22);
    expect(stats.subscribers.map(({ peer, delivered, dropped, queued }) => ({ peer, delivered, dropped, queued }))).toEqual([
      { peer: 'slow', delivered: 16, dropped: 22, queued: 0 },
      { peer: 'fast', delivered: 38, dropped: 0, queued: 0 },
    ]);
  });

  it('fills the gap message with the seq range and count', async () => {
    const { hub, publish, subscribe } = setup({ subscriberQueueMax: 1 });
    const stream = subscribe();
    publish(4);
    await take(stream, 1);
    const gap = (await stream.next()).value?.response.value;
    expect(gap).toMatchObject({
      reason: GapReason.SLOW_SUBSCRIBER,
      firstSeq: 2n,
      lastSeq: 4n,
      count: 3n,
      agentId: 'agent-1',
      bootId: 'boot-1',
      message: 'This subscriber read too slowly: 3 matching events between seq 2 and 4 were dropped.',
    });
    expect(hub.stats().subscriberDrops).toBe(3);
  });
});

describe('EventHub: events sent together (max_batch)', () => {
  const batch = (from: number, to: number) => `[${events(from, to).join(' ')}]`;

  it('sends what is ready as batches of at most max_batch, in seq order', async () => {
    const { publish, subscribe } = setup();
    const stream = subscribe({ maxBatch: 4 });
    publish(10);
    expect(await take(stream, 3)).toEqual([batch(1, 4), batch(5, 8), batch(9, 10)]);
    await expectNothingReady(stream);
  });

  it('keeps gaps in their place between batches, as alone they would be', async () => {
    const { hub, publish, subscribe } = setup({ subscriberQueueMax: 5 });
    const batched = subscribe({ maxBatch: 100 });
    const single = subscribe();
    publish(2);
    hub.reportKernelDrops(3);
    publish(8); // the queues hold 1, 2 and 3..5: 6..10 are dropped
    expect(await take(batched, 4)).toEqual([batch(1, 2), 'KERNEL x3', batch(3, 5), 'SLOW 6-10 x5']);
    expect(await take(single, 7)).toEqual(['e1', 'e2', 'KERNEL x3', 'e3', 'e4', 'e5', 'SLOW 6-10 x5']);
    publish(1);
    expect(await take(batched, 1)).toEqual([batch(11, 11)]);
  });

  it('batches a replay, and ends after `first` events mid-batch', async () => {
    const { publish, subscribe } = setup();
    publish(7);
    expect(await all(subscribe({ since: { case: 'sinceSeq', value: 2n }, follow: false, maxBatch: 4 }))).toEqual([batch(2, 5), batch(6, 7)]);
    expect(await all(subscribe({ since: { case: 'sinceSeq', value: 1n }, first: 3n, maxBatch: 10 }))).toEqual([batch(1, 3)]);
  });

  it('refuses more than 10000 events per response, naming the field', () => {
    const { subscribe } = setup();
    const error = errorOf(() => subscribe({ maxBatch: 10_001 }));
    expect(error.field).toBe('max_batch');
    expect(error.message).toBe('max_batch: 10001 is more than 10000 events per response');
  });
});

describe('EventHub: kernel drops', () => {
  it('reaches every stream as a KERNEL gap in order with its events, coalescing reports', async () => {
    const { hub, publish, subscribe } = setup();
    const stream = subscribe();
    const filtered = subscribe({ include: [{ port: [9] }] });
    publish(2);
    hub.reportKernelDrops(3);
    hub.reportKernelDrops(4);
    publish(1);
    expect(await take(stream, 4)).toEqual(['e1', 'e2', 'KERNEL x7', 'e3']);
    expect(await take(filtered, 1)).toEqual(['KERNEL x7']);
    const gap = (await subscribe({ since: { case: 'sinceSeq', value: 1n } }).next()).value;
    expect(gap).toBeDefined();
    expect(hub.stats().kernelDrops).toBe(7);
  });

  it('is replayed at its place to streams that resume from before it, and not to those after it', async () => {
    const { hub, publish, subscribe } = setup();
    publish(2);
    hub.reportKernelDrops(3, new Date(T0 + 500));
    publish(1);
    const fromStart = subscribe({ since: { case: 'sinceSeq', value: 1n }, follow: false });
    const all3 = await take(fromStart, 5);
    expect(all3).toEqual(['e1', 'e2', 'KERNEL x3', 'e3', 'END']);
    expect(await all(subscribe({ since: { case: 'sinceSeq', value: 3n }, follow: false }))).toEqual(['e3']);
    // The gap keeps the time it was reported.
    const replay = subscribe({ since: { case: 'sinceSeq', value: 2n }, follow: false });
    await replay.next();
    const gap = (await replay.next()).value?.response;
    expect(gap?.case === 'gap' && timestampDate(gap.value.time!).getTime()).toBe(T0 + 500);
    expect(gap?.value).toMatchObject({
      message: 'The kernel lost 3 transitions before the agent read them (ring buffer full, or a BPF program skipped by the kernel while another ran on the same CPU).',
      firstSeq: 0n,
      lastSeq: 0n,
    });
  });

  it('reaches a stream in the middle of its replay at the right place', async () => {
    const { hub, publish, subscribe } = setup();
    publish(3);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    expect(await take(stream, 1)).toEqual(['e1']);
    hub.reportKernelDrops(2);
    publish(1);
    expect(await take(stream, 4)).toEqual(['e2', 'e3', 'KERNEL x2', 'e4']);
  });

  it('reaches a replay that catches up right after it', async () => {
    const { hub, publish, subscribe } = setup();
    publish(2);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    hub.reportKernelDrops(4);
    expect(await take(stream, 3)).toEqual(['e1', 'e2', 'KERNEL x4']);
    publish(1);
    expect(await take(stream, 1)).toEqual(['e3']);
  });

  it('reaches a stream that caught up right before it', async () => {
    const { hub, publish, subscribe } = setup();
    publish(2);
    const stream = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    expect(await take(stream, 2)).toEqual(['e1', 'e2']);
    hub.reportKernelDrops(5);
    expect(await take(stream, 1)).toEqual(['KERNEL x5']);
  });
});

describe('EventHub: heartbeats', () => {
  it('sends one after the interval with nothing sent, and not while events flow', async () => {
    vi.useFakeTimers({ now: T0 });
    const { hub, publish, subscribe } = setup({ heartbeatIntervalMs: 15_000, now: () => new Date() });
    const stream = subscribe();
    // next() whose result lands in a box, so the test can look while time is frozen.
    const nextInBox = () => {
      const box: { result?: IteratorResult<SubscribeResponse> } = {};
      void stream.next().then((result) => (box.result = result));
      return box;
    };
    const first = nextInBox();
    await vi.advanceTimersByTimeAsync(14_999);
    expect(first.result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(first.result?.value?.response).toMatchObject({
      case: 'heartbeat',
      value: { agentId: 'agent-1', bootId: 'boot-1', lastSeq: 0n },
    });
    const heartbeat = first.result?.value?.response;
    expect(heartbeat?.case === 'heartbeat' && timestampDate(heartbeat.value.time!).getTime()).toBe(T0 + 15_000);

    publish(1);
    expect(await take(stream, 1)).toEqual(['e1']);
    await vi.advanceTimersByTimeAsync(10_000); // T0 + 25 s
    publish(1);
    expect(await take(stream, 1)).toEqual(['e2']);
    const second = nextInBox();
    // 15 s after e2, not after the previous heartbeat.
    await vi.advanceTimersByTimeAsync(14_999);
    expect(second.result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(second.result?.value && label(second.result.value)).toBe('hb 2');
    await stream.return!();
    expect(hub.subscriberCount).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('EventHub: cancellation', () => {
  it('releases a stream when its signal aborts, even with a next() waiting', async () => {
    const { hub, subscribe } = setup({ heartbeatIntervalMs: 60_000 });
    const controller = new AbortController();
    const stream = subscribe({}, { signal: controller.signal });
    expect(hub.subscriberCount).toBe(1);
    const pending = await expectNothingReady(stream);
    controller.abort();
    expect(await pending.next).toBe('END');
    expect(hub.subscriberCount).toBe(0);
    expect(hub.stats().subscribers).toEqual([]);
    expect(await take(stream, 1)).toEqual(['END']);
  });

  it('releases a stream whose consumer stops (return), in replay or live', async () => {
    const { hub, publish, subscribe } = setup({ replayMaxEvents: 10 });
    publish(10);
    const replaying = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    const live = subscribe();
    for await (const response of replaying) {
      expect(label(response)).toBe('e1');
      break;
    }
    expect(hub.subscriberCount).toBe(1);
    await live.return!();
    expect(hub.subscriberCount).toBe(0);
    publish(20); // evictions with no one left to tell
    expect(hub.stats().subscribers).toEqual([]);
  });

  it('refuses to start on an aborted signal', async () => {
    const { hub, subscribe } = setup();
    const stream = subscribe({}, { signal: AbortSignal.abort() });
    expect(hub.subscriberCount).toBe(0);
    expect(await take(stream, 1)).toEqual(['END']);
  });

  it('close() ends every stream and refuses new ones', async () => {
    const { hub, publish, subscribe } = setup();
    publish(3);
    const a = subscribe();
    const b = subscribe({ since: { case: 'sinceSeq', value: 1n } });
    const pending = await expectNothingReady(a);
    hub.close();
    expect(await pending.next).toBe('END');
    expect(await take(b, 1)).toEqual(['END']);
    expect(hub.subscriberCount).toBe(0);
    expect(() => subscribe()).toThrow('The event hub is closed.');
  });
});

describe('EventHub: many subscribers', () => {
  it('gives 300 concurrent subscribers with different filters exactly their matching events', async () => {
    const { hub, publish, subscribe } = setup();
    const total = 2000;
    // Event seq s (a client): local port 1000 + s % 41, remote 10.(s % 5).x.1 port 80-82, new state cycling.
    const states = [TcpState.ESTABLISHED, TcpState.FIN_WAIT1, TcpState.CLOSE, TcpState.TIME_WAIT];
    const shape = (s: number) => ({
      localAddress: '192.168.0.1',
      localPort: 1000 + (s % 41),
      remoteAddress: `10.${s % 5}.${s % 256}.1`,
      remotePort: 80 + (s % 3),
      newState: states[s % 4],
    });
    // Six kinds of subscriber: by port, by address or port, by server endpoint
    // or port (indexed under two ports, which can both be an event's), by
    // server endpoint, by state, and everything; a quarter exclude CLOSE.
    const subscribers = Array.from({ length: 300 }, (_, i) => {
      const port = 1000 + (i % 41);
      const net = i % 5;
      const serverPort = 80 + (i % 3);
      const kinds: [RequestInit['include'], (e: ReturnType<typeof shape>, s: number) => boolean][] = [
        [[{ port: [port] }], (e) => e.localPort === port],
        [[{ address: [`10.${net}.0.0/16`] }, { port: [port] }], (e, s) => s % 5 === net || e.localPort === port],
        [[{ serverEndpoint: [`0.0.0.0:${serverPort}`] }, { port: [port] }], (e) => e.remotePort === serverPort || e.localPort === port],
        [[{ serverEndpoint: [`10.${net}.7.1:${serverPort}`] }], (e) => e.remotePort === serverPort && e.remoteAddress === `10.${net}.7.1`],
        [[{ newState: [TcpState.TIME_WAIT] }], (e) => e.newState === TcpState.TIME_WAIT],
        [[], () => true],
      ];
      const [include, included] = kinds[i % kinds.length];
      const exclude = i % 4 === 0 ? [{ newState: [TcpState.CLOSE] }] : [];
      const matches = (s: number) => {
        const e = shape(s);
        return included(e, s) && !(i % 4 === 0 && e.newState === TcpState.CLOSE);
      };
      const expected = Array.from({ length: total }, (_, k) => k + 1)
        .filter(matches)
        .map((s) => `e${s}`);
      const stream = subscribe({ include, exclude }, { peer: `client-${i}` });
      const received: string[] = [];
      const done = (async () => {
        for await (const response of stream) received.push(label(response));
      })();
      return { expected, received, done };
    });
    expect(hub.subscriberCount).toBe(300);
    // Readers run between batches, as they would between kernel batches.
    for (let seq = 1; seq <= total; seq += 100) {
      publish(100, (k) => shape(seq + k));
      await tick();
    }
    // Every reader has drained its queue and waits for more: nothing extra is on its way.
    expect(hub.stats().subscribers.filter((s) => s.queued > 0)).toEqual([]);
    for (const s of subscribers) expect(s.received).toEqual(s.expected);
    expect(hub.stats().subscriberDrops).toBe(0);
    hub.close();
    await Promise.all(subscribers.map((s) => s.done));
    expect(hub.subscriberCount).toBe(0);
  });
});

describe('EventHub: port index', () => {
  it('delivers an event once to a stream indexed under both of its ports', async () => {
    const { publish, subscribe } = setup();
    const both = subscribe({ include: [{ port: [80, 40000] }] });
    const endpoint = subscribe({ include: [{ serverEndpoint: ['10.0.0.2:80'] }, { port: [40000] }] });
    const other = subscribe({ include: [{ port: [81] }] });
    // e1 has both ports, e2 only 80, e3 neither.
    publish(3, (i) => ({ localPort: [40000, 40001, 40002][i], remotePort: [80, 80, 81][i] }));
    expect(await take(both, 2)).toEqual(['e1', 'e2']);
    expect(await take(endpoint, 2)).toEqual(['e1', 'e2']);
    expect(await take(other, 1)).toEqual(['e3']);
    await expectNothingReady(both);
    await expectNothingReady(endpoint);
  });
});

describe('EventHub: stats', () => {
  it('reports events per second over the last 10 whole seconds and each subscriber', async () => {
    const { hub, clock, publish, subscribe } = setup();
    const stream = subscribe({}, { peer: '10.1.1.1:5555' });
    clock.ms = T0 + 500;
    publish(100);
    clock.ms = T0 + 1500;
    publish(200);
    clock.ms = T0 + 2200;
    publish(50); // the current second does not count yet
    expect(hub.stats().eventsPerSecond).toBe(30);
    clock.ms = T0 + 11_100; // T0's second has left the 10 s window
    expect(hub.stats().eventsPerSecond).toBe(25);
    await take(stream, 300);
    expect(hub.stats().subscribers).toEqual([
      { id: 1, peer: '10.1.1.1:5555', since: new Date(T0), delivered: 300, dropped: 0, queued: 50 },
    ]);
  });

  it('refuses invalid options', () => {
    expect(() => new EventHub({ agentId: 'a', bootId: 'b', subscriberQueueMax: 0 })).toThrow(
      'EventHub option subscriberQueueMax must be an integer >= 1, not 0',
    );
  });
});

/** An EventBatch over ready-made events (unstamped), counting the messages asked of it. */
function eventBatch(events: StateChange[]) {
  const asked: number[] = [];
  const batch: EventBatch & { asked: number[] } = {
    length: events.length,
    timeSeconds: 0,
    timeNanos: 0,
    asked,
    time(i: number) {
      batch.timeSeconds = Number(events[i].time!.seconds);
      batch.timeNanos = events[i].time!.nanos;
    },
    size: () => 100,
    message(i: number) {
      asked.push(i);
      return create(StateChangeSchema, events[i]);
    },
    localPort: (i: number) => events[i].localPort,
    remotePort: (i: number) => events[i].remotePort,
  };
  return batch;
}

describe('EventHub: batches kept as they came (publishBatch)', () => {
  it('gives live and replaying subscribers the same events publish() would, making objects only for followed ports', async () => {
    const { hub, change, subscribe } = setup();
    const made = (n: number) => Array.from({ length: n }, (_, i) => change({ localPort: 40000 + i, cookie: BigInt(i) }));
    const stamped = (events: StateChange[], firstSeq: number) =>
      events.map((e, i) => create(StateChangeSchema, { ...e, agentId: 'agent-1', bootId: 'boot-1', seq: BigInt(firstSeq + i) }));
    const first = made(3);
    hub.publishBatch(eventBatch(first));
    const port = subscribe({ include: [{ port: [40001] }] });
    const second = made(4);
    const batch = eventBatch(second);
    hub.publishBatch(batch);
    // Only seq 5 (port 40001) has a follower.
    expect(batch.asked).toEqual([1]);
    batch.asked.length = 0;
    const live = await port.next();
    expect(equals(StateChangeSchema, live.value!.response.value as StateChange, stamped(second, 4)[1])).toBe(true);

    const replay = subscribe({ since: { case: 'sinceSeq', value: 1n }, follow: false });
    const replayed: StateChange[] = [];
    for await (const response of replay) replayed.push(response.response.value as StateChange);
    const want = [...stamped(first, 1), ...stamped(second, 4)];
    expect(replayed.length).toBe(7);
    replayed.forEach((event, i) => expect(equals(StateChangeSchema, event, want[i])).toBe(true));
    // The replay made its own messages (seqs 4 to 7 are the second batch's 0 to 3).
    expect(batch.asked).toEqual([0, 1, 2, 3]);
    expect(hub.stats().replay).toMatchObject({ events: 7, bytes: 700 });
  });
});
