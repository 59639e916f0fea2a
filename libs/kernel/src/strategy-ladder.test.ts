// The TIME_WAIT strategy ladder without a kernel: a fake addon refuses
// rungs the way this machine does (fexit EPERM, no kprobe PMU) and the way a
// kernel might at load time, and the reports must say so in order.
import { describe, expect, it } from 'vitest';

import { KernelCapture } from './kernel-capture.js';
import { climbDownLadder, type TimeWaitStrategy } from './strategy-ladder.js';
import { fakeAddon } from './test-support/fake-addon.js';

const EPERM = 'fexit/inet_twsk_alloc: load refused: Operation not permitted (errno 1)';
const NO_KPROBES = 'kprobe/inet_twsk_alloc: no kprobe PMU';
const NO_TIMER = 'tw_timer_handler: no address in /proc/kallsyms (not listed, or hidden by kernel.kptr_restrict)';

/** A fake addon that refuses the strategies in `loadError` at load time and records the ones it opened. */
function ladderAddon(probe: Record<string, string>, loadError: Partial<Record<TimeWaitStrategy, { code: string; message: string; details?: string }>> = {}) {
  const opened: string[] = [];
  const addon = fakeAddon({
    probe,
    onOpen: ([, strategy]) => {
      const error = loadError[strategy as TimeWaitStrategy];
      if (error) throw Object.assign(new Error(error.message), { code: error.code, details: error.details });
      opened.push(strategy as string);
    },
  });
  return { addon, opened };
}

const noPreflight = () => {};

describe('climbDownLadder', () => {
  it('takes the first rung that opens and reports the refused ones with their reasons', () => {
    const result = climbDownLadder<string>('auto', (s) => (s === 'sweep' ? { opened: 'ok' } : { refused: `no ${s}` }));
    expect(result.strategy).toBe('sweep');
    expect(result.reports).toEqual([
      { concern: 'time_wait', name: 'fexit', active: false, refusedReason: 'no fexit' },
      { concern: 'time_wait', name: 'kprobe', active: false, refusedReason: 'no kprobe' },
      { concern: 'time_wait', name: 'timer', active: false, refusedReason: 'no timer' },
      { concern: 'time_wait', name: 'sweep', active: true },
    ]);
  });

  it('starts at the requested rung', () => {
    const tried: string[] = [];
    const result = climbDownLadder<string>('kprobe', (s) => {
      tried.push(s);
      return { opened: s };
    });
    expect(tried).toEqual(['kprobe']);
    expect(result.reports).toEqual([{ concern: 'time_wait', name: 'kprobe', active: true }]);
  });

  it('stops at the best rung when nothing is refused', () => {
    expect(climbDownLadder<string>('auto', (s) => ({ opened: s })).strategy).toBe('fexit');
  });
});

describe('KernelCapture.open strategy choice', () => {
  it('falls from fexit (probe refused) and kprobe (probe refused) to the timer', () => {
    const { addon, opened } = ladderAddon({ fexit: EPERM, kprobe: NO_KPROBES });
    const capture = KernelCapture.open({}, () => {}, { addon, preflight: noPreflight });
    expect(opened).toEqual(['timer']);
    expect(capture.timeWaitStrategy).toBe('timer');
    expect(capture.strategies).toEqual([
      { concern: 'state', name: 'tp_btf/inet_sock_set_state', active: true },
      { concern: 'time_wait', name: 'fexit', active: false, refusedReason: EPERM },
      { concern: 'time_wait', name: 'kprobe', active: false, refusedReason: NO_KPROBES },
      { concern: 'time_wait', name: 'timer', active: true },
    ]);
  });

  it('falls to the sweep when the timer strategy is refused too', () => {
    const { addon, opened } = ladderAddon({ fexit: EPERM, kprobe: NO_KPROBES, timer: NO_TIMER });
    const capture = KernelCapture.open({}, () => {}, { addon, preflight: noPreflight });
    expect(opened).toEqual(['sweep']);
    expect(capture.strategies.slice(1)).toEqual([
      { concern: 'time_wait', name: 'fexit', active: false, refusedReason: EPERM },
      { concern: 'time_wait', name: 'kprobe', active: false, refusedReason: NO_KPROBES },
      { concern: 'time_wait', name: 'timer', active: false, refusedReason: NO_TIMER },
      { concern: 'time_wait', name: 'sweep', active: true },
    ]);
  });

  it('falls past a strategy the probe allowed but the kernel refused at load', () => {
    const { addon, opened } = ladderAddon(
      { fexit: EPERM },
      { kprobe: { code: 'LOAD_FAILED', message: 'The kernel refused to load the eBPF programs: Invalid argument (errno 22)' } },
    );
    const capture = KernelCapture.open({}, () => {}, { addon, preflight: noPreflight });
    expect(opened).toEqual(['timer']);
    expect(capture.strategies[2]).toEqual({
      concern: 'time_wait',
      name: 'kprobe',
      active: false,
      refusedReason: 'The kernel refused to load the eBPF programs: Invalid argument (errno 22).',
    });
  });

  it('uses fexit when the kernel allows it', () => {
    const { addon, opened } = ladderAddon({});
    const capture = KernelCapture.open({}, () => {}, { addon, preflight: noPreflight });
    expect(opened).toEqual(['fexit']);
    expect(capture.strategies.filter((s) => s.active).map((s) => s.name)).toEqual(['tp_btf/inet_sock_set_state', 'fexit']);
  });

  it('does not hide a failure of the last rung', () => {
    const { addon } = ladderAddon(
      { fexit: EPERM, kprobe: NO_KPROBES, timer: NO_TIMER },
      { sweep: { code: 'PERMISSION', message: 'The kernel refused to load the eBPF programs: Operation not permitted (errno 1)' } },
    );
    expect(() => KernelCapture.open({}, () => {}, { addon, preflight: noPreflight })).toThrow(
      /run the agent as root or with CAP_BPF and CAP_PERFMON\.$/,
    );
  });

  it('names a verifier rejection as such, with the verifier\'s reason, not as missing privileges', () => {
    const { addon } = ladderAddon(
      { fexit: EPERM, kprobe: NO_KPROBES, timer: NO_TIMER },
      {
        sweep: {
          code: 'PERMISSION',
          message: 'The kernel refused to load the eBPF programs: Permission denied (errno 13)',
          details: 'libbpf: prog \'handle_set_state\': BPF program load failed: Permission denied\n; r1 = *(u16 *)(r6 +782)\naccess beyond struct sock at off 782 size 2\nprocessed 12 insns (limit 1000000)\n',
        },
      },
    );
    expect(() => KernelCapture.open({}, () => {}, { addon, preflight: noPreflight })).toThrow(
      "The kernel's verifier rejected the eBPF programs (access beyond struct sock at off 782 size 2): this kernel differs from those tcpstate is tested on, see docs/kernel.md.",
    );
  });

  it('rejects bad options with one sentence before touching the kernel', () => {
    const { addon, opened } = ladderAddon({});
    expect(() => KernelCapture.open({ ringBufferBytes: 5000 }, () => {}, { addon, preflight: noPreflight })).toThrow(
      'Option ringBufferBytes must be a power of two, not 5000.',
    );
    expect(() => KernelCapture.open({ serverEndpoints: ['nope'] }, () => {}, { addon, preflight: noPreflight })).toThrow(
      /^Server endpoint "nope" is not valid/,
    );
    expect(opened).toEqual([]);
  });
});
