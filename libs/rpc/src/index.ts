/**
 * @tcpstate/rpc: serving Connect services from a NestJS app (or on their own).
 *
 * - `ConnectServer`: gRPC over HTTP/2 (h2c, TLS, mTLS) on one port; Connect and
 *   gRPC-Web over HTTP/1.1 plus `/healthz` and Prometheus `/metrics` on
 *   another; server reflection (v1 and v1alpha) and grpc.health.v1 built in;
 *   graceful `close()`.
 * - `RpcModule` + `@RpcService(Service)`: the same inside Nest, providers as
 *   implementations, started at bootstrap and closed first on shutdown.
 */
export {
  ConnectServer,
  DEFAULT_GRACE_MS,
  serviceRegistration,
  type ConnectServerOptions,
  type ConnectServerState,
  type ServiceRegistration,
} from './connect-server.js';
export { formatListenAddress, type ListenAddress } from './listen-address.js';
export { ListenError, type ListenerName } from './listen-error.js';
export type { TlsOptions } from './tls.js';
export { HealthState, OVERALL_HEALTH, ServingStatus, createHealthService } from './health.js';
export { DescriptorIndex } from './descriptor-index.js';
export { createReflectionV1Service, createReflectionV1alphaService } from './reflection.js';
export { RPC_REQUESTS_TOTAL, grpcCodeName } from './metrics.js';
export { RpcModule } from './rpc.module.js';
export type { RpcModuleAsyncOptions, RpcModuleOptions } from './rpc-module-options.js';
export { RpcService } from './rpc-service.decorator.js';
export { RPC_HEALTH, RPC_METRICS_REGISTRY, RPC_OPTIONS, RPC_SERVER } from './rpc.tokens.js';
