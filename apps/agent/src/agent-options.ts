import { type Compression, type ListenAddress, type OptionSpec, parseCompression, parseDuration, parseInteger, parseListen, parseSize } from '@tcpstate/config';
import { parseEndpoint, parsePort } from '@tcpstate/model';

/** Everything the agent can be told, from flags or TCPSTATE_* variables. */
export interface AgentOptions {
  grpcListen: ListenAddress;
  httpListen: ListenAddress;
  agentId?: string;
  hostname?: string;
  serverEndpoint: string[];
  port: number[];
  netns: number[];
  capture: boolean;
  timeWaitStrategy: 'auto' | 'fexit' | 'kprobe' | 'timer' | 'sweep';
  sweepInterval: number;
  replayEvents: number;
  replayBytes: number;
  queueEvents: number;
  heartbeat: number;
  /** Whether responses are gzipped for clients that accept it (none: the host's CPU is worth more than the bytes). */
  compression: Compression;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

const strategies = ['auto', 'fexit', 'kprobe', 'timer', 'sweep'] as const;

export const agentOptionSpecs: OptionSpec[] = [
  { name: 'grpc-listen', value: 'HOST:PORT', description: 'Serve the gRPC protocol (HTTP/2) here', parse: parseListen, default: { host: '0.0.0.0', port: 4270 } },
  { name: 'http-listen', value: 'HOST:PORT', description: 'Serve Connect/gRPC-Web (HTTP/1.1), /healthz and /metrics here', parse: parseListen, default: { host: '0.0.0.0', port: 4271 } },
  { name: 'agent-id', value: 'ID', description: 'Name of this agent in the fleet (default: the host name)' },
  { name: 'hostname', value: 'NAME', description: "Host name this agent reports (default: the machine's; set it where a container or namespace shares the machine's)" },
  {
    name: 'server-endpoint', value: 'IP:PORT', repeatable: true,
    description: 'Capture only connections to or from this server endpoint; 0.0.0.0:PORT or [::]:PORT match any address',
    parse: (t) => (parseEndpoint(t), t),
  },
  { name: 'port', value: 'PORT', repeatable: true, description: 'Capture only connections with this port at either end', parse: (t) => parsePort(t) },
  { name: 'netns', value: 'INODE', repeatable: true, description: 'Capture only sockets of this network namespace (inode, as in /proc/PID/ns/net)', parse: (t) => parseInteger(t, 1, 2 ** 32 - 1) },
  { name: 'capture', description: 'Load the eBPF programs (--no-capture serves the API without kernel capture)', default: true },
  {
    name: 'time-wait-strategy', value: 'auto|fexit|kprobe|timer|sweep', default: 'auto',
    description: 'How to follow TIME_WAIT: auto picks the best the kernel allows',
    parse: (t) => {
      if (!(strategies as readonly string[]).includes(t)) throw new Error(`"${t}" is not one of ${strategies.join(', ')}`);
      return t;
    },
  },
  { name: 'sweep-interval', value: 'DURATION', description: 'Period of the iter/tcp sweep that sees TIME_WAIT sockets', parse: parseDuration, default: 1000 },
  { name: 'replay-events', value: 'N', description: 'Events kept for Subscribe replay (since_seq / since_time)', parse: (t) => parseInteger(t, 0), default: 100_000 },
  { name: 'replay-bytes', value: 'SIZE', description: 'Bytes kept for Subscribe replay', parse: parseSize, default: 64 * 1024 * 1024 },
  { name: 'queue-events', value: 'N', description: 'Events queued per subscriber before it gets a gap', parse: (t) => parseInteger(t, 1), default: 10_000 },
  { name: 'heartbeat', value: 'DURATION', description: 'Heartbeat on an idle Subscribe stream', parse: parseDuration, default: 15_000 },
  {
    name: 'compression', value: 'none|gzip', parse: parseCompression, default: 'none',
    description: 'Gzip responses for clients that accept it: about 6x fewer bytes for about 2.5 µs of CPU an event',
  },
  { name: 'tls-cert', value: 'FILE', description: 'Serve gRPC over TLS with this certificate (PEM)' },
  { name: 'tls-key', value: 'FILE', description: 'Private key for --tls-cert (PEM)' },
  { name: 'tls-client-ca', value: 'FILE', description: 'Require client certificates signed by this CA (mTLS)' },
];

/** Cross-option rules that no single option can check. */
export function checkAgentOptions(o: AgentOptions): string[] {
  const problems: string[] = [];
  if (!!o.tlsCert !== !!o.tlsKey) problems.push('--tls-cert and --tls-key go together');
  if (o.tlsClientCa && !o.tlsCert) problems.push('--tls-client-ca needs --tls-cert and --tls-key');
  if (o.sweepInterval < 10) problems.push('--sweep-interval: must be at least 10ms');
  return problems;
}
