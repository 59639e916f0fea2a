// nginx as the seed's server, inside a namespace host, with its own config in
// a temp dir (never the machine's nginx service).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetnsHost } from './netns.js';

export interface Nginx {
  stop(): void;
}

/** One nginx server block: where it listens and whether it closes first. */
export interface NginxServer {
  /** "10.1.0.1:80", "[fd00:1::1]:80", "80" for all addresses. */
  listen: string[];
  /** 0 makes the server close first after each response; otherwise (default 65 s) the client closes first. */
  keepaliveTimeout?: number;
}

/** Starts nginx in `host` with the given server blocks. */
export async function startNginx(host: NetnsHost, servers: NginxServer[]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpstate-nginx-'));
  const conf = join(dir, 'nginx.conf');
  const blocks = servers.map(
    (srv) => `  server {
${srv.listen.map((l) => `    listen ${l};`).join('\n')}
    keepalive_timeout ${srv.keepaliveTimeout ?? 65};
    location / { return 200 "ok\\n"; }
  }`,
  );
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
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
  host.exec('nginx', ['-c', conf]);
  // The daemon writes its pid file just after the starting process returns.
  let pid = 0;
  for (let i = 0; i < 100 && !pid; i++) {
    try {
      pid = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (!pid) throw new Error(`nginx did not start in ${host.name}: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
  return {
    stop() {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // nginx already exited
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
