/** Injection token: the `ConnectServer` (listening after application bootstrap). */
export const RPC_SERVER = Symbol('RPC_SERVER');
/** Injection token: the prom-client `Registry` served on `/metrics`; register app metrics on it. */
export const RPC_METRICS_REGISTRY = Symbol('RPC_METRICS_REGISTRY');
/** Injection token: the server's `HealthState` (grpc.health.v1 and `/healthz`). */
export const RPC_HEALTH = Symbol('RPC_HEALTH');
/** Injection token: the resolved `RpcModuleOptions`. */
export const RPC_OPTIONS = Symbol('RPC_OPTIONS');
