import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type Interceptor,
  type MethodImpl,
  type ServiceImpl,
} from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { withSpecGrpcMessage } from './grpc-message-encoding.js';
import { healthV1, reflectionV1, reflectionV1alpha } from '@tcpstate/proto';
import type { Registry } from 'prom-client';
import { DescriptorIndex } from './descriptor-index.js';
import { createHealthService, HealthState, OVERALL_HEALTH, ServingStatus } from './health.js';
import { createHttpEndpoints } from './http-endpoints.js';
import type { ListenAddress } from './listen-address.js';
import { toListenError, type ListenerName } from './listen-error.js';
import { createMetricsRegistry } from './metrics.js';
import { createReflectionV1alphaService, createReflectionV1Service } from './reflection.js';
import { loadTlsMaterial, type TlsMaterial, type TlsOptions } from './tls.js';

/**
 * A Connect service and its implementation. Methods left out answer
 * UNIMPLEMENTED. Use `serviceRegistration()` to have the implementation
 * type-checked against the service.
 */
export interface ServiceRegistration<S extends DescService = DescService> {
  readonly service: S;
  readonly impl: Partial<ServiceImpl<S>>;
}

/** A type-checked ServiceRegistration: `serviceRegistration(AgentService, { getStatus() {...} })`. */
export function serviceRegistration<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
): ServiceRegistration {
  return { service, impl: impl as ServiceRegistration['impl'] };
}

/** Where and how a ConnectServer listens. */
export interface ConnectServerOptions {
  /** gRPC (plus Connect and gRPC-Web) over HTTP/2: cleartext h2c, or TLS when `tls` is set. */
  grpcListen: ListenAddress;
  /**
   * HTTP/1.1: `/healthz`, `/metrics`, and Connect + gRPC-Web for browsers.
   * Always cleartext; when `tls` is set it serves only `/healthz` and
   * `/metrics`, so the API is never reachable around TLS.
   */
  httpListen: ListenAddress;
  /** TLS (and with `clientCa`, mTLS) for the gRPC listener. */
  tls?: TlsOptions;
  /**
   * Gzip (or brotli) responses for clients that accept it, as Connect does by default (true). The agent
   * turns it off: grpc-js and Connect clients accept gzip unasked, and it cost the agent ~2.5 µs an event.
   */
  compression?: boolean;
  /**
   * A directory with a web page (index.html, assets/) served on the HTTP
   * listener at `GET /` and `/assets/...`, beside the API it calls. Served
   * only when `tls` is unset, like the API on that port.
   */
  staticRoot?: string;
}

/** Lifecycle of a ConnectServer: it listens once and closes once. */
export type ConnectServerState = 'idle' | 'starting' | 'listening' | 'closing' | 'closed';

/** Default time `close()` lets calls finish before cutting connections. */
export const DEFAULT_GRACE_MS = 10_000;

const SHUTTING_DOWN = 'the server is shutting down';

/**
 * Serves Connect services on two ports: gRPC over HTTP/2 and Connect/gRPC-Web
 * over HTTP/1.1 (with `/healthz` and `/metrics`). Every server also serves
 * grpc.reflection.v1, grpc.reflection.v1alpha and grpc.health.v1.
 *
 * Usable on its own; `RpcModule` wires it into a NestJS app.
 */
export class ConnectServer {
  /** Prometheus registry served on `/metrics`: default process metrics, per-RPC counters, and whatever the app adds. */
  readonly metrics: Registry;
  /** grpc.health.v1 state: "" and every registered service become SERVING once both ports listen. */
  readonly health = new HealthState();

