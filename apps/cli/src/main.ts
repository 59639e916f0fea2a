// tcpstate: the command line. `tcpstate COMMAND [options]`.
import { helpText, parseOptions, runProgram } from '@tcpstate/config';
import { ConnectError } from '@connectrpc/connect';
import type { Command } from './commands.js';
import { statusCommand } from './status.command.js';

const commands: Command[] = [statusCommand];

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
  const { values, help } = parseOptions(command.options, rest);
  if (help) {
    console.log(helpText(`tcpstate ${command.name} [options]`, command.summary, command.options));
    return;
  }
  try {
    await command.run(values, (line) => console.log(line));
  } catch (err) {
    if (err instanceof ConnectError) throw new Error(`${command.name}: ${err.rawMessage} (${codeName(err.code)})`);
    throw err;
  }
});

function codeName(code: number): string {
  return ['OK', 'CANCELED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'][code] ?? String(code);
}
