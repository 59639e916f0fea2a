// The built `tcpstate` with bad or missing flags: one clear line (per
// problem), then the command's help, exit 2. No server is needed.
import { repoRoot, run } from '@tcpstate/testbed';
import { describe, expect, it } from 'vitest';

const cli = `${repoRoot}apps/cli/bin/tcpstate`;
const tcpstate = (args: string[]) => run(cli, args, { timeoutMs: 30_000 });

describe('tcpstate usage', () => {
  it('--help lists every command', async () => {
    const res = await tcpstate(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n').filter((l) => /^ {2}\w/.test(l)).map((l) => l.trim().split(/\s+/)[0])).toEqual(['watch', 'timeline', 'plot', 'status']);
  });

  it('an unknown command is named, with the command list, exit 2', async () => {
    const res = await tcpstate(['wtach']);
    expect(res.code).toBe(2);
    expect(res.stderr.split('\n')[0]).toBe('tcpstate: unknown command "wtach"');
    expect(res.stderr).toContain('Commands:');
  });

  const cases: [string, string[], string][] = [
    ['a bad value', ['watch', '--agent', '127.0.0.1:4270', '--side', 'middle'], 'tcpstate watch: --side: "middle" is not a side (client, server or unknown)'],
    ['an unknown flag', ['watch', '--agent', '127.0.0.1:4270', '--colour'], 'tcpstate watch: unknown option --colour'],
    ['neither source', ['watch'], 'tcpstate watch: give exactly one of --agent HOST:PORT or --collector HOST:PORT'],
    ['replay flags on a collector', ['watch', '--collector', '127.0.0.1:4280', '--last', '3', '--no-follow'], 'tcpstate watch: --last, --no-follow work only with --agent (a collector\'s Watch is live only)'],
    ['--host on an agent', ['watch', '--agent', '127.0.0.1:4270', '--host', 'web1'], 'tcpstate watch: --host works only with --collector'],
    ['--since-seq with --last', ['watch', '--agent', '127.0.0.1:4270', '--since-seq', '5', '--last', '3'], 'tcpstate watch: --since-seq and --last cannot be combined'],
    ['--agent-id without --cookie', ['timeline', '--agent-id', 'web1'], 'tcpstate timeline: --agent-id needs exactly one --cookie N'],
    ['a stray argument', ['timeline', 'web1'], 'tcpstate timeline: unexpected argument "web1"'],
    ['plot without --out', ['plot'], 'tcpstate plot: --out FILE.svg|FILE.png is required'],
    ['plot to another format', ['plot', '--out', 'x.jpg'], 'tcpstate plot: --out: "x.jpg" must end in .svg or .png'],
  ];
  it.each(cases)('%s: one line, then the command help, exit 2', async (_what, args, line) => {
    const res = await tcpstate(args);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    const [first, blank, usage] = res.stderr.split('\n');
    expect([first, blank, usage.split(' ').slice(0, 3).join(' ')]).toEqual([line, '', `Usage: tcpstate ${args[0]}`]);
    expect(res.stderr).toContain('  -h, --help');
  });

  it('each command has its own help', async () => {
    for (const command of ['watch', 'timeline', 'plot', 'status']) {
      const res = await tcpstate([command, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: tcpstate ${command} `));
    }
  });
});
