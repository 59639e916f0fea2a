import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { type ListenAddress, formatListen } from '@tcpstate/config';
import { AgentService, CollectorService } from '@tcpstate/proto';

/** A gRPC client of an agent at HOST:PORT (cleartext HTTP/2). */
export function agentClient(address: ListenAddress): Client<typeof AgentService> {
  return createClient(AgentService, createGrpcTransport({ baseUrl: `http://${formatListen(address)}` }));
}

/** A gRPC client of a collector at HOST:PORT (cleartext HTTP/2). */
export function collectorClient(address: ListenAddress): Client<typeof CollectorService> {
  return createClient(CollectorService, createGrpcTransport({ baseUrl: `http://${formatListen(address)}` }));
}
