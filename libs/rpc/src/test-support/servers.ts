import { ConnectServer, type ConnectServerOptions, type ServiceRegistration } from '../connect-server.js';

const loopback = { host: '127.0.0.1', port: 0 };

/** Servers started by a test file, closed by `closeAll()` in afterEach/afterAll. */
export class TestServers {
  private readonly servers: ConnectServer[] = [];

  /** A listening server on 127.0.0.1 with kernel-chosen ports. */
  async start(services: ServiceRegistration[], options: Partial<ConnectServerOptions> = {}): Promise<ConnectServer> {
    const server = new ConnectServer(services, { grpcListen: loopback, httpListen: loopback, ...options });
    this.servers.push(server);
    await server.listen();
    return server;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => s.close(0)));
  }
}

/** "http://127.0.0.1:PORT" of a server's HTTP/1.1 listener. */
export function httpBase(server: ConnectServer): string {
  return `http://127.0.0.1:${server.httpAddress.port}`;
}
