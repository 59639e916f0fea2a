import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { GetStatusRequestSchema, GetStatusResponseSchema } from '@tcpstate/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectServer } from './connect-server.js';
import { fixedAgentService, FIXED_STATUS } from './test-support/agent-status.js';
import { createTestPki, type TestPki } from './test-support/certificates.js';
import { grpcClient, unary } from './test-support/grpc-client.js';
import { httpBase, TestServers } from './test-support/servers.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(() => pki?.remove());

const servers = new TestServers();
const clients: grpc.Client[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await servers.closeAll();
});

async function getStatus(server: ConnectServer, credentials: grpc.ChannelCredentials) {
  // The certificate names 127.0.0.1 too, but TLS SNI may not carry an IP address: send "localhost".
  const client = grpcClient(server.grpcAddress, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
  clients.push(client);
  return unary(client, '/tcpstate.v1.AgentService/GetStatus', GetStatusRequestSchema, GetStatusResponseSchema,
    create(GetStatusRequestSchema));
}

describe('TLS on the gRPC listener', () => {
  it('serves grpc-js over TLS with certificate files', async () => {
    const server = await servers.start([fixedAgentService()], { tls: { cert: pki.serverCert, key: pki.serverKey } });
    const ca = await pki.read(pki.caCert);
    expect(await getStatus(server, grpc.credentials.createSsl(ca))).toEqual(FIXED_STATUS);
  });

  it('refuses cleartext clients', async () => {
    const server = await servers.start([fixedAgentService()], { tls: { cert: pki.serverCert, key: pki.serverKey } });
    await expect(getStatus(server, grpc.credentials.createInsecure())).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('keeps the API off the cleartext HTTP listener, which still serves /healthz', async () => {
    const server = await servers.start([fixedAgentService()], { tls: { cert: pki.serverCert, key: pki.serverKey } });
    const rpc = await fetch(`${httpBase(server)}/tcpstate.v1.AgentService/GetStatus`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(rpc.status).toBe(404);
    const health = await fetch(`${httpBase(server)}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok']);
  });

  it('rejects an unreadable certificate file with one sentence and opens no port', async () => {
    const server = new ConnectServer([fixedAgentService()], {
      grpcListen: { host: '127.0.0.1', port: 0 },
      httpListen: { host: '127.0.0.1', port: 0 },
      tls: { cert: `${pki.dir}/missing.pem`, key: pki.serverKey },
    });
    await expect(server.listen()).rejects.toThrow(
      new Error(`cannot read the TLS certificate file ${pki.dir}/missing.pem: no such file`),
    );
    expect(server.state).toBe('closed');
    expect(() => server.grpcAddress).toThrow('the gRPC listener is not bound: call listen() first');
  });

  it('rejects a key that is not PEM with one sentence', async () => {
    const server = new ConnectServer([fixedAgentService()], {
      grpcListen: { host: '127.0.0.1', port: 0 },
      httpListen: { host: '127.0.0.1', port: 0 },
      tls: { cert: pki.serverCert, key: Buffer.from('not a key') },
    });
    await expect(server.listen()).rejects.toThrow(/^the TLS certificate, key or client CA is not usable: /);
  });
});

describe('mTLS (clientCa set)', () => {
  async function startMtls() {
    return servers.start([fixedAgentService()], {
      tls: {
        cert: await pki.read(pki.serverCert),
        key: await pki.read(pki.serverKey),
        clientCa: await pki.read(pki.caCert),
      },
    });
  }

  it('serves a client presenting a certificate the CA signed', async () => {
    const server = await startMtls();
    const [ca, key, cert] = await Promise.all([pki.caCert, pki.clientKey, pki.clientCert].map(pki.read));
    expect(await getStatus(server, grpc.credentials.createSsl(ca, key, cert))).toEqual(FIXED_STATUS);
  });

  it('refuses a client without a certificate', async () => {
    const server = await startMtls();
    const ca = await pki.read(pki.caCert);
    await expect(getStatus(server, grpc.credentials.createSsl(ca))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('refuses a client whose certificate another CA signed', async () => {
    const server = await startMtls();
    const other = await createTestPki();
    try {
      const ca = await pki.read(pki.caCert);
      const [key, cert] = await Promise.all([other.clientKey, other.clientCert].map(other.read));
      await expect(getStatus(server, grpc.credentials.createSsl(ca, key, cert))).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    } finally {
      await other.remove();
    }
  });
});
