import { type OptionSpec, parseListen } from '@tcpstate/config';

/** One subcommand of `tcpstate`. */
export interface Command {
  name: string;
  summary: string;
  options: OptionSpec[];
  run(values: Record<string, unknown>, out: (line: string) => void): Promise<void>;
}

export const agentOption: OptionSpec = { name: 'agent', value: 'HOST:PORT', description: 'An agent\'s gRPC address', parse: parseListen, env: null };
export const collectorOption: OptionSpec = { name: 'collector', value: 'HOST:PORT', description: 'A collector\'s gRPC address', parse: parseListen, env: null };
