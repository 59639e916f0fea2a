// The kernel matrix: boots each listed Debian kernel in QEMU (software
// emulation), runs guest/runner.ts there against real loopback connections
// with every TIME_WAIT strategy (auto = fexit, forced kprobe, timer and sweep),
// and asserts each (strategy, case) result line. The host's own kernel allows
// neither fentry/fexit nor kprobes, so this is where the hook strategies are
// proven. A missing QEMU or kernel package is a failure, never a skip.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formatTable, parseGuestOutput, type GuestResult } from './guest-results.js';

const BUILDER = fileURLToPath(new URL('./build-guest.sh', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url));
const BUILD_TIMEOUT_MS = 600_000;
/** Boot, four strategies, and the 60 s TIME_WAIT timer, on a shared 2-core host. */
const GUEST_TIMEOUT_MS = 240_000;

/**
 * The matrix. `package` is a Debian kernel package (a metapackage resolves to its image);
 * `defects` are the known capture defects (ids from guest/runner.ts) this kernel shows:
 * exactly these must appear, so a fix (or a new defect) fails the matrix until the list is updated.
 */
const KERNELS = [
  // Debian 12 bookworm, the distribution kernel of this project's own base system.
  { package: 'linux-image-amd64', release: /^6\.1\./, defects: [] },
  // Debian 13 trixie (zstd-compressed, read through a private apt state).
  { package: 'linux-image-amd64@trixie', release: /^6\.12\./, defects: [] },
];

/** Every (strategy, case) the runner must report. */
const CASES = [
  ['auto', 'client-closes-first'],
  ['auto', 'server-closes-first'],
  ['kprobe', 'client-closes-first'],
  ['kprobe', 'server-closes-first'],
  ['timer', 'client-closes-first'],
  ['timer', 'server-closes-first'],
  ['sweep', 'client-closes-first'],
  ['sweep', 'server-closes-first'],
  ['auto', 'client-closes-first, real 60 s timer'],
  ['kprobe', 'client-closes-first, real 60 s timer'],
  ['timer', 'client-closes-first, real 60 s timer'],
  ['sweep', 'client-closes-first, real 60 s timer'],
] as const;
const ACTIVE = { auto: 'fexit', kprobe: 'kprobe', timer: 'timer', sweep: 'sweep' } as const;

interface Guest {
  release: string;
  results: GuestResult[];
  console: string;
  bootMs: number;
}

/** Builds (cached) the kernel and initramfs; the builder's own one-line error when it cannot. */
async function build(kernelPackage: string): Promise<{ release: string; vmlinux: string; initrd: string }> {
  try {
    const { stdout } = await promisify(execFile)('bash', [BUILDER, kernelPackage], { timeout: BUILD_TIMEOUT_MS, encoding: 'utf8' });
    const out = Object.fromEntries(stdout.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
    return { release: out.release, vmlinux: out.vmlinux, initrd: out.initrd };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`kernel-matrix: cannot build the guest for ${kernelPackage}: ${e.stderr?.trim() || e.message}`);
  }
}

const running = new Set<ChildProcess>();

/** Boots the guest and collects its serial console until it powers off. */
async function boot(vmlinux: string, initrd: string): Promise<{ console: string; ms: number }> {
  const started = Date.now();
  // /dev/kvm cannot run a stock kernel on this kind of host: TCG, PVH entry of the uncompressed vmlinux.
  const args = ['-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '2', '-m', '1024', '-nodefaults', '-nographic'];
  args.push('-serial', 'stdio', '-no-reboot', '-kernel', vmlinux, '-initrd', initrd);
  args.push('-append', 'console=ttyS0 panic=-1 loglevel=4');
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  const exit = await new Promise<{ error?: Error; timedOut?: boolean }>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ timedOut: true });
    }, GUEST_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ error });
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve({});
    });
  });
  running.delete(child);
  if (exit.error) throw new Error(`kernel-matrix: cannot start qemu-system-x86_64: ${exit.error.message}`);
  if (exit.timedOut) throw new Error(`kernel-matrix: the guest did not power off within ${GUEST_TIMEOUT_MS / 1000} s; console tail:\n${output.slice(-3000)}`);
  return { console: output, ms: Date.now() - started };
}

