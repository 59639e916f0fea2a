// nginx as the seed's server, inside a namespace host, with its own config and
// prefix in a temp dir (never the machine's nginx service).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetnsHost } from './netns.js';

export interface Nginx {
  /** Stops nginx (SIGTERM, then SIGKILL after 3 s) and removes its directory. */
  stop(): Promise<void>;
}

/** One nginx server block: where it listens and whether it closes first. */
export interface NginxServer {
  /** "10.1.0.1:80", "[fd00:1::1]:80", "80" for all addresses. */
  listen: string[];
  /** 0 makes the server close first after each response; otherwise (default 65 s) the client closes first. */
  keepaliveTimeout?: number;
  /**
   * Send the response without a length, so its end is the server's FIN: a
   * client such as curl then cannot close before the server does. With
   * keepaliveTimeout 0 alone, curl closes as soon as it has Content-Length
   * bytes and races the server's FIN (both sides may pass through CLOSING).
   * (nginx's ssi filter drops Content-Length; chunking is turned off.)
   */
  bodyEndsAtClose?: boolean;
}

const portOf = (listen: string) => Number(/(\d+)$/.exec(listen)![1]);

/** Starts nginx in the foreground in `host` and waits until every server's port listens. */
export async function startNginx(host: NetnsHost, servers: NginxServer[]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpstate-nginx-'));
  const conf = join(dir, 'nginx.conf');
  const blocks = servers.map(
    (srv) => `  server {
${srv.listen.map((l) => `    listen ${l};`).join('\n')}
    keepalive_timeout ${srv.keepaliveTimeout ?? 65};
${srv.bodyEndsAtClose ? '    chunked_transfer_encoding off;\n    ssi on;\n    ssi_types *;\n' : ''}    location / { return 200 "ok\\n"; }
  }`,
  );
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${blocks.join('\n')}
}
`,
  );
  const child: ChildProcess = host.spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;']);
  const ports = servers.flatMap((s) => s.listen.map(portOf));
  const deadline = Date.now() + 10_000;
  for (;;) {
    let listening = '';
    try {
      listening = host.exec('ss', ['-Hltn']);
    } catch {
      // ss failed: try again until the deadline
    }
    if (ports.every((p) => new RegExp(`:${p}\\s`).test(listening))) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      let log = '';
      try {
        log = readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        log = '(no error log)';
      }
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start in ${host.name}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