  private readonly services: ServiceRegistration[] = [];
  private readonly metricsInterceptor: Interceptor;
  // Aborted when close() begins: streaming handlers see their signal fire.
  private readonly streamStop = new AbortController();
  // Aborted when the grace period runs out: unary handlers still running see their signal fire.
  private readonly unaryStop = new AbortController();
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<http2.Http2Session>();
  private readonly responses = new Set<http.ServerResponse>();
  private grpcServer: http2.Http2Server | http2.Http2SecureServer | undefined;
  private httpServer: http.Server | undefined;
  private grpcBound: ListenAddress | undefined;
  private httpBound: ListenAddress | undefined;
  private currentState: ConnectServerState = 'idle';
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    services: readonly ServiceRegistration[],
    private readonly options: ConnectServerOptions,
  ) {
    const { registry, interceptor } = createMetricsRegistry();
    this.metrics = registry;
    this.metricsInterceptor = interceptor;
    services.forEach((s) => this.addService(s));
  }

  /** Adds a service before `listen()`. Throws if the service is already registered. */
  addService(registration: ServiceRegistration): void {
    if (this.currentState !== 'idle') {
      throw new Error(`cannot add ${registration.service.typeName}: the server is already ${this.currentState}`);
    }
    const name = registration.service.typeName;
    if (this.services.some((s) => s.service.typeName === name) || builtInServiceNames.has(name)) {
      throw new Error(`service ${name} is registered twice`);
    }
    this.services.push(registration);
  }

  /** Where the lifecycle is. */
  get state(): ConnectServerState {
    return this.currentState;
  }

  /** The address the gRPC listener is bound to (the real port when 0 was asked). */
  get grpcAddress(): ListenAddress {
    if (!this.grpcBound) throw new Error('the gRPC listener is not bound: call listen() first');
    return this.grpcBound;
  }

  /** The address the HTTP/1.1 listener is bound to (the real port when 0 was asked). */
  get httpAddress(): ListenAddress {
    if (!this.httpBound) throw new Error('the HTTP listener is not bound: call listen() first');
    return this.httpBound;
  }

  /**
   * Binds both ports. Resolves when both listen; otherwise rejects with a
   * ListenError (one sentence naming the address) or a TLS file error, after
   * closing whatever had opened. A server listens at most once.
   */
  listen(): Promise<void> {
    if (this.currentState !== 'idle') {
      return Promise.reject(new Error(`cannot listen: the server is already ${this.currentState}`));
    }
    this.currentState = 'starting';
    this.starting = this.start().catch(async (error: unknown) => {
      await this.closeListeners();
      this.currentState = 'closed';
      throw error;
    });
    return this.starting;
  }

  /**
   * Graceful shutdown: health turns NOT_SERVING, both listeners stop accepting,
   * open streams are aborted (their handlers' signals fire with UNAVAILABLE),
   * unary calls in flight may finish. After `graceMs` whatever is still open is
   * cut. Resolves when every connection is closed. Idempotent.
   */
  close(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async start(): Promise<void> {
    const tls = this.options.tls && loadTlsMaterial(this.options.tls);
    const rpc = connectNodeAdapter({
      routes: (router) => this.routes(router),
      interceptors: [this.metricsInterceptor],
      // [] turns compression off both ways (requests are small: clients compress them only when told to).
      ...(this.options.compression === false ? { acceptCompression: [] } : {}),
    });
    const grpcServer = createGrpcServer(tls, (req, res) => rpc(req, withSpecGrpcMessage(res)));
    grpcServer.on('session', (session: http2.Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      if (this.currentState === 'closing') session.close();
    });
    const endpoints = createHttpEndpoints({
      health: this.health,
      metrics: this.metrics,
      rpc: tls ? undefined : rpc,
      staticRoot: this.options.staticRoot,
    });
    const httpServer = http.createServer((req, res) => {
      if (this.currentState === 'closing') endKeepAlive(httpServer, res);
      this.responses.add(res);
      res.once('close', () => this.responses.delete(res));
      endpoints(req, res);
    });
    for (const server of [grpcServer, httpServer]) {
      server.on('connection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
    }
    this.grpcServer = grpcServer;
    this.httpServer = httpServer;

    const [grpc, web] = await Promise.allSettled([
      bind(grpcServer, this.options.grpcListen, 'gRPC'),
      bind(httpServer, this.options.httpListen, 'HTTP'),
    ]);
    if (grpc.status === 'rejected') throw grpc.reason;
    if (web.status === 'rejected') throw web.reason;
    this.grpcBound = grpc.value;
    this.httpBound = web.value;
    this.currentState = 'listening';
    this.health.set(OVERALL_HEALTH, ServingStatus.SERVING);
    for (const { service } of this.services) this.health.set(service.typeName, ServingStatus.SERVING);
  }

  private routes(router: ConnectRouter): void {
    const index = new DescriptorIndex([...this.services.map((s) => s.service), ...builtInServices]);
    const all: ServiceRegistration[] = [
      ...this.services,
      serviceRegistration(reflectionV1.ServerReflection, createReflectionV1Service(index)),
      serviceRegistration(reflectionV1alpha.ServerReflection, createReflectionV1alphaService(index)),
      serviceRegistration(healthV1.Health, createHealthService(this.health)),
    ];
    // Registered method by method so unary calls and streams get different
    // shutdown signals: streams stop when close() begins, unary calls may finish.
    for (const { service, impl } of all) {
      for (const method of service.methods) {
        const shutdownSignal = method.methodKind === 'unary' ? this.unaryStop.signal : this.streamStop.signal;
        router.rpc(method, implementationOf(impl, service, method), { shutdownSignal });
      }
    }
  }

  private async shutdown(graceMs: number): Promise<void> {
    // A listen() under way finishes first; its failure is reported to its own caller.
    if (this.currentState === 'starting') await this.starting?.catch(() => undefined);
    this.health.shutdown();
    if (this.currentState !== 'listening') {
      this.currentState = 'closed';
      return;
    }
    this.currentState = 'closing';
    this.streamStop.abort(new ConnectError(SHUTTING_DOWN, Code.Unavailable));
    const closed = this.closeListeners();
    for (const session of this.sessions) session.close();
    const httpServer = this.httpServer;
    httpServer?.closeIdleConnections();
    if (httpServer) for (const res of this.responses) endKeepAlive(httpServer, res);
    const timer = setTimeout(() => this.cutConnections(), graceMs);
    try {
      await closed;
    } finally {
      clearTimeout(timer);
      this.currentState = 'closed';
    }
  }

  // The grace period is over: tell unary handlers, then drop every connection.
  // Dropping the TCP connection (rather than resetting each HTTP/2 stream)
  // is what grpc-go does on Stop(): clients read it as UNAVAILABLE and retry.
  private cutConnections(): void {
    this.unaryStop.abort(new ConnectError(SHUTTING_DOWN, Code.Unavailable));
    for (const socket of this.sockets) socket.destroy();
  }

  // Resolves once each listening server has stopped and its connections ended.
  private async closeListeners(): Promise<void> {
    const servers = [this.grpcServer, this.httpServer].filter((s) => s?.listening);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s?.close(() => resolve()))));
  }
}

