// TLS failures towards an agent, in words that say which option to fix: the
// TLS stack reports them as codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, an alert
// from the agent) that only someone who knows OpenSSL can act on.

/** The code of the first error in the cause chain that has one (Node's TLS errors carry `code`). */
function errorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== '') return code;
  }
  return undefined;
}

/** Certificate checks of the agent's certificate that mean "not signed by a CA we trust". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * One sentence for a TLS failure between the collector and an agent, or
 * undefined when the error is not about TLS. `address` is the agent as dialled.
 */
export function describeTlsError(error: unknown, address: string): string | undefined {
  const code = errorCode(error);
  if (code === undefined) return undefined;
  const detail = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
  const reason = detail.replace(/;.*$/, '');
  if (UNTRUSTED.has(code)) return `cannot connect to the agent over TLS: its certificate is not signed by the CA in --agent-ca (${reason})`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `cannot connect to the agent over TLS: its certificate does not name ${address} (${reason})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `cannot connect to the agent over TLS: its certificate is not valid now (${reason})`;
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE') {
    return 'the agent requires a client certificate (mTLS): give --agent-cert and --agent-key';
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' || code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE') {
    return "the agent refused our client certificate (--agent-cert): it is not signed by the CA the agent trusts (its --tls-client-ca)";
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return 'the agent does not speak TLS: start it with --tls-cert and --tls-key, or call it without --agent-ca';
  }
  return undefined;
}
