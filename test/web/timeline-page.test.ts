/// <reference lib="dom" />
// The web timeline page in Debian's headless Chromium (driven by
// playwright-core), against a collector filled with real captured
// connections: nginx in one namespace host, curl in another, the agent on
// this host restricted to the server's endpoints, the collector (SQLite)
// serving the page on its HTTP port. The page must draw each connection's
// client and server sides exactly as QueryTimeline describes them, zoom and
// pan, and in live mode show a new connection without a reload.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durationNs, formatDuration, stateName } from '@tcpstate/model';
import { type ConnectionTimeline, Observation, Side } from '@tcpstate/proto';
import { createNetwork, type NetnsHost, type Nginx, type RunningProgram, startNginx, startProgram } from '@tcpstate/testbed';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorClient } from '../collector/support/collector-client.js';
import { eventually } from '../collector/support/ingest-checks.js';

const CHROMIUM = '/usr/bin/chromium';
const testDir = dirname(fileURLToPath(import.meta.url));
const SCREENSHOT = join(testDir, '..', 'artifacts', 'timeline-page.png');
const README_SCREENSHOT = join(testDir, '..', '..', 'docs', 'img', 'timeline-page.png');

// Port 80 keeps connections alive, so curl (the client) closes first; port 81
// closes after each response and ends the body with its FIN, so the server
// closes first.
const CLIENT_CLOSES = 80;
const SERVER_CLOSES = 81;
const CLIENT_CLOSES_STATES = {
  client: [
    ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT'],
    // The kernel may re-report FIN_WAIT2 once the socket is orphaned.
    ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'FIN_WAIT2', 'TIME_WAIT'],
  ],
  server: [['SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']],
};
const SERVER_CLOSES_STATES = {
  client: [['SYN_SENT', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']],
  server: [
    ['SYN_RECV', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT'],
    ['SYN_RECV', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'FIN_WAIT2', 'TIME_WAIT'],
  ],
};

let net: ReturnType<typeof createNetwork>;
let server: NetnsHost;
let clientHost: NetnsHost;
let nginx: Nginx | undefined;
let agent: RunningProgram | undefined;
let collector: RunningProgram | undefined;
let collectorClient: CollectorClient;
let dataDir: string;
let browser: Browser | undefined;
let page: Page;

/** curl from the client host to the server from a fixed local port; nginx answers "ok". */
async function curl(port: number, localPort: number): Promise<void> {
  expect(await clientHost.run('curl', ['-sS', '--local-port', String(localPort), `http://${server.ipv4}:${port}/`])).toBe('ok\n');
}

const states = (t: ConnectionTimeline | undefined) => (t?.segments ?? []).map((s) => stateName(s.state));

/** The client and server records of the connection from `localPort`, once the collector holds both with their expected states. */
async function storedConnection(localPort: number, expected: { client: string[][]; server: string[][] }): Promise<{ client: ConnectionTimeline; server: ConnectionTimeline }> {
  let last: ConnectionTimeline[] = [];
  try {
    return await eventually(async () => {
      last = (await collectorClient.queryTimeline({ include: [{ port: [localPort] }] })).connections;
      const client = last.find((c) => c.side === Side.CLIENT && c.localPort === localPort);
      const server = last.find((c) => c.side === Side.SERVER && c.remotePort === localPort);
      const done = expected.client.some((e) => JSON.stringify(e) === JSON.stringify(states(client))) && expected.server.some((e) => JSON.stringify(e) === JSON.stringify(states(server)));
      return done ? { client: client!, server: server! } : undefined;
    }, `the collector to hold both sides of the connection from port ${localPort}`);
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${JSON.stringify(last.map((c) => [Side[c.side], c.localPort, c.remotePort, states(c)]))}\n${collector?.output()}`);
  }
}

const text = (selector: string) => page.locator(selector).textContent();
const laneOf = (c: { client: ConnectionTimeline }) => page.locator(`section.lane[data-client-cookie="${c.client.ref!.cookie}"]`);
const attrs = (l: Locator, name: string) => l.evaluateAll((els, n) => els.map((e) => e.getAttribute(n) ?? ''), name);

/** The page's bars of one side of a lane, as the test reads them. */
async function drawnSegments(lane: Locator, side: 'client' | 'server') {
  const segments = lane.locator(`g.row[data-side="${side}"] g.segment`);
  return segments.evaluateAll((els) =>
    els.map((e) => ({
      state: e.getAttribute('data-state'),
      durationNs: e.getAttribute('data-duration-ns'),
      open: e.getAttribute('data-open'),
      approximate: e.getAttribute('data-approximate'),
      title: e.querySelector('title')?.textContent ?? '',
      label: e.getAttribute('data-label'),
    })),
  );
}

/** The page shows one side's record exactly: the same states in order, closed segments with the collector's exact durations. */
async function expectSide(lane: Locator, side: 'client' | 'server', record: ConnectionTimeline): Promise<void> {
  const drawn = await drawnSegments(lane, side);
  expect(drawn.map((d) => d.state)).toEqual(states(record));
  record.segments.forEach((seg, i) => {
    const name = stateName(seg.state);
    expect(drawn[i].approximate).toBe(String(seg.approximate));
    expect(drawn[i].open).toBe(String(seg.end === undefined));
    if (seg.end !== undefined) {
      const ns = durationNs(seg.duration)!;
      expect(drawn[i].durationNs).toBe(String(ns));
      // The label says the state and its duration: in the bar's tooltip always.
      expect(drawn[i].title).toContain(`${side} ${name}: ${seg.approximate ? '≈' : ''}${formatDuration(ns)} from +`);
    } else {
      expect(drawn[i].title).toMatch(new RegExp(`^${side} ${name}: .*, still open`));
    }
  });
  expect(await lane.locator(`g.row[data-side="${side}"]`).getAttribute('data-cookie')).toBe(String(record.ref!.cookie));
}

beforeAll(async () => {
  // No browser is a broken set-up, not a reason to skip: say what is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the web page test needs Debian's chromium (apt-get install chromium)`);
  net = createNetwork('web', 91, 2);
  [server, clientHost] = net.hosts;
  nginx = await startNginx(server, [
    { listen: [`${server.ipv4}:${CLIENT_CLOSES}`] },
    { listen: [`${server.ipv4}:${SERVER_CLOSES}`], keepaliveTimeout: 0, bodyEndsAtClose: true },
  ]);
  agent = await startProgram('agent', ['--agent-id', 'web-agent', '--server-endpoint', `${server.ipv4}:${CLIENT_CLOSES}`, '--server-endpoint', `${server.ipv4}:${SERVER_CLOSES}`]);
  dataDir = mkdtempSync(join(tmpdir(), 'tcpstate-web-'));
  collector = await startProgram('collector', ['--store', dataDir, '--agent', agent.grpcAddress, '--heartbeat', '500ms']);
  collectorClient = new CollectorClient(collector.grpcAddress);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  collectorClient?.close();
  await collector?.stop();
  await agent?.stop();
  await nginx?.stop();
  net?.destroy();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the web timeline page', () => {
  let clientCloses: { client: ConnectionTimeline; server: ConnectionTimeline };
  let serverCloses: { client: ConnectionTimeline; server: ConnectionTimeline };

  it('draws each connection as a lane, client above server, with the collector\'s exact segments', async () => {
    await curl(CLIENT_CLOSES, 40101);
    await curl(SERVER_CLOSES, 40102);
    clientCloses = await storedConnection(40101, CLIENT_CLOSES_STATES);
    serverCloses = await storedConnection(40102, SERVER_CLOSES_STATES);

    await page.goto(`http://${collector!.httpAddress}/`);
    await page.locator('body[data-loading="false"]').waitFor();
    await page.locator('#error').waitFor({ state: 'hidden' });
    expect(await attrs(page.locator('#host-list label.host'), 'data-agent')).toEqual(['web-agent']);

    for (const c of [clientCloses, serverCloses]) {
      const lane = laneOf(c);
      expect(await lane.count()).toBe(1);
      expect(await lane.getAttribute('data-server-cookie')).toBe(String(c.server.ref!.cookie));
      const title = await lane.locator('.lane-title').textContent();
      expect(title).toContain(`${c.client.localAddress}:${c.client.localPort} → ${c.client.remoteAddress}:${c.client.remotePort}`);
      // Client above server, both drawn.
      const clientBox = (await lane.locator('g.row[data-side="client"]').boundingBox())!;
      const serverBox = (await lane.locator('g.row[data-side="server"]').boundingBox())!;
      expect(clientBox.y + clientBox.height).toBeLessThanOrEqual(serverBox.y);
      await expectSide(lane, 'client', c.client);
      await expectSide(lane, 'server', c.server);
    }
    // TIME_WAIT is drawn still open on the side that closed first, as the agent saw it begin.
    const tw = laneOf(clientCloses).locator('g.row[data-side="client"]');
    expect(await tw.getAttribute('data-time-wait-observed-by')).toBe(Observation[clientCloses.client.timeWaitObservedBy]);
    expect(await tw.locator('g.segment').last().getAttribute('data-open')).toBe('true');
    expect(await laneOf(serverCloses).locator('g.row[data-side="server"] g.segment').last().getAttribute('data-state')).toBe('TIME_WAIT');
  });

  it('zooms (buttons, Ctrl + wheel) and pans (drag) on the compressed axis; zoomed in, every bar is labelled with its state and duration', async () => {
    const lane = laneOf(clientCloses);
    const plot = lane.locator('svg.lane-plot');
    const view = async () => ({ from: Number(await lane.getAttribute('data-view-from-ns')), to: Number(await lane.getAttribute('data-view-to-ns')) });
    const widthAt1 = Number(await plot.getAttribute('width'));
    const whole = await view();
    expect(whole.from).toBe(0);
    expect(whole.to).toBeGreaterThan(0);

    const axisAt1 = Number(await lane.getAttribute('data-axis-width'));
    for (let i = 0; i < 4; i++) await page.click('#zoom-in');
    expect(await text('#zoom-level')).toBe('506%');
    // The axis scales by exactly the zoom factor (the labels' column does not).
    expect(Number(await lane.getAttribute('data-axis-width'))).toBeCloseTo(axisAt1 * 1.5 ** 4, 0);
    expect(Number(await plot.getAttribute('width'))).toBeGreaterThan(widthAt1 * 4);
    const zoomed = await view();
    expect(zoomed.to - zoomed.from).toBeLessThan(whole.to - whole.from);
    expect(await lane.locator('.lane-view').textContent()).toMatch(/^showing \+\S+ … \+\S+$/);

    // Every bar of both sides now has room for "STATE duration" (open ones: "STATE duration+").
    for (const [side, record] of [['client', clientCloses.client], ['server', clientCloses.server]] as const) {
      const drawn = await drawnSegments(lane, side);
      drawn.forEach((d, i) => {
        const seg = record.segments[i];
        const shown = seg.end === undefined ? new RegExp(`^${d.state} ≈?\\S+\\+$`) : new RegExp(`^${d.state} ${seg.approximate ? '≈' : ''}${formatDuration(durationNs(seg.duration)!)}$`);
        expect(d.label).toMatch(shown);
      });
    }

    // Drag to the left: later times come into view.
    const box = (await page.locator('#timeline').boundingBox())!;
    const y = (await plot.boundingBox())!.y + 30;
    await page.mouse.move(box.x + 900, y);
    await page.mouse.down();
    await page.mouse.move(box.x + 500, y, { steps: 5 });
    await page.mouse.up();
    const panned = await view();
    expect(panned.from).toBeGreaterThan(zoomed.from);
    expect(await page.locator('#timeline').evaluate((e) => e.scrollLeft)).toBeGreaterThan(0);

    // Ctrl + wheel zooms out around the pointer.
    await page.mouse.move(box.x + 700, y);
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, 300);
    await page.keyboard.up('Control');
    await expect.poll(async () => parseInt((await text('#zoom-level'))!, 10)).toBeLessThan(506);

    await page.click('#zoom-reset');
    expect(await text('#zoom-level')).toBe('100%');
    expect(await view()).toEqual(whole);
  });

  it('filters by endpoint and host, and says what is wrong in a banner when the collector refuses the query, keeping what it showed', async () => {
    await page.fill('#endpoint', '10.91.0.1/99');
    await page.click('#show');
    const banner = page.locator('#error');
    await banner.waitFor({ state: 'visible' });
    expect(await banner.textContent()).toMatch(/^Cannot load the timeline: INVALID_ARGUMENT: include\[0\]\.address\[0\]: .*10\.91\.0\.1\/99/);
    expect(await laneOf(clientCloses).count()).toBe(1);

    await page.fill('#endpoint', 'nonsense');
    await page.click('#show');
    expect(await banner.textContent()).toBe('"nonsense" is not an endpoint (IP:PORT, [IPv6]:PORT), a port (:PORT) or an address (IP, IP/PREFIX)');

    // A good filter again: only the server-closes-first connection's endpoint.
    await page.fill('#endpoint', `${server.ipv4}:${SERVER_CLOSES}`);
    await page.click('#show');
    await banner.waitFor({ state: 'hidden' });
    await page.locator('body[data-loading="false"]').waitFor();
    expect(await laneOf(serverCloses).count()).toBe(1);
    expect(await laneOf(clientCloses).count()).toBe(0);
    await page.fill('#endpoint', '');
    await page.click('#show');
    await laneOf(clientCloses).waitFor();

    // Hosts: with the one agent ticked, the same connections.
    await page.check('#host-list input[value="web-agent"]');
    await page.click('#show');
    await page.locator('body[data-loading="false"]').waitFor();
    expect([await laneOf(clientCloses).count(), await laneOf(serverCloses).count()]).toEqual([1, 1]);
    await page.uncheck('#host-list input[value="web-agent"]');
  });

  it('follows Watch in live mode: a new connection\'s lane appears without a reload', async () => {
    // Marks this document: a reload would lose it.
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await page.check('#live');
    await page.locator('#live-state[data-state="following"]').waitFor({ timeout: 15_000 });
    const lanesBefore = Number(await page.locator('#lanes').getAttribute('data-lane-count'));

    await curl(CLIENT_CLOSES, 40103);
    const fresh = await storedConnection(40103, CLIENT_CLOSES_STATES);
    const lane = laneOf(fresh);
    await lane.waitFor({ timeout: 15_000 });
    // Newest first: the new connection is the top lane, with both sides as stored.
    expect(await page.locator('section.lane').first().getAttribute('data-client-cookie')).toBe(String(fresh.client.ref!.cookie));
    await expect.poll(async () => (await drawnSegments(lane, 'server')).map((d) => d.state), { timeout: 10_000 }).toEqual(states(fresh.server));
    await expect.poll(async () => (await drawnSegments(lane, 'client')).map((d) => d.state), { timeout: 10_000 }).toEqual(states(fresh.client));
    expect(Number(await page.locator('#lanes').getAttribute('data-lane-count'))).toBe(lanesBefore + 1);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await page.locator('#error').waitFor({ state: 'hidden' });

    // The picture for the README, at 100%: every lane whole, the short states labelled too.
    await page.click('#zoom-reset');
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    if (process.env.TCPSTATE_UPDATE_SCREENSHOT === '1') {
      mkdirSync(dirname(README_SCREENSHOT), { recursive: true });
      copyFileSync(SCREENSHOT, README_SCREENSHOT);
    }
    expect(existsSync(SCREENSHOT)).toBe(true);
  });
});
