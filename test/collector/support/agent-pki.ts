// A throwaway PKI for TLS between the collector and agents in namespace hosts,
// made with Debian's openssl: a CA, one server certificate naming every agent
// address (IP SANs), a client certificate for mTLS, and a second, unrelated CA
// that trusts none of them.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of the PKI's files. */
export interface AgentPki {
  dir: string;
  caCert: string;
  /** A CA that signed nothing here: trusting it, a client rejects the agents. */
  otherCaCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  remove(): Promise<void>;
}

/** Generates the PKI (P-256 keys, valid one day); the server certificate names `addresses`. */
export async function createAgentPki(addresses: string[]): Promise<AgentPki> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-agent-pki-'));
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    await openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '1', '-subj', `/CN=tcpstate test ${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  const san = `subjectAltName=${addresses.map((a) => `IP:${a}`).join(',')}`;
  for (const [name, usage, names] of [
    ['server', 'serverAuth', san],
    ['client', 'clientAuth', 'subjectAltName=DNS:tcpstate-collector'],
  ]) {
    await writeFile(join(dir, `${name}.ext`), `${names}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
    await openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=tcpstate test ${name}`);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1',
      '-extfile', `${name}.ext`);
  }
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    otherCaCert: join(dir, 'other-ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
