import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentDiscovery, parseAgentsFile, type Resolver } from './agent-discovery.js';

const dnsError = (code: string) => Object.assign(new Error(`getaddrinfo ${code}`), { code });

/** A resolver answering from a table that the test changes; a string entry is an error code. */
function tableResolver(table: Record<string, string[] | string>): Resolver {
  return async (host) => {
    const answer = table[host];
    if (answer === undefined) throw dnsError('ENOTFOUND');
    if (typeof answer === 'string') throw dnsError(answer);
    return answer;
  };
}

const addresses = async (d: AgentDiscovery) => [...(await d.discover()).values()].map((t) => `${t.address} ${t.serverName ?? '-'} (${t.source})`);

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('agent discovery', () => {
  it('turns a DNS name into every address it has, and follows its changes', async () => {
    const table: Record<string, string[] | string> = { 'agents.tcpstate': ['10.0.0.2', '10.0.0.1', 'fd00::1'] };
    const d = new AgentDiscovery({ agents: [{ host: 'agents.tcpstate', port: 4270 }, { host: '10.0.0.9', port: 4270 }] }, tableResolver(table));
    expect(await addresses(d)).toEqual([
      '10.0.0.9:4270 - (--agent 10.0.0.9:4270)',
      '10.0.0.1:4270 agents.tcpstate (--agent agents.tcpstate:4270)',
      '10.0.0.2:4270 agents.tcpstate (--agent agents.tcpstate:4270)',
      '[fd00::1]:4270 agents.tcpstate (--agent agents.tcpstate:4270)',
    ]);
    // DNS not answering: the previous addresses stay.
    table['agents.tcpstate'] = 'EAI_AGAIN';
    expect(await addresses(d)).toHaveLength(4);
    expect(d.problems).toEqual(['cannot resolve agents.tcpstate (EAI_AGAIN); keeping its 3 previous addresses']);
    // A pod went away.
    table['agents.tcpstate'] = ['10.0.0.2'];
    expect(await addresses(d)).toEqual(['10.0.0.9:4270 - (--agent 10.0.0.9:4270)', '10.0.0.2:4270 agents.tcpstate (--agent agents.tcpstate:4270)']);
    // The name is gone altogether (a headless Service with no pods).
    delete table['agents.tcpstate'];
    expect(await addresses(d)).toEqual(['10.0.0.9:4270 - (--agent 10.0.0.9:4270)']);
    expect(d.problems).toEqual(['agents.tcpstate resolves to no address (ENOTFOUND): no agent there for now']);
  });

  it('reads the agents file each time, keeping its last good content when it becomes unreadable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tcpstate-discovery-'));
    const file = join(dir, 'agents.txt');
    writeFileSync(file, '# the fleet\n10.0.0.1:4270\n\n10.0.0.2:4270  # rack 2\n');
    const d = new AgentDiscovery({ agents: [{ host: '10.0.0.1', port: 4270 }], agentsFile: file }, tableResolver({}));
    expect(await addresses(d)).toEqual([`10.0.0.1:4270 - (--agent 10.0.0.1:4270)`, `10.0.0.2:4270 - (${file} line 4)`]);
    writeFileSync(file, '10.0.0.3:4270\nnot an address\n');
    expect(await addresses(d)).toEqual([`10.0.0.1:4270 - (--agent 10.0.0.1:4270)`, `10.0.0.3:4270 - (${file} line 1)`]);
    expect(d.problems).toEqual([`${file} line 2: "not an address" is not a listen address (expected HOST:PORT or [IPv6]:PORT)`]);
    rmSync(file);
    expect(await addresses(d)).toEqual([`10.0.0.1:4270 - (--agent 10.0.0.1:4270)`, `10.0.0.3:4270 - (${file} line 1)`]);
    expect(d.problems).toEqual([`cannot read --agents-file ${file} (keeping its previous 1 agents): no such file`]);
  });

  it('refuses an agents file it cannot read at the first discovery', async () => {
    const d = new AgentDiscovery({ agents: [], agentsFile: '/nonexistent/agents.txt' }, tableResolver({}));
    await expect(d.discover()).rejects.toThrow('cannot read --agents-file /nonexistent/agents.txt: no such file');
  });

  it('parses agents files line by line', () => {
    expect(parseAgentsFile('[fd00::2]:4270\nagents.example:4270 # dns\n:4270\n', 'f')).toEqual({
      agents: [
        { agent: { host: 'fd00::2', port: 4270 }, line: 1 },
        { agent: { host: 'agents.example', port: 4270 }, line: 2 },
        { agent: { host: '0.0.0.0', port: 4270 }, line: 3 },
      ],
      problems: [],
    });
  });
});