/** Per kernel package: what its guest reported, or why there is nothing. */
const guests = new Map<string, Guest | Error>();

// Builds one after the other (they share the initramfs), then boots every kernel at once:
// the guests mostly wait on the 60 s TIME_WAIT timer.
beforeAll(async () => {
  const built: { package: string; release: string; vmlinux: string; initrd: string }[] = [];
  for (const kernel of KERNELS) {
    try {
      built.push({ package: kernel.package, ...(await build(kernel.package)) });
    } catch (error) {
      guests.set(kernel.package, error as Error);
    }
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const tables = await Promise.all(
    built.map(async (b) => {
      try {
        const booted = await boot(b.vmlinux, b.initrd);
        writeFileSync(`${RESULTS_DIR}kernel-matrix-console-${b.release}.log`, booted.console);
        const guest = { release: b.release, results: parseGuestOutput(booted.console), console: booted.console, bootMs: booted.ms };
        guests.set(b.package, guest);
        return formatTable(guest.results, `${b.package} (${b.release}): guest run ${(booted.ms / 1000).toFixed(1)} s`);
      } catch (error) {
        guests.set(b.package, error as Error);
        return `${b.package}: ${(error as Error).message}\n`;
      }
    }),
  );
  const text = tables.join('\n');
  writeFileSync(`${RESULTS_DIR}kernel-matrix.txt`, text);
  console.log(text);
}, KERNELS.length * BUILD_TIMEOUT_MS + GUEST_TIMEOUT_MS);

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

function guestOf(kernelPackage: string): Guest {
  const guest = guests.get(kernelPackage);
  if (!guest) throw new Error(`kernel-matrix: ${kernelPackage} was not run`);
  if (guest instanceof Error) throw guest;
  return guest;
}

for (const kernel of KERNELS) {
  describe(`kernel matrix: ${kernel.package}`, () => {
    it('boots the expected kernel and reports every (strategy, case)', () => {
      const guest = guestOf(kernel.package);
      expect(guest.release).toMatch(kernel.release);
      const got = guest.results.map((r) => [r.strategy, r.case]);
      if (got.length === 0) throw new Error(`the guest reported no results; console tail:\n${guest.console.slice(-3000)}`);
      expect(got).toEqual(expect.arrayContaining(CASES.map((c) => [...c])));
      expect(guest.results.every((r) => r.kernel === guest.release)).toBe(true);
    });

    it.each(CASES)('%s: %s', (strategy, name) => {
      const guest = guestOf(kernel.package);
      const result = guest.results.find((r) => r.strategy === strategy && r.case === name);
      if (!result) throw new Error(`${strategy} / ${name}: no result from the ${guest.release} guest`);
      expect(result.activeStrategy, `${strategy} ran the ${result.activeStrategy} strategy`).toBe(ACTIVE[strategy]);
      if (!result.pass) throw new Error(describeFailure(result));
      expect(result.defects, `${strategy} / ${name}: known defects of ${guest.release} (update KERNELS when one is fixed)`).toEqual(kernel.defects);
    });
  });
}

/** One message naming the strategy, the case, what went wrong and each sequence that differed. */
function describeFailure(r: GuestResult): string {
  const lines = [`${r.strategy} (${r.activeStrategy ?? 'no capture'}) / ${r.case} on ${r.kernel}: ${r.problems.join('; ')}`];
  for (const side of ['client', 'server'] as const)
    if (JSON.stringify(r.expected[side]) !== JSON.stringify(r.actual[side]))
      lines.push(`  ${side} expected ${JSON.stringify(r.expected[side])}`, `  ${side} actual   ${JSON.stringify(r.actual[side])}`);
  return lines.join('\n');
}
