import { create } from '@bufbuild/protobuf';
import { compileFilters } from '@tcpstate/model';
import { ConnectionFilterSchema, GapReason, GapSchema, type StateChange, StateChangeSchema, type WatchResponse } from '@tcpstate/proto';
import { describe, expect, it } from 'vitest';
import { type AgentProgress, LiveFeed, type WatchOptions } from './live-feed.js';

const event = (seq: number, localPort: number): StateChange =>
  create(StateChangeSchema, { seq: BigInt(seq), agentId: 'a1', bootId: 'b1', localPort, remotePort: 80 });

function open(feed: LiveFeed, options: Partial<WatchOptions> = {}) {
  const abort = new AbortController();
  const progress: AgentProgress[] = [{ agentId: 'a1', bootId: 'b1', lastSeq: 9n }];
  const stream = feed.watch({
    filters: compileFilters([], []),
    signal: abort.signal,
    queueMax: 100,
    heartbeatMs: 3_600_000,
    progress: () => progress,
    ...options,
  });
  /** The next `n` responses, as "event seq" / "gap first-last count" / "heartbeat agent seq". */
  const take = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(show((await stream.next()).value as WatchResponse));
    return out;
  };
  return { stream, take, abort };
}

/** A response in a few words. */
function show(r: WatchResponse): string {
  const m = r.response;
  if (m.case === 'event') return `event ${m.value.seq}`;
  if (m.case === 'gap') return `gap ${GapReason[m.value.reason]} ${m.value.firstSeq}-${m.value.lastSeq} count ${m.value.count}`;
  if (m.case === 'heartbeat') return `heartbeat ${m.value.agentId} ${m.value.lastSeq}`;
  if (m.case === 'events') return `events ${m.value.events.map((e) => e.seq).join(' ')}`;
  return 'nothing';
}
describe('LiveFeed', () => {
  it('hands each watcher the events its filters match, gaps included, in order', async () => {
    const feed = new LiveFeed();
    const all = open(feed);
    const port80 = open(feed, { filters: compileFilters([create(ConnectionFilterSchema, { port: [4000] })], []) });
    const pending = [all.take(4), port80.take(2)];
    await Promise.resolve();
    feed.publish('a1', 'host1', [event(1, 4000), event(2, 5000)], []);
    feed.publish('a1', 'host1', [event(3, 4000)], [create(GapSchema, { agentId: 'a1', reason: GapReason.KERNEL, count: 2n })]);
    expect(await pending[0]).toEqual(['event 1', 'event 2', 'gap KERNEL 0-0 count 2', 'event 3']);
    expect(await pending[1]).toEqual(['event 1', 'gap KERNEL 0-0 count 2']);
    all.abort.abort();
    port80.abort.abort();
    expect((await all.stream.next()).done).toBe(true);
    expect(feed.watcherCount).toBe(1); // port80's generator ends at its next read
    await port80.stream.next();
    expect(feed.watcherCount).toBe(0);
  });

  it('turns what a slow watcher cannot hold into one gap per agent run, before newer events', async () => {
    const feed = new LiveFeed();
    const slow = open(feed, { queueMax: 2 });
    const first = slow.stream.next(); // registers the watcher
    feed.publish('a1', 'host1', [1, 2, 3, 4, 5].map((seq) => event(seq, 4000)), []);
    expect(show((await first).value as WatchResponse)).toBe('event 1');
    expect(await slow.take(1)).toEqual(['event 2']);
    feed.publish('a1', 'host1', [event(6, 4000)], []);
    expect(await slow.take(2)).toEqual(['gap SLOW_SUBSCRIBER 3-5 count 3', 'event 6']);
    slow.abort.abort();
  });

  it('with max_batch, sends the queued events together, at most max_batch, gaps alone in their place', async () => {
    const feed = new LiveFeed();
    const batched = open(feed, { maxBatch: 3 });
    const first = batched.stream.next(); // registers the watcher
    await Promise.resolve();
    feed.publish('a1', 'host1', [1, 2, 3, 4].map((seq) => event(seq, 4000)), []);
    feed.publish('a1', 'host1', [event(5, 4000)], [create(GapSchema, { agentId: 'a1', reason: GapReason.KERNEL, count: 2n })]);
    // The first read was waiting: it takes what had arrived when it woke.
    expect(show((await first).value as WatchResponse)).toBe('events 1 2 3');
    expect(await batched.take(3)).toEqual(['events 4', 'gap KERNEL 0-0 count 2', 'events 5']);
    batched.abort.abort();
  });

  it('sends a heartbeat per ingested agent when idle, only for the hosts asked for', async () => {
    const feed = new LiveFeed();
    const w = open(feed, { heartbeatMs: 10, hosts: ['a1'] });
    expect(await w.take(1)).toEqual(['heartbeat a1 9']);
    const other = open(feed, { heartbeatMs: 10, hosts: ['elsewhere'] });
    expect(await other.take(1)).toEqual(['heartbeat  0']);
    w.abort.abort();
    other.abort.abort();
  });
});
