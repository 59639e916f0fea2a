// The collector's gRPC connection to one agent: Connect's HTTP/2 transport
// with keepalive PINGs, so that a cut link is noticed within seconds rather
// than when TCP gives up, TLS/mTLS when configured, and no compression unless
// asked for: gzip costs every agent ~2.5 µs of CPU an event it sends (BENCHMARKS.md).
// Subscribe's events are decoded by the collector's own StateChange decoder.
import { readFileSync } from 'node:fs';
import { create, type DescMethodServerStreaming, type MessageInitShape } from '@bufbuild/protobuf';
import { type CallOptions, type Client, createClient } from '@connectrpc/connect';
import { compressionGzip, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { AgentService, type SubscribeRequestSchema, type SubscribeResponse, SubscribeResponseSchema, wireV1 } from '@tcpstate/proto';
import { decodeEventBatch, decodeStateChange } from './state-change-decoder.js';

/** TLS towards agents: the CA that signed their certificates, and our client certificate for mTLS. */
export interface AgentTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Reads --agent-ca/--agent-cert/--agent-key; undefined when TLS is not configured. */
export function loadAgentTls(files: { agentCa?: string; agentCert?: string; agentKey?: string }): AgentTls | undefined {
  if (!files.agentCa) return undefined;
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read the ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return {
    ca: read(files.agentCa, 'agent CA'),
    cert: files.agentCert ? read(files.agentCert, 'agent client certificate') : undefined,
    key: files.agentKey ? read(files.agentKey, 'agent client key') : undefined,
  };
}

/** A connection (TCP and TLS) not up within this time counts as failed. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * AgentService.Subscribe read as SubscribeResponseWire (proto/tcpstate/wire/v1): the same call (its parent,
 * hence its path, is still AgentService) and the same bytes, events left undecoded. createClient builds a
 * function per method of the service it is given: here a copy of AgentService with this method alone.
 */
const subscribeWire = { ...AgentService.method.subscribe, output: wireV1.SubscribeResponseWireSchema } as unknown as DescMethodServerStreaming<
  typeof SubscribeRequestSchema,
  typeof wireV1.SubscribeResponseWireSchema
>;
export const SubscribeWireService = { ...AgentService, methods: [subscribeWire], method: { subscribe: subscribeWire } };

/** An AgentService client over its own HTTP/2 connection, closed with close(). */
export class AgentConnection {
  readonly client: Client<typeof AgentService>;
  private readonly wireClient: { subscribe(request: MessageInitShape<typeof SubscribeRequestSchema>, options?: CallOptions): AsyncIterable<wireV1.SubscribeResponseWire> };
  private readonly session: Http2SessionManager;

  /**
   * @param address HOST:PORT as dialled ("10.0.0.1:4270", "[fd00::1]:4270").
   * @param serverName the name the agent's certificate is checked against (a DNS name the address came from).
   * @param keepaliveMs a PING after this long without data; unanswered as long, the connection is dead.
   * @param gzip whether to tell the agent that gzipped responses are welcome (it then gzips every large one).
   */
  constructor(address: string, tls: AgentTls | undefined, serverName: string | undefined, keepaliveMs: number, gzip = false) {
    const baseUrl = `${tls ? 'https' : 'http'}://${address}`;
    this.session = new Http2SessionManager(
      baseUrl,
      { pingIntervalMs: keepaliveMs, pingTimeoutMs: keepaliveMs, connectTimeoutMs: CONNECT_TIMEOUT_MS },
      tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, ...(serverName ? { servername: serverName } : {}) } : {},
    );
    const transport = createGrpcTransport({ baseUrl, sessionManager: this.session, acceptCompression: gzip ? [compressionGzip] : [] });
    this.client = createClient(AgentService, transport);
    this.wireClient = createClient(SubscribeWireService as unknown as typeof AgentService, transport) as unknown as typeof this.wireClient;
  }

  /**
   * client.subscribe(), with its events decoded by state-change-decoder.ts instead of protobuf-es: the same
   * messages at half the cost, on the thread that receives every agent's stream.
   */
  async *subscribe(request: MessageInitShape<typeof SubscribeRequestSchema>, options?: CallOptions): AsyncGenerator<SubscribeResponse> {
    for await (const { response } of this.wireClient.subscribe(request, options)) {
      switch (response.case) {
        case 'events':
          yield create(SubscribeResponseSchema, { response: { case: 'events', value: { events: decoded(decodeEventBatch, response.value) } } });
          break;
        case 'event':
          yield create(SubscribeResponseSchema, { response: { case: 'event', value: decoded(decodeStateChange, response.value) } });
          break;
        case 'gap':
        case 'heartbeat':
          yield create(SubscribeResponseSchema, { response });
          break;
        default:
          yield create(SubscribeResponseSchema); // a response of a newer agent: nothing this collector knows
      }
    }
  }

  /** Closes the connection and every stream on it. */
  close(): void {
    this.session.abort();
  }
}

/** decode(bytes), or an error that says the agent's events could not be decoded (the stream is then retried). */
function decoded<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array): T {
  try {
    return decode(bytes);
  } catch (error) {
    throw new Error(`the agent sent events this collector cannot decode (${(error as Error).message}, ${bytes.length} bytes)`);
  }
}
