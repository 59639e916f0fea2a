// Static files for a web page served beside the API on the HTTP/1.1 port
// (the collector's timeline page): `/` is the page's index.html, `/assets/...`
// its bundled scripts and styles. Nothing else is served from disk, so no
// RPC path (`/package.Service/Method`) can ever be shadowed by a file.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The Content-Type of a file by its extension; application/octet-stream when unknown. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Whether a request path (without the query) is one the static files answer: `/`, `/index.html`, `/assets/...`. */
export function isStaticPath(path: string): boolean {
  return path === '/' || path === '/index.html' || path.startsWith('/assets/');
}

/**
 * A handler for GET and HEAD of `/`, `/index.html` and `/assets/...` from the
 * files under `root`. A path that climbs out (`..`, also percent-encoded), or
 * holds a backslash or NUL, gets 400; a missing file 404. Hashed assets may be
 * cached for good; index.html is revalidated so a new build shows at once.
 */
export function createStaticFiles(root: string): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
  const base = resolve(root);
  return async (req, res, path) => {
    let relative: string;
    try {
      relative = path === '/' ? 'index.html' : decodeURIComponent(path.slice(1));
    } catch {
      return text(res, 400, `bad request: ${path} is not a valid percent-encoded path\n`);
    }
    const segments = relative.split('/');
    if (segments.some((s) => s === '..' || s === '.') || /[\\\0]/.test(relative)) {
      return text(res, 400, 'bad request: a path may not contain "..", ".", backslashes or NUL\n');
    }
    const file = resolve(base, ...segments);
    // Belt and braces: whatever the segments were, the file lies under the root.
    if (!file.startsWith(base + sep)) return text(res, 400, 'bad request: the path leaves the served directory\n');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
        return text(res, 404, relative === 'index.html' ? `not found: no page is built in ${base}\n` : `not found: ${path}\n`);
      }
      return text(res, 500, `cannot read ${path}: ${(error as Error).message}\n`);
    }
    res.writeHead(200, {
      'Content-Type': contentTypeOf(file),
      'Content-Length': body.length,
      'Cache-Control': relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}
