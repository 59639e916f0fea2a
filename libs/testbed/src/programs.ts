import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const nodeBin = `${repoRoot}.tools/node/bin/node`;
export const bufBin = `${repoRoot}node_modules/.bin/buf`;

/** A program of ours running as its own process, as a user would start it. */
export interface RunningProgram {
  child: ChildProcess;
  output: () => string;
  grpcAddress: string;
  httpAddress: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a built app (apps/NAME/dist/main.js) on ports picked by the kernel and
 * waits until it says where it listens.
 */
export async function startProgram(
  app: 'agent' | 'collector',
  args: string[] = [],
  listen: { grpcListen?: string; httpListen?: string; netns?: string } = {},
): Promise<RunningProgram> {
  const argv = [`${repoRoot}apps/${app}/dist/main.js`, '--grpc-listen', listen.grpcListen ?? '127.0.0.1:0', '--http-listen', listen.httpListen ?? '127.0.0.1:0', ...args];
  // In a namespace host when asked (an agent restricted to that host).
  const [cmd, cmdArgs] = listen.netns ? ['ip', ['netns', 'exec', listen.netns, nodeBin, ...argv]] : [nodeBin, argv];
  const child = spawn(cmd, cmdArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: plainEnv(),
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const addresses = await new Promise<{ grpc: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${app} did not start within 20 s:\n${text}`)), 20_000);
    const check = () => {
      const m = /serving gRPC on (\S+?)(?: \(TLS\))?, HTTP on (\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ grpc: m[1], http: m[2] });
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${app} exited with ${code} before listening:\n${text}`));
    });
  });
  return {
    child,
    output: () => text,
    grpcAddress: addresses.grpc,
    httpAddress: addresses.http,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      // Already gone (exited, or killed by a signal: then exitCode stays null).
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

/** The environment without colour: output that tests can compare as text. */
function plainEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  return env;
}

/** Runs a command to completion and returns its exit code and output. */
export async function run(cmd: string, args: string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...plainEnv(), ...options.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // A child that exits without reading its input makes the write fail with EPIPE: not an error here.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, stdout, stderr };
}

/** Path of the built load generator (libs/testbed/src/loadgen-main.ts). */
export const loadgenScript = `${repoRoot}libs/testbed/dist/loadgen-main.js`;