const builtInServices: DescService[] = [reflectionV1.ServerReflection, reflectionV1alpha.ServerReflection, healthV1.Health];
const builtInServiceNames = new Set(builtInServices.map((s) => s.typeName));

// HTTP/1.1 keep-alive would hold shutdown up: a response not yet started says
// "Connection: close"; one under way has its connection closed once it ends.
function endKeepAlive(server: http.Server, res: http.ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  else res.once('finish', () => setImmediate(() => server.closeIdleConnections()));
}

function createGrpcServer(
  tls: TlsMaterial | undefined,
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): http2.Http2Server | http2.Http2SecureServer {
  if (!tls) return http2.createServer({}, handler);
  try {
    return http2.createSecureServer(
      {
        cert: tls.cert,
        key: tls.key,
        ca: tls.clientCa,
        requestCert: tls.clientCa !== undefined,
        rejectUnauthorized: tls.clientCa !== undefined,
        ALPNProtocols: ['h2'],
        allowHTTP1: false,
      },
      handler,
    );
  } catch (error) {
    throw new Error(`the TLS certificate, key or client CA is not usable: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function bind(server: http.Server | http2.Http2Server, address: ListenAddress, name: ListenerName): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(toListenError(name, address, error));
    };
    const onListening = () => {
      server.off('error', onError);
      const bound = server.address() as AddressInfo;
      resolve({ host: bound.address, port: bound.port });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    try {
      server.listen(address.port, address.host);
    } catch (error) {
      // A malformed port throws synchronously instead of emitting "error".
      server.off('error', onError);
      server.off('listening', onListening);
      reject(toListenError(name, address, error));
    }
  });
}

// Class instances (Nest providers) keep their methods on the prototype: bind
// them so `this` still works when Connect calls them.
function implementationOf(impl: object, service: DescService, method: DescMethod): MethodImpl<DescMethod> {
  const fn: unknown = (impl as Record<string, unknown>)[method.localName];
  if (typeof fn === 'function') return fn.bind(impl) as MethodImpl<DescMethod>;
  const message = `${service.typeName}.${method.name} is not implemented`;
  return (() => {
    throw new ConnectError(message, Code.Unimplemented);
  }) as MethodImpl<DescMethod>;
}
