import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HealthState } from './health.js';
import { createHttpEndpoints } from './http-endpoints.js';
import { contentTypeOf } from './static-files.js';
import { fixedAgentService } from './test-support/agent-status.js';
import { httpBase, TestServers } from './test-support/servers.js';

// A served directory (site/) beside a file that must never be served (secret.txt).
let dir: string;
let site: string;
const INDEX = '<!doctype html><title>page</title>';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tcpstate-static-'));
  site = join(dir, 'site');
  mkdirSync(join(site, 'assets'), { recursive: true });
  writeFileSync(join(site, 'index.html'), INDEX);
  writeFileSync(join(site, 'assets', 'main-abc123.js'), 'console.log(1);\n');
  writeFileSync(join(site, 'assets', 'main-abc123.css'), 'body{}\n');
  writeFileSync(join(site, 'assets', 'blob.bin'), Buffer.from([1, 2, 3]));
  writeFileSync(join(dir, 'secret.txt'), 'SECRET');
  writeFileSync(join(site, 'other.txt'), 'not under assets/');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers = new TestServers();
afterEach(() => servers.closeAll());

/** A GET with the path sent exactly as written (fetch would normalise "..") . */
function rawGet(base: string, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; cache: string | undefined; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], cache: res.headers['cache-control'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web page on the HTTP/1.1 listener', () => {
  it('serves index.html at / and the assets with their content types', async () => {
    const base = httpBase(await servers.start([fixedAgentService()], { staticRoot: site }));
    expect(await rawGet(base, '/')).toEqual({ status: 200, type: 'text/html; charset=utf-8', cache: 'no-cache', body: INDEX });
    expect(await rawGet(base, '/index.html?x=1')).toMatchObject({ status: 200, body: INDEX });
    expect(await rawGet(base, '/assets/main-abc123.js')).toEqual({
      status: 200, type: 'text/javascript; charset=utf-8', cache: 'public, max-age=31536000, immutable', body: 'console.log(1);\n',
    });
    expect(await rawGet(base, '/assets/main-abc123.css')).toMatchObject({ status: 200, type: 'text/css; charset=utf-8', body: 'body{}\n' });
    expect(await rawGet(base, '/assets/blob.bin')).toMatchObject({ status: 200, type: 'application/octet-stream' });
    expect(await rawGet(base, '/', 'HEAD')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: '' });
  });

  it('answers 404 for files that are not there and serves nothing outside / and /assets/', async () => {
    const base = httpBase(await servers.start([fixedAgentService()], { staticRoot: site }));
    expect(await rawGet(base, '/assets/missing.js')).toEqual({ status: 404, type: 'text/plain; charset=utf-8', cache: undefined, body: 'not found: /assets/missing.js\n' });
    expect((await rawGet(base, '/assets/')).status).toBe(404);
    // Only / and /assets/ come from disk: other paths belong to the RPC router.
    expect(await rawGet(base, '/other.txt')).toMatchObject({ status: 404 });
    expect((await rawGet(base, '/other.txt')).body).not.toContain('not under assets');
  });

  it('refuses paths that climb out of the directory, however they are spelled', async () => {
    const base = httpBase(await servers.start([fixedAgentService()], { staticRoot: site }));
    for (const path of ['/assets/../../secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/%2E%2E%5C%2E%2E%5Csecret.txt', '/assets/./main-abc123.js', '/assets/a%00b', '/assets/%zz']) {
      const got = await rawGet(base, path);
      expect([path, got.status]).toEqual([path, 400]);
      expect(got.body).not.toContain('SECRET');
    }
  });

  it('still serves Connect calls on the same port', async () => {
    const base = httpBase(await servers.start([fixedAgentService()], { staticRoot: site }));
    const response = await fetch(`${base}/tcpstate.v1.AgentService/GetStatus`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ agentId: 'agent-under-test' });
  });

  it('says the page needs TLS off when the API is not served on this port', async () => {
    const handler = createHttpEndpoints({ health: new HealthState(), metrics: new Registry(), rpc: undefined, staticRoot: site });
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const got = await rawGet(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/');
      expect([got.status, got.body]).toEqual([404, 'not found: the web page is served only when TLS is off (with TLS on, the API is reachable only over TLS on the gRPC port)\n']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers 404 naming the directory when no page is built there', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const base = httpBase(await servers.start([fixedAgentService()], { staticRoot: empty }));
    expect(await rawGet(base, '/')).toMatchObject({ status: 404, body: `not found: no page is built in ${empty}\n` });
  });

  it('knows the content types of what a vite build emits', () => {
    expect(['a.html', 'a.js', 'a.css', 'a.svg', 'a.png', 'a.woff2', 'a.map', 'A.JS', 'noext'].map(contentTypeOf)).toEqual([
      'text/html; charset=utf-8', 'text/javascript; charset=utf-8', 'text/css; charset=utf-8', 'image/svg+xml', 'image/png',
      'font/woff2', 'application/json', 'text/javascript; charset=utf-8', 'application/octet-stream',
    ]);
  });
});
