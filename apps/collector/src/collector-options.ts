import { type ListenAddress, type OptionSpec, parseDuration, parseListen } from '@tcpstate/config';

/** Everything the collector can be told, from flags or TCPSTATE_* variables. */
export interface CollectorOptions {
  grpcListen: ListenAddress;
  httpListen: ListenAddress;
  agent: ListenAddress[];
  store: string;
  retention: number;
}

export const collectorOptionSpecs: OptionSpec[] = [
  { name: 'grpc-listen', value: 'HOST:PORT', description: 'Serve the gRPC protocol (HTTP/2) here', parse: parseListen, default: { host: '0.0.0.0', port: 4280 } },
  { name: 'http-listen', value: 'HOST:PORT', description: 'Serve Connect/gRPC-Web (HTTP/1.1), the timeline page, /healthz and /metrics here', parse: parseListen, default: { host: '0.0.0.0', port: 4281 } },
  { name: 'agent', value: 'HOST:PORT', repeatable: true, description: 'An agent to subscribe to', parse: parseListen },
  { name: 'store', value: 'DIR|postgres://...', description: 'Where events are stored: a data directory (SQLite) or a PostgreSQL URL', default: './tcpstate-data' },
  { name: 'retention', value: 'DURATION', description: 'Keep events this long', parse: parseDuration, default: 7 * 86_400_000 },
];
