// A real PostgreSQL server for tests: Debian's server binaries, a fresh data
// directory and a free port, removed afterwards. Nothing is mocked: the store
// and the collector talk to it exactly as to a production database.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PostgreSQL server started for tests. */
export interface TestPostgres {
  /** Connection URL of the `postgres` database (TCP on 127.0.0.1, trust authentication). */
  readonly url: string;
  readonly port: number;
  /** Holds the data directory, the unix socket and the server log. */
  readonly dir: string;
  /** Creates an empty database and returns its URL: one per test keeps tests apart. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown then start again on the same port and data: clients see their connections drop. */
  restart(): Promise<void>;
  /** The server's log so far (stderr), for failure messages. */
  log(): string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

const DEBIAN_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin directory, installing Debian's package when there is none. */
function serverBinDir(): string {
  const find = () => {
    if (!existsSync(DEBIAN_ROOT)) return undefined;
    const versions = readdirSync(DEBIAN_ROOT)
      .filter((v) => existsSync(join(DEBIAN_ROOT, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    return versions.length > 0 ? join(DEBIAN_ROOT, versions[0], 'bin') : undefined;
  };
  let bin = find();
  if (!bin) {
    // The machine lacks the server: install it as the brief of the test set-up says, loudly on failure.
    try {
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
        stdio: 'pipe',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        timeout: 300_000,
      });
    } catch (error) {
      throw new Error(`PostgreSQL is not installed under ${DEBIAN_ROOT} and "apt-get install postgresql" failed: ${String(error)}`);
    }
    bin = find();
    if (!bin) throw new Error(`PostgreSQL server binaries not found under ${DEBIAN_ROOT} even after installing "postgresql"`);
  }
  return bin;
}

/** The uid and gid of the `postgres` OS user: the server refuses to run as root. */
function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('the "postgres" OS user does not exist: install Debian\'s "postgresql" package');
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** How to run the server. */
export interface PostgresOptions {
  /**
   * Keep PostgreSQL's durability settings (fsync, synchronous commit, full
   * page writes), for benchmarks. By default tests turn them off for speed.
   */
  durable?: boolean;
}

/**
 * Starts PostgreSQL in a new temporary directory on a free port. Throws (never
 * skips) when it cannot: a test that needs PostgreSQL must fail loudly without it.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<TestPostgres> {
  const bin = serverBinDir();
  const user = postgresUser();
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  await mkdir(socketDir);
  await chown(dir, user.uid, user.gid);
  await chown(socketDir, user.uid, user.gid);

  const runAsPostgres = (cmd: string, args: string[]) =>
    execFileSync(join(bin, cmd), args, { uid: user.uid, gid: user.gid, cwd: dir, stdio: 'pipe', timeout: 120_000 });
  try {
    runAsPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(`initdb failed: ${stderr}`);
  }

  let port = 0;
  let child: ChildProcess | undefined;
  let logText = '';

  // Tests only: durability settings off for speed. A fast shutdown still writes everything out.
  const durability = options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const start = async (): Promise<void> => {
    logText += `--- starting on port ${port}\n`;
    // setpriv (util-linux) drops to the postgres user and execs the server
    // (same pid), asking the kernel to stop it with an immediate shutdown if
    // this process dies without stopping it (a crashed test worker).
    const proc = spawn(
      'setpriv',
      [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--pdeathsig=QUIT', '--', join(bin, 'postgres'),
        '-D', dataDir, '-p', String(port), '-k', socketDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200',
        ...durability],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout!.on('data', (d) => (logText += d));
    proc.stderr!.on('data', (d) => (logText += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`PostgreSQL did not become ready within 60 s:\n${logText}`)), 60_000);
      const check = () => {
        if (logText.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          proc.stderr!.off('data', check);
          proc.off('exit', exited);
          resolve();
        }
      };
      const exited = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited with ${code} while starting:\n${logText}`));
      };
      proc.stderr!.on('data', check);
      proc.once('exit', exited);
      check();
    });
  };

  const shutdown = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGINT'); // "fast" shutdown: roll back open transactions, disconnect clients, checkpoint
    await exited;
    // Forget the startup line of this run so that the next start waits for its own.
    logText = logText.replaceAll('database system is ready to accept connections', 'was ready (previous run)');
  };

  // A test runner that dies must not leave a server behind.
  const onExit = () => child?.kill('SIGQUIT');
  process.once('exit', onExit);

  // Another process may take the port between freePort() and the bind: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (error) {
      await shutdown();
      if (attempt >= 3 || !logText.includes('could not bind')) {
        await rm(dir, { recursive: true, force: true });
        process.off('exit', onExit);
        throw error;
      }
    }
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dir,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a plain database name`);
      runAsPostgres('psql', ['-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1',
        '-qc', `CREATE DATABASE ${name}`]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async restart() {
      await shutdown();
      await start();
    },
    log: () => logText,
    async stop() {
      await shutdown();
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
