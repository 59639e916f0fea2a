// tcpstate: the command line. `tcpstate COMMAND [options]`.
import { Code, ConnectError } from '@connectrpc/connect';
import { formatListen, helpText, type ListenAddress, OptionsError, parseOptions, runProgram } from '@tcpstate/config';
import type { Command, CommandContext } from './commands.js';
import { plotCommand } from './plot.command.js';
import { statusCommand } from './status.command.js';
import { timelineCommand } from './timeline.command.js';
import { watchCommand } from './watch.command.js';

const commands: Command[] = [watchCommand, timelineCommand, plotCommand, statusCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'Usage: tcpstate COMMAND [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'tcpstate COMMAND --help' for a command's options.",
  ].join('\n');
}

function commandHelp(command: Command): string {
  return helpText(`tcpstate ${command.name} ${command.usage ?? '[options]'}`, command.summary, command.options);
}

/** Bad flags: the problem in one line (each, when several), then the command's help; exit 2. */
function badFlags(command: Command, problems: string[]): never {
  for (const problem of problems) console.error(`tcpstate ${command.name}: ${problem}`);
  console.error(`\n${commandHelp(command)}`);
  process.exit(2);
}

/** A failed call as one sentence: what could not be done, where, and the gRPC code. */
function describeRpcError(command: Command, values: Record<string, unknown>, err: ConnectError): string {
  const address = (values.agent ?? values.collector) as ListenAddress | undefined;
  const what = values.agent ? 'the agent' : 'the collector';
  const where = address ? ` at ${formatListen(address)}` : '';
  if (err.code === Code.Unavailable) return `${command.name}: cannot reach ${what}${where}: ${err.rawMessage}`;
  if (err.code === Code.Unimplemented) return `${command.name}: ${what}${where} does not implement this call (${err.rawMessage})`;
  return `${command.name}: ${err.rawMessage} (${codeName(err.code)})`;
}

runProgram('tcpstate', async (argv) => {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`tcpstate: unknown command "${name}"\n\n${usage()}`);
    process.exit(2);
  }
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(command.options, rest);
  } catch (err) {
    if (err instanceof OptionsError) badFlags(command, err.problems);
    throw err;
  }
  const { values, help, positionals } = parsed;
  if (help) {
    console.log(commandHelp(command));
    return;
  }
  if (positionals.length > 0) badFlags(command, [`unexpected argument "${positionals[0]}"`]);

  // Ctrl-C (and SIGTERM) cancel the command's calls; runProgram exits 0 once it returns.
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  // A reader that goes away (tcpstate watch | head) is a normal end.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const context: CommandContext = {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    signal: abort.signal,
    color: process.stdout.isTTY === true && !process.env.NO_COLOR,
    stderrIsTty: process.stderr.isTTY === true,
  };
  try {
    await command.run(values, context);
  } catch (err) {
    if (err instanceof OptionsError) badFlags(command, err.problems);
    if (err instanceof ConnectError) {
      if (abort.signal.aborted && err.code === Code.Canceled) return;
      throw new Error(describeRpcError(command, values, err));
    }
    if (err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError)) throw new Error(`${command.name}: ${err.message}`);
    throw err;
  }
});

function codeName(code: number): string {
  return ['OK', 'CANCELED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'][code] ?? String(code);
}
