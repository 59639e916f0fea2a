import { hostname } from 'node:os';
import { type Compression, type ListenAddress, type OptionSpec, parseCompression, parseDuration, parseListen } from '@tcpstate/config';

/** Everything the collector can be told, from flags or TCPSTATE_* variables. */
export interface CollectorOptions {
  grpcListen: ListenAddress;
  httpListen: ListenAddress;
  /** Agents as HOST:PORT; a host name stands for every address it resolves to. */
  agent: ListenAddress[];
  /** A file of HOST:PORT lines, re-read every discoveryInterval. */
  agentsFile?: string;
  /** How often DNS names are re-resolved and the agents file re-read (ms). */
  discoveryInterval: number;
  store: string;
  /** Keep events this long (ms). */
  retention: number;
  /** This replica's name in the leases table. */
  replicaId: string;
  /** How long a lease on an agent lasts without renewal (ms). */
  leaseTtl: number;
  /** An agent unreachable this long is reported GONE (ms). */
  goneAfter: number;
  /** Keepalive towards agents: a PING after this long without data, the connection dead when unanswered as long (ms). */
  agentKeepalive: number;
  /** Whether agents are asked to gzip what they send (none: the agents' CPU is worth more than the bytes). */
  agentCompression: Compression;
  /** Watch sends heartbeats on a stream idle this long (ms). */
  heartbeat: number;
  /** Calling agents over TLS: CA bundle, and a client certificate and key for mTLS. */
  agentCa?: string;
  agentCert?: string;
  agentKey?: string;
  /** Serving gRPC over TLS. */
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

/** The shortest --retention: anything shorter could delete events while they are still being ingested. */
export const MIN_RETENTION_MS = 10_000;

export const collectorOptionSpecs: OptionSpec[] = [
  { name: 'grpc-listen', value: 'HOST:PORT', description: 'Serve the gRPC protocol (HTTP/2) here', parse: parseListen, default: { host: '0.0.0.0', port: 4280 } },
  { name: 'http-listen', value: 'HOST:PORT', description: 'Serve Connect/gRPC-Web (HTTP/1.1), /healthz and /metrics here', parse: parseListen, default: { host: '0.0.0.0', port: 4281 } },
  {
    name: 'agent', value: 'HOST:PORT', repeatable: true, parse: parseListen,
    description: 'An agent to subscribe to; a DNS name means every address it resolves to (e.g. a Kubernetes headless Service)',
  },
  { name: 'agents-file', value: 'FILE', description: 'A file listing agents, one HOST:PORT per line (# starts a comment), re-read periodically' },
  { name: 'discovery-interval', value: 'DURATION', description: 'How often DNS names are re-resolved and --agents-file is re-read', parse: parseDuration, default: 30_000 },
  { name: 'store', value: 'DIR|postgres://...', description: 'Where events are stored: a data directory (SQLite) or a PostgreSQL URL', default: './tcpstate-data' },
  { name: 'retention', value: 'DURATION', description: 'Keep events this long (s, m, h or d: 12h, 7d; at least 10s)', parse: parseDuration, default: 7 * 86_400_000 },
  { name: 'replica-id', value: 'ID', description: 'Name of this collector replica in the agent leases (unique per replica)', default: hostname() },
  { name: 'lease-ttl', value: 'DURATION', description: 'A replica that stops renewing its lease on an agent loses it after this long', parse: parseDuration, default: 15_000 },
  { name: 'gone-after', value: 'DURATION', description: 'Report an agent GONE once it has been unreachable this long', parse: parseDuration, default: 60_000 },
  {
    name: 'agent-keepalive', value: 'DURATION', parse: parseDuration, default: 5_000,
    description: 'PING an agent connection quiet for this long; a PING unanswered as long means the connection is dead',
  },
  {
    name: 'agent-compression', value: 'none|gzip', parse: parseCompression, default: 'none',
    description: 'Ask agents to gzip their event streams: about 6x fewer bytes for about 2.5 µs of agent CPU an event',
  },
  { name: 'heartbeat', value: 'DURATION', description: 'Heartbeat on an idle Watch stream', parse: parseDuration, default: 15_000 },
  { name: 'agent-ca', value: 'FILE', description: 'Call agents over TLS, trusting this CA bundle (PEM)' },
  { name: 'agent-cert', value: 'FILE', description: 'Client certificate presented to agents (mTLS, PEM)' },
  { name: 'agent-key', value: 'FILE', description: 'Private key for --agent-cert (PEM)' },
  { name: 'tls-cert', value: 'FILE', description: 'Serve gRPC over TLS with this certificate (PEM)' },
  { name: 'tls-key', value: 'FILE', description: 'Private key for --tls-cert (PEM)' },
  { name: 'tls-client-ca', value: 'FILE', description: 'Require client certificates signed by this CA (mTLS)' },
];

/** Cross-option rules that no single option can check. */
export function checkCollectorOptions(o: CollectorOptions): string[] {
  const problems: string[] = [];
  if (!!o.tlsCert !== !!o.tlsKey) problems.push('--tls-cert and --tls-key go together');
  if (o.tlsClientCa && !o.tlsCert) problems.push('--tls-client-ca needs --tls-cert and --tls-key');
  if (!!o.agentCert !== !!o.agentKey) problems.push('--agent-cert and --agent-key go together');
  if (o.agentCert && !o.agentCa) problems.push('--agent-cert needs --agent-ca (client certificates are only sent over TLS)');
  if (o.leaseTtl < 1000) problems.push('--lease-ttl: must be at least 1s');
  if (o.discoveryInterval < 100) problems.push('--discovery-interval: must be at least 100ms');
  if (o.retention < MIN_RETENTION_MS) problems.push('--retention: must be at least 10s');
  if (o.agentKeepalive < 100) problems.push('--agent-keepalive: must be at least 100ms');
  if (o.heartbeat < 100) problems.push('--heartbeat: must be at least 100ms');
  if (o.replicaId === '') problems.push('--replica-id: must not be empty');
  return problems;
}
