// The project's load generator (libs/testbed/src/loadgen-main.ts) spread over
// a range of server ports, round robin: traffic to many services, so that
// subscribers following one service each share it out. Same loop, same
// output; only the port changes from one connection to the next.
// Usage: node multi-port-loadgen.ts HOST FIRST_PORT-LAST_PORT --seconds S [--concurrency C] [--rate PER_SECOND]
// Prints one JSON line at the end: {"connections": N, "errors": E, "seconds": S, "rate": R}.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string' },
  },
});
const [host, range] = positionals;
const [firstPort, lastPort] = (range ?? '').split('-').map(Number);
if (!host || !(firstPort > 0) || !(lastPort >= firstPort) || !values.seconds) {
  console.error('usage: multi-port-loadgen HOST FIRST_PORT-LAST_PORT --seconds S [--concurrency C] [--rate PER_SECOND]');
  process.exit(2);
}
const deadline = performance.now() + Number(values.seconds) * 1000;
const concurrency = Number(values.concurrency);
const interval = values.rate ? 1000 / Number(values.rate) : 0;
const ports = lastPort - firstPort + 1;

let started = 0;
let done = 0;
let errors = 0;
const t0 = performance.now();
let nextAt = t0;

// One connection: connect, then close (the client closes first).
function one(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on('error', () => {
      errors++;
      resolve();
    });
    s.on('connect', () => s.end());
    s.on('close', () => resolve());
  });
}

async function worker(): Promise<void> {
  while (performance.now() < deadline) {
    const port = firstPort + (started++ % ports);
    if (interval) {
      const wait = nextAt - performance.now();
      nextAt += interval;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await one(port);
    done++;
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ connections: done, errors, seconds, rate: done / seconds }));
