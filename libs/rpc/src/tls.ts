import { readFileSync } from 'node:fs';

/**
 * TLS for the gRPC listener. Each value is PEM text as a Buffer, or a path to a
 * PEM file (a string is always read as a path).
 */
export interface TlsOptions {
  /** Server certificate chain. */
  cert: Buffer | string;
  /** Server private key. */
  key: Buffer | string;
  /** CA bundle for client certificates: when set, clients must present one it signed (mTLS). */
  clientCa?: Buffer | string;
}

/** The PEM material, read and ready for `http2.createSecureServer`. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa: Buffer | undefined;
}

/** Reads the certificate files; an unreadable file is one sentence naming it. */
export function loadTlsMaterial(options: TlsOptions): TlsMaterial {
  return {
    cert: readPem(options.cert, 'TLS certificate'),
    key: readPem(options.key, 'TLS key'),
    clientCa: options.clientCa === undefined ? undefined : readPem(options.clientCa, 'TLS client CA'),
  };
}

function readPem(source: Buffer | string, what: string): Buffer {
  if (typeof source !== 'string') return source;
  try {
    return readFileSync(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new Error(`cannot read the ${what} file ${source}: ${reason}`, { cause: error });
  }
}
