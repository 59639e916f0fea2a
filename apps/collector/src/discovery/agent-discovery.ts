// Which agents to subscribe to: --agent HOST:PORT (repeatable), the lines of
// --agents-file, and for every host that is a DNS name, each address it
// resolves to (a Kubernetes headless Service lists one address per agent pod).
// Run again periodically: agents that appear are subscribed, agents that
// vanish are dropped.
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { formatListen, type ListenAddress, parseListen } from '@tcpstate/config';

/** One agent address to subscribe to. */
export interface AgentTarget {
  /** HOST:PORT as dialled: an IP address, "[v6]:PORT" for IPv6. */
  address: string;
  /** The DNS name it was resolved from (TLS checks the agent's certificate against it). */
  serverName?: string;
  /** Where it was configured, for messages: "--agent agents.example:4270", "agents.txt line 3". */
  source: string;
}

/** Resolves a host name to all its addresses. */
export type Resolver = (host: string) => Promise<string[]>;

/** getaddrinfo, as the rest of the system resolves names (/etc/hosts, DNS). */
export const systemResolver: Resolver = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/** An agents file: one HOST:PORT per line; blank lines and # comments are ignored. */
export function parseAgentsFile(text: string, file: string): { agents: { agent: ListenAddress; line: number }[]; problems: string[] } {
  const agents: { agent: ListenAddress; line: number }[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    try {
      agents.push({ agent: parseListen(line), line: i + 1 });
    } catch (error) {
      problems.push(`${file} line ${i + 1}: ${(error as Error).message}`);
    }
  });
  return { agents, problems };
}

/** DNS answers that mean "this name has no addresses now" rather than "DNS is not answering". */
const NO_ADDRESS_CODES = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Computes the current set of agent targets. A name that fails to resolve
 * for a passing reason (timeout, server failure) keeps its previous
 * addresses; an agents file that cannot be read keeps its previous lines.
 */
export class AgentDiscovery {
  private readonly lastAddresses = new Map<string, string[]>();
  private lastFileAgents: { agent: ListenAddress; line: number }[] | undefined;
  /** Problems found by the latest discover(), one sentence each. */
  problems: string[] = [];

  constructor(
    private readonly sources: { agents: readonly ListenAddress[]; agentsFile?: string },
    private readonly resolve: Resolver = systemResolver,
  ) {}

  /** Reads the agents file; at start-up an unreadable file is an error, later the previous content is kept. */
  async readAgentsFile(): Promise<{ agent: ListenAddress; line: number }[]> {
    const file = this.sources.agentsFile;
    if (!file) return [];
    try {
      const parsed = parseAgentsFile(await readFile(file, 'utf8'), file);
      this.problems.push(...parsed.problems);
      this.lastFileAgents = parsed.agents;
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      if (this.lastFileAgents === undefined) throw new Error(`cannot read --agents-file ${file}: ${reason}`);
      this.problems.push(`cannot read --agents-file ${file} (keeping its previous ${this.lastFileAgents.length} agents): ${reason}`);
    }
    return this.lastFileAgents ?? [];
  }

  /** Every target now, by address (an address named twice is one target). */
  async discover(): Promise<Map<string, AgentTarget>> {
    this.problems = [];
    const configured: { agent: ListenAddress; source: string }[] = [
      ...this.sources.agents.map((agent) => ({ agent, source: `--agent ${formatListen(agent)}` })),
      ...(await this.readAgentsFile()).map(({ agent, line }) => ({ agent, source: `${this.sources.agentsFile} line ${line}` })),
    ];
    const targets = new Map<string, AgentTarget>();
    await Promise.all(
      configured.map(async ({ agent, source }) => {
        for (const address of await this.addressesOf(agent.host)) {
          const target: AgentTarget = { address: formatListen({ host: address, port: agent.port }), source };
          if (!isIP(agent.host)) target.serverName = agent.host;
          if (!targets.has(target.address)) targets.set(target.address, target);
        }
      }),
    );
    return targets;
  }

  private async addressesOf(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    try {
      const addresses = [...new Set(await this.resolve(host))].sort();
      this.lastAddresses.set(host, addresses);
      return addresses;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (NO_ADDRESS_CODES.has(code)) {
        this.lastAddresses.set(host, []);
        this.problems.push(`${host} resolves to no address (${code}): no agent there for now`);
        return [];
      }
      const previous = this.lastAddresses.get(host) ?? [];
      this.problems.push(`cannot resolve ${host} (${code || (error as Error).message}); keeping its ${previous.length} previous addresses`);
      return previous;
    }
  }
}
