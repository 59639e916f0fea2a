// LeaseKeeper's balancing decisions against a real store. SQLite grants every
// lease (it serves one replica), so what is checked here is each keeper's own
// side: the share it keeps to and the surplus it hands over; the race between
// replicas for a lease is the store's (libs/store tests, PostgreSQL).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventStore, openStore } from '@tcpstate/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseKeeper } from './lease-keeper.js';

const AGENTS = ['h0', 'h1', 'h2', 'h3'];

describe('LeaseKeeper', () => {
  let dir: string;
  let store: EventStore;
  const keepers: LeaseKeeper[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tcpstate-leases-'));
    store = await openStore(dir);
  });

  afterEach(async () => {
    await Promise.all(keepers.splice(0).map((k) => k.stop()));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const keeper = (replicaId: string) => {
    const surplus: string[] = [];
    const lost: string[] = [];
    const k = new LeaseKeeper(store, replicaId, 60_000, { onLost: (a) => lost.push(a), onSurplus: (a) => surplus.push(a) });
    keepers.push(k);
    return { k, surplus, lost };
  };
  const acquireAll = (k: LeaseKeeper, agents: string[]) => Promise.all(agents.map((a) => k.acquire(a)));

  it('takes everything alone, hands the surplus over when a replica joins, keeps to its share, takes all again when it leaves', async () => {
    const a = keeper('a');
    await a.k.start();
    expect(await acquireAll(a.k, AGENTS)).toEqual([true, true, true, true]);
    expect(a.k.share).toBe(4);

    const b = keeper('b');
    await b.k.start();
    // b sees four agents leased and two replicas: its share is two, and asking for more is refused locally.
    expect(b.k.share).toBe(2);
    await a.k.tick();
    expect(a.surplus).toEqual(['h2', 'h3']);
    // The ingests store what they received and release (AgentIngest.handOver); b takes them.
    await a.k.release('h2');
    await a.k.release('h3');
    expect(await acquireAll(b.k, ['h2', 'h3', 'h0', 'h1'])).toEqual([true, true, false, false]);
    a.surplus.length = 0;
    await a.k.tick();
    await b.k.tick();
    expect([a.surplus, b.surplus, a.lost, b.lost]).toEqual([[], [], [], []]);
    expect((await store.heartbeat('a', 60_000)).leases).toEqual([
      { agentId: 'h0', replicaId: 'a' },
      { agentId: 'h1', replicaId: 'a' },
      { agentId: 'h2', replicaId: 'b' },
      { agentId: 'h3', replicaId: 'b' },
    ]);

    // a leaves (shutdown): b alone, its share is everything.
    await a.k.stop();
    await b.k.tick();
    expect(b.k.share).toBe(4);
    expect(await acquireAll(b.k, ['h0', 'h1'])).toEqual([true, true]);
  });

  it('asks for no more than its share at once, even while the database has not answered yet', async () => {
    const other = keeper('other');
    await other.k.start();
    const b = keeper('b');
    await b.k.start();
    // Two replicas, four wanted: concurrent asks for all four get two.
    const got = await acquireAll(b.k, AGENTS);
    expect(got.filter(Boolean)).toHaveLength(2);
  });
});
