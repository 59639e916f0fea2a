// The project's load generator: opens and closes TCP connections as fast as
// it is allowed, from whichever network namespace it runs in.
// Usage: node loadgen-main.js HOST PORT (--count N | --seconds S) [--concurrency C] [--rate PER_SECOND] [--request]
// Prints one JSON line at the end: {"connections": N, "errors": E, "seconds": S, "rate": R}.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string' },
    seconds: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string' },
    request: { type: 'boolean', default: false },
  },
});
const [host, portText] = positionals;
if (!host || !portText || (!values.count && !values.seconds)) {
  console.error('usage: loadgen HOST PORT (--count N | --seconds S) [--concurrency C] [--rate PER_SECOND] [--request]');
  process.exit(2);
}
const port = Number(portText);
const count = values.count ? Number(values.count) : Infinity;
const deadline = values.seconds ? performance.now() + Number(values.seconds) * 1000 : Infinity;
const concurrency = Number(values.concurrency);
const interval = values.rate ? 1000 / Number(values.rate) : 0;
const request = 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';

let started = 0;
let done = 0;
let errors = 0;
const t0 = performance.now();
let nextAt = t0;

// One connection: connect, optionally send an HTTP request and read to the
// end, then close (the client closes first unless the server did already).
function one(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on('error', () => {
      errors++;
      resolve();
    });
    s.on('connect', () => {
      if (values.request) {
        s.write(request);
        s.resume();
        s.on('end', () => s.end());
      } else s.end();
    });
    s.on('close', () => resolve());
  });
}

async function worker(): Promise<void> {
  while (started < count && performance.now() < deadline) {
    started++;
    if (interval) {
      const wait = nextAt - performance.now();
      nextAt += interval;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await one();
    done++;
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ connections: done, errors, seconds, rate: done / seconds }));
