// Two network-namespace "hosts" joined by a veth pair, for kernel tests:
// a server host running nginx and a client host running curl/python, with
// 10.x IPv4 and fd00:: IPv6 addresses that exist only inside them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function run(cmd: string, args: string[], options: { allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (error) {
    if (options.allowFail) return '';
    const e = error as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Fails loudly (never skips) when the machine cannot run kernel tests. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('Kernel tests need root (network namespaces and eBPF): run them as root; they never skip.');
}

export interface HostPair {
  server: string; // namespace names
  client: string;
  serverV4: string;
  clientV4: string;
  serverV6: string;
  clientV6: string;
  serverNetns: number; // inode numbers
  clientNetns: number;
  /** Runs a command inside a namespace. */
  exec(ns: string, cmd: string, args: string[], options?: { allowFail?: boolean }): string;
  remove(): void;
}

/** Creates `${prefix}s` and `${prefix}c` namespaces on 10.`subnet`.0.0/24 and fd00:`subnet`::/64. */
export function createHostPair(prefix: string, subnet: number): HostPair {
  const server = `${prefix}s`;
  const client = `${prefix}c`;
  const pair: HostPair = {
    server,
    client,
    serverV4: `10.${subnet}.0.1`,
    clientV4: `10.${subnet}.0.2`,
    serverV6: `fd00:${subnet}::1`,
    clientV6: `fd00:${subnet}::2`,
    serverNetns: 0,
    clientNetns: 0,
    exec: (ns, cmd, args, options) => run('ip', ['netns', 'exec', ns, cmd, ...args], options),
    remove: () => {
      run('ip', ['netns', 'del', server], { allowFail: true });
      run('ip', ['netns', 'del', client], { allowFail: true });
    },
  };
  pair.remove(); // leftovers of an interrupted run
  try {
    run('ip', ['netns', 'add', server]);
    run('ip', ['netns', 'add', client]);
    run('ip', ['link', 'add', `${prefix}v0`, 'netns', server, 'type', 'veth', 'peer', 'name', `${prefix}v1`, 'netns', client]);
    for (const [ns, dev, v4, v6] of [
      [server, `${prefix}v0`, pair.serverV4, pair.serverV6],
      [client, `${prefix}v1`, pair.clientV4, pair.clientV6],
    ]) {
      pair.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
      pair.exec(ns, 'ip', ['addr', 'add', `${v4}/24`, 'dev', dev]);
      pair.exec(ns, 'ip', ['-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      pair.exec(ns, 'ip', ['link', 'set', dev, 'up']);
    }
    pair.serverNetns = statSync(`/run/netns/${server}`).ino;
    pair.clientNetns = statSync(`/run/netns/${client}`).ino;
  } catch (error) {
    pair.remove();
    throw error;
  }
  return pair;
}

export interface Nginx {
  stop(): Promise<void>;
}

/**
 * Starts nginx in the server namespace with its own prefix in a temp dir.
 * `servers` are nginx `server { ... }` bodies.
 */
export async function startNginx(pair: HostPair, servers: string[], readyPorts: number[]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpstate-nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${servers.map((s) => `  server { ${s} }`).join('\n')}
}
`,
  );
  const child: ChildProcess = spawn('ip', ['netns', 'exec', pair.server, 'nginx', '-p', dir, '-c', conf, '-g', 'daemon off;'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const listening = pair.exec(pair.server, 'ss', ['-Hltn'], { allowFail: true });
    if (readyPorts.every((p) => new RegExp(`:${p}\\s`).test(listening))) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start in ${pair.server}: ${run('cat', [join(dir, 'error.log')], { allowFail: true })}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
