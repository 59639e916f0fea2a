import { describe, expect, it } from 'vitest';
import { agentCount, fairShare, surplusAgents, type ShareInput } from './fair-share.js';

const lease = (agentId: string, replicaId: string) => ({ agentId, replicaId });
const input = (over: Partial<ShareInput> & Pick<ShareInput, 'view'>): ShareInput => ({
  replicaId: 'a',
  wanted: new Set(),
  owned: new Set(),
  overflow: new Set(),
  ...over,
});

describe('fairShare', () => {
  it('is ceil(agents / replicas), everything for a lone replica', () => {
    expect([fairShare(4, 2), fairShare(5, 2), fairShare(4, 3), fairShare(1, 3), fairShare(0, 2), fairShare(4, 1), fairShare(4, 0)]).toEqual([2, 3, 2, 1, 0, 4, 4]);
  });
});

describe('agentCount', () => {
  it('counts leased agents and the agents this replica wants, each once', () => {
    const view = { replicas: ['a', 'b'], leases: [lease('x', 'b'), lease('y', 'a')] };
    expect(agentCount({ view, wanted: new Set(['x', 'y', 'z']), owned: new Set(['y']) })).toBe(3);
  });
});

describe('surplusAgents', () => {
  const four = ['h0', 'h1', 'h2', 'h3'];

  it('hands the last agents over when a second replica joins with none', () => {
    const view = { replicas: ['a', 'b'], leases: four.map((h) => lease(h, 'a')) };
    expect(surplusAgents(input({ view, wanted: new Set(four), owned: new Set(four) }))).toEqual(['h2', 'h3']);
  });

  it('hands over nothing at or below the share', () => {
    const view = { replicas: ['a', 'b'], leases: [lease('h0', 'a'), lease('h1', 'a'), lease('h2', 'b'), lease('h3', 'b')] };
    expect(surplusAgents(input({ view, wanted: new Set(four), owned: new Set(['h0', 'h1']) }))).toEqual([]);
  });

  it('hands over no more than the other replicas have room for', () => {
    // Three replicas, five agents: share 2. b holds 2 already, c none: a (3) gives 1.
    const five = [...four, 'h4'];
    const view = { replicas: ['a', 'b', 'c'], leases: [lease('h0', 'a'), lease('h1', 'a'), lease('h2', 'a'), lease('h3', 'b'), lease('h4', 'b')] };
    expect(surplusAgents(input({ view, wanted: new Set(five), owned: new Set(['h0', 'h1', 'h2']) }))).toEqual(['h2']);
    // Without c, nobody has room: a keeps its three.
    const two = { replicas: ['a', 'b'], leases: view.leases };
    expect(surplusAgents(input({ view: two, wanted: new Set(five), owned: new Set(['h0', 'h1', 'h2']) }))).toEqual([]);
  });

  it('keeps overflow agents (taken because nobody else did)', () => {
    const view = { replicas: ['a', 'b'], leases: four.map((h) => lease(h, 'a')) };
    expect(surplusAgents(input({ view, wanted: new Set(four), owned: new Set(four), overflow: new Set(['h3']) }))).toEqual(['h1', 'h2']);
  });

  it('counts an expired replica as gone: its room is nobody\'s', () => {
    // b's heartbeat expired (not in replicas) though a lease of it is still listed.
    const view = { replicas: ['a'], leases: [lease('h0', 'a'), lease('h1', 'a'), lease('h2', 'b')] };
    expect(surplusAgents(input({ view, wanted: new Set(four), owned: new Set(['h0', 'h1']) }))).toEqual([]);
  });
});
