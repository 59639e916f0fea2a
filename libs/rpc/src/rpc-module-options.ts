import type { InjectionToken, ModuleMetadata, OptionalFactoryDependency } from '@nestjs/common';
import type { ConnectServerOptions } from './connect-server.js';

/** RpcModule settings: where to listen, TLS, and how long shutdown waits for calls. */
export interface RpcModuleOptions extends ConnectServerOptions {
  /** How long `app.close()` lets unary calls finish before cutting connections (default 10 s). */
  graceMs?: number;
}

/** `RpcModule.forRootAsync()` settings: a factory for RpcModuleOptions with its dependencies. */
export interface RpcModuleAsyncOptions {
  /** Modules exporting the factory's dependencies. */
  imports?: ModuleMetadata['imports'];
  /** Tokens passed to `useFactory`, in order. */
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...args: never[]) => RpcModuleOptions | Promise<RpcModuleOptions>;
}
