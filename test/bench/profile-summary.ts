// Where a V8 CPU profile spent its time, as text: the functions with the most
// self time and the most inclusive time, in percent of the busy (non-idle)
// samples. For the profiles the benchmarks write with --profile DIR.
//
//   scripts/node24 node test/bench/profile-summary.ts FILE.cpuprofile [TOP=25]
//
// Busy samples include time the thread was runnable but waiting for a CPU:
// on a saturated machine, compare shares, not absolute seconds.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topText] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary.ts FILE.cpuprofile [TOP]');
  process.exit(2);
}
const top = Number(topText ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const nameOf = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  return `${functionName || '(anonymous)'} ${url.split('/').pop()}:${lineNumber + 1}`;
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i] ?? 0;
  total += us;
  const leaf = nodes.get(id)!;
  if (leaf.callFrame.functionName === '(idle)') {
    idle += us;
    return;
  }
  self.set(nameOf(leaf), (self.get(nameOf(leaf)) ?? 0) + us);
  // Each function once per sample, however deep it recurses.
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = nameOf(nodes.get(at)!);
    if (seen.has(name)) continue;
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
});

const busy = total - idle;
const list = (m: Map<string, number>) =>
  [...m]
    .filter(([name]) => !name.startsWith('(root)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}`)
    .join('\n');
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (${((100 * busy) / total).toFixed(0)}%)\n`);
console.log(`self time, % of busy:\n${list(self)}\n`);
console.log(`inclusive time, % of busy:\n${list(inclusive)}`);
