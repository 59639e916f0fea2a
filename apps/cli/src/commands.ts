import { type OptionSpec, parseListen } from '@tcpstate/config';

/** What a command gets besides its options: where to write, and when to stop. */
export interface CommandContext {
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes one line to stderr (notes for humans, never data). */
  err(line: string): void;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: long-running commands end cleanly. */
  signal: AbortSignal;
  /** Colour wanted on stdout: a TTY and NO_COLOR unset. */
  color: boolean;
  /** stderr is a terminal (for transient status such as heartbeats). */
  stderrIsTty: boolean;
}

/** One subcommand of `tcpstate`. */
export interface Command {
  name: string;
  /** `tcpstate NAME` followed by this in the usage line. */
  usage?: string;
  summary: string;
  options: OptionSpec[];
  run(values: Record<string, unknown>, context: CommandContext): Promise<void>;
}

export const agentOption: OptionSpec = { name: 'agent', value: 'HOST:PORT', description: 'An agent\'s gRPC address', parse: parseListen, env: null };
export const collectorOption: OptionSpec = { name: 'collector', value: 'HOST:PORT', description: 'A collector\'s gRPC address', parse: parseListen, env: null };
