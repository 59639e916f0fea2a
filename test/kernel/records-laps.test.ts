// The capture's records array is filled in laps (the addon copies each record
// once, into an array the capture owns, and a batch is a view of it): real
// connections, more records than the array holds, and every record read at
// delivery must be whole and every connection's server side complete. A record
// the kernel skipped (recursion_misses) must be counted, never silent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeRecord, KernelCapture, RECORD_SIZE, RecordKind } from '@tcpstate/kernel';
import { loadgenScript, nodeBin, type Nginx, startNginx } from '@tcpstate/testbed';

import { STATE_NAMES } from './event-log.js';
import { createHostPair, requireRoot, type HostPair } from './netns-hosts.js';

/** Records the array holds with keepRecords 0: two batches of 16,384 (libs/kernel). */
const CAPACITY = 2 * 16384;
const CONNECTIONS = 4000;
const SERVER_STEPS = ['LISTEN->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->CLOSE_WAIT', 'CLOSE_WAIT->LAST_ACK', 'LAST_ACK->CLOSE'];

let pair: HostPair;
let nginx: Nginx | undefined;
let capture: KernelCapture | undefined;
/** Per cookie, the server side's steps, read from the batch as it was delivered. */
const serverSteps = new Map<bigint, string[]>();
const batches: { first: number; count: number }[] = [];
let malformed = 0;
let records = 0;

beforeAll(async () => {
  requireRoot();
  pair = createHostPair('tlp', 204);
  capture = KernelCapture.openRecords({ netns: [pair.serverNetns, pair.clientNetns], keepRecords: 0, maxLatencyMs: 20 }, (batch) => {
    batches.push({ first: batch.view.byteOffset / RECORD_SIZE, count: batch.count });
    for (let i = 0; i < batch.count; i++) {
      const r = decodeRecord(batch.view, i * RECORD_SIZE);
      records++;
      if (r.kind !== RecordKind.TRANSITION || !STATE_NAMES[r.oldState] && r.oldState !== 0 || !STATE_NAMES[r.newState]) malformed++;
      if (r.netns === pair.serverNetns && r.localPort === 80 && r.remotePort !== 0) {
        const steps = serverSteps.get(r.cookie) ?? [];
        steps.push(`${STATE_NAMES[r.oldState]}->${STATE_NAMES[r.newState]}`);
        serverSteps.set(r.cookie, steps);
      }
    }
  });
  nginx = await startNginx(pair.serverHost, [{ listen: [`${pair.serverV4}:80`], keepaliveTimeout: 0 }]);
});

afterAll(async () => {
  capture?.close();
  await nginx?.stop();
  pair?.remove();
});

describe('the records array, filled in laps', () => {
  it(`delivers ${CONNECTIONS} connections' records whole across more than one lap, losses counted`, async () => {
    const out = await pair.clientHost.run(nodeBin, [loadgenScript, pair.serverV4, '80', '--count', String(CONNECTIONS), '--concurrency', '8']);
    expect(JSON.parse(out.trim().split('\n').at(-1)!).errors).toBe(0);
    const ended = () => [...serverSteps.values()].filter((s) => s.at(-1) === 'LAST_ACK->CLOSE').length;
    const deadline = Date.now() + 20_000;
    while (ended() < CONNECTIONS && Date.now() < deadline) {
      capture!.flush();
      await new Promise((r) => setTimeout(r, 50));
    }
    capture!.flush();

    // More records than the array holds, so it wrapped: a batch starts at record 0 after one that did not.
    expect(records).toBeGreaterThan(CAPACITY);
    expect(batches.some((b, i) => i > 0 && b.first === 0 && batches[i - 1].first > 0)).toBe(true);
    expect(batches.every((b) => b.first + b.count <= CAPACITY)).toBe(true);
    expect(malformed).toBe(0);

    // Every server side complete and exact, but for the steps the kernel skipped, which it counted.
    expect(serverSteps.size).toBe(CONNECTIONS);
    const missingSteps = [...serverSteps.values()].reduce((n, s) => n + SERVER_STEPS.length - s.length, 0);
    const complete = [...serverSteps.values()].filter((s) => JSON.stringify(s) === JSON.stringify(SERVER_STEPS)).length;
    expect(complete + missingSteps).toBeGreaterThanOrEqual(CONNECTIONS);
    expect(BigInt(missingSteps) <= capture!.kernelDrops()).toBe(true);
    for (const s of serverSteps.values()) expect(SERVER_STEPS).toEqual(expect.arrayContaining(s));
  });
});
