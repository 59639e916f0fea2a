import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { OVERALL_HEALTH, ServingStatus, type HealthState } from './health.js';
import { createStaticFiles, isStaticPath } from './static-files.js';

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

// What browsers may send and read on Connect and gRPC-Web calls (the lists
// @connectrpc/cors publishes).
const ALLOWED_HEADERS = [
  'Content-Type',
  'Connect-Protocol-Version',
  'Connect-Timeout-Ms',
  'Connect-Accept-Encoding',
  'Connect-Content-Encoding',
  'Content-Encoding',
  'Accept-Encoding',
  'Grpc-Timeout',
  'X-Grpc-Web',
  'X-User-Agent',
].join(', ');
const EXPOSED_HEADERS = ['Grpc-Status', 'Grpc-Message', 'Grpc-Status-Details-Bin', 'Content-Encoding'].join(', ');

/**
 * The HTTP/1.1 listener's handler: `GET /healthz`, `GET /metrics`, and (when
 * `rpc` is given) Connect and gRPC-Web calls open to any origin, plus (when
 * `staticRoot` is given too) a web page from that directory at `GET /` and
 * `/assets/...`. Without `rpc` (TLS on) the page is not served either: it
 * could not call the API, which is then reachable only over TLS.
 */
export function createHttpEndpoints(options: {
  health: HealthState;
  metrics: Registry;
  rpc: NodeHandler | undefined;
  staticRoot?: string;
}): NodeHandler {
  const { health, metrics, rpc, staticRoot } = options;
  const staticFiles = staticRoot === undefined ? undefined : createStaticFiles(staticRoot);
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/healthz' && read) return healthz(health, res);
    if (path === '/metrics' && read) return void prometheus(metrics, res);
    const page = staticFiles !== undefined && read && isStaticPath(path);
    if (!rpc) {
      return text(res, 404, page ? 'not found: the web page is served only when TLS is off (with TLS on, the API is reachable only over TLS on the gRPC port)\n' : 'not found: RPCs are served on the gRPC port only when TLS is on\n');
    }
    if (page) return void staticFiles(req, res, path);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '7200',
      });
      return void res.end();
    }
    rpc(req, res);
  };
}

function healthz(health: HealthState, res: ServerResponse): void {
  if (health.shuttingDown) return text(res, 503, 'shutting down');
  if (health.get(OVERALL_HEALTH) !== ServingStatus.SERVING) return text(res, 503, 'not serving');
  text(res, 200, 'ok');
}

async function prometheus(metrics: Registry, res: ServerResponse): Promise<void> {
  try {
    const body = await metrics.metrics();
    res.writeHead(200, { 'Content-Type': metrics.contentType });
    res.end(body);
  } catch (error) {
    text(res, 500, `cannot collect metrics: ${(error as Error).message}\n`);
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}
