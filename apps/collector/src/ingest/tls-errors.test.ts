import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { describeTlsError } from './tls-errors.js';

/** A TLS failure as Connect reports it: a ConnectError whose cause is Node's error with its OpenSSL code. */
const failure = (code: string, message: string) =>
  new ConnectError(message, Code.Unavailable, undefined, undefined, Object.assign(new Error(message), { code }));

describe('describeTlsError', () => {
  it('names the option to fix for each TLS failure', () => {
    expect(describeTlsError(failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), '10.0.0.1:4270')).toBe(
      'cannot connect to the agent over TLS: its certificate is not signed by the CA in --agent-ca (unable to verify the first certificate)',
    );
    expect(describeTlsError(failure('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), '10.0.0.1:4270')).toBe(
      "cannot connect to the agent over TLS: its certificate does not name 10.0.0.1:4270 (Hostname/IP does not match certificate's altnames)",
    );
    expect(describeTlsError(failure('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'alert 116'), 'a:1')).toBe(
      'the agent requires a client certificate (mTLS): give --agent-cert and --agent-key',
    );
    expect(describeTlsError(failure('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'alert 48'), 'a:1')).toMatch(/^the agent refused our client certificate/);
    expect(describeTlsError(failure('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), 'a:1')).toMatch(/^the agent does not speak TLS/);
  });

  it('leaves other failures to the generic description', () => {
    expect(describeTlsError(failure('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:4270'), 'a:1')).toBeUndefined();
    expect(describeTlsError(new Error('no code'), 'a:1')).toBeUndefined();
  });
});
