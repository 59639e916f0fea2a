/** A host (IP address or name) and TCP port to listen on. Port 0 asks the kernel for a free port. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:4270", "[::]:4270": IPv6 literals get brackets so the port stays readable. */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
