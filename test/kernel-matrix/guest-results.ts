// The guest runner's result lines ("KM-RESULT {json}" on the serial console)
// and the table the matrix prints and keeps in test-results/kernel-matrix.txt.

/** One (strategy, case) as guest/runner.ts reports it. */
export interface GuestResult {
  kernel: string;
  strategy: 'auto' | 'kprobe' | 'timer' | 'sweep';
  /** The TIME_WAIT strategy the capture actually ran (undefined when it did not open). */
  activeStrategy?: string;
  case: string;
  pass: boolean;
  problems: string[];
  /** Which of the kernel's truthful paths ran, when a case has more than one. */
  variant?: string;
  /** Known capture defects recognised in this case (see guest/runner.ts). */
  defects: string[];
  /** Why the case ran twice: its first attempt failed while the kernel lost transitions (counted). */
  retried?: string;
  expected: { client: string[]; server: string[] };
  actual: { client: string[]; server: string[] };
  /** caseMs, timeWaitMs, exitAfterReuseSynSentMs, sweepUncertaintyMs (as measured in the guest). */
  timings: Record<string, number>;
}

const PREFIX = 'KM-RESULT ';

/** The result lines of a guest's console output (other kernel and runner output is ignored). */
export function parseGuestOutput(output: string): GuestResult[] {
  const results: GuestResult[] = [];
  for (const line of output.split(/\r?\n/)) {
    const at = line.indexOf(PREFIX);
    if (at >= 0) results.push(JSON.parse(line.slice(at + PREFIX.length)) as GuestResult);
  }
  return results;
}

const num = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));

/** A plain-text table: kernel, strategy, case, result, TIME_WAIT and exit timings. */
export function formatTable(results: GuestResult[], title: string): string {
  const header = ['kernel', 'strategy', 'case', 'result', 'TIME_WAIT ms', 'exit after reuse ms', 'sweep uncertainty ms', 'case ms', 'notes'];
  const rows = results.map((r) => [
    r.kernel,
    r.activeStrategy && r.activeStrategy !== r.strategy ? `${r.strategy} (${r.activeStrategy})` : r.strategy,
    r.case,
    r.pass ? 'pass' : 'FAIL',
    num(r.timings.timeWaitMs),
    num(r.timings.exitAfterReuseSynSentMs),
    num(r.timings.sweepUncertaintyMs),
    num(r.timings.caseMs),
    [...r.defects.map((d) => `known defect: ${d}`), ...(r.variant ? [r.variant] : []), ...(r.retried ? [`retried (${r.retried})`] : [])].join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n') + '\n';
}
