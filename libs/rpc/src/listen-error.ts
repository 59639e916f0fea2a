import { formatListenAddress, type ListenAddress } from './listen-address.js';

/** Which of the server's two listeners failed. */
export type ListenerName = 'gRPC' | 'HTTP';

/**
 * Raised by `ConnectServer.listen()` when a port cannot be bound. The message is
 * one sentence a user can act on, e.g.
 * "cannot listen on 0.0.0.0:4270 for gRPC: the address is already in use".
 */
export class ListenError extends Error {
  override name = 'ListenError';

  constructor(
    /** The listener that failed. */
    readonly listener: ListenerName,
    /** The address as configured (not resolved). */
    readonly address: ListenAddress,
    /** The system error code (EADDRINUSE, EACCES, ...) when there was one. */
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(
      `cannot listen on ${formatListenAddress(address)} for ${listener}: ${explainListenFailure(code, cause)}`,
      { cause },
    );
  }
}

/** Wraps whatever `server.listen()` threw or emitted into a ListenError. */
export function toListenError(listener: ListenerName, address: ListenAddress, cause: unknown): ListenError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new ListenError(listener, address, typeof code === 'string' ? code : undefined, cause);
}

// The reasons people actually hit, in their words rather than errno names.
const reasons: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability)',
  EADDRNOTAVAIL: 'the address does not belong to this host',
  EAFNOSUPPORT: 'the address family is not supported on this host',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve',
  EAI_NONAME: 'the host name does not resolve',
  ERR_SOCKET_BAD_PORT: 'the port is not a number between 0 and 65535',
};

function explainListenFailure(code: string | undefined, cause: unknown): string {
  if (code !== undefined && code in reasons) return reasons[code];
  const message = cause instanceof Error ? cause.message : String(cause);
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}
