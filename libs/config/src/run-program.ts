import { OptionsError } from './options.js';

/** What a long-running program hands back: how to stop it gracefully. */
export interface Running {
  close(): Promise<void>;
}

/**
 * Runs a program's main function: bad options exit 2 with every problem on its
 * own line, any other start-up failure exits 1 with its message (one sentence,
 * no stack trace; TCPSTATE_DEBUG=1 prints the stack too). A main that returns
 * a Running keeps the process alive until SIGTERM or SIGINT, then closes it
 * and exits 0 (1 if closing failed); a second signal exits at once.
 */
export function runProgram(program: string, main: (argv: string[]) => Promise<Running | void>): void {
  const started = main(process.argv.slice(2));
  // Signals are handled from the first moment: one that arrives while the
  // program is still starting stops it as soon as it has started.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${program}: ${signal} again, exiting now`);
      process.exit(130);
    }
    stopping = true;
    started
      .then((running) => running?.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(`${program}: shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
  };
  started.then(
    (running) => {
      if (!running) {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    },
    (err: unknown) => {
      if (err instanceof OptionsError) {
        for (const problem of err.problems) console.error(`${program}: ${problem}`);
        console.error(`Run '${program} --help' for the options.`);
        process.exit(2);
      }
      const message = err instanceof Error ? err.message : String(err);
      console.error(`${program}: ${message}`);
      if (process.env.TCPSTATE_DEBUG && err instanceof Error) console.error(err.stack);
      process.exit(1);
    },
  );
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
