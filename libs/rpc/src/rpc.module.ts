import 'reflect-metadata';
import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConnectServer } from './connect-server.js';
import type { RpcModuleAsyncOptions, RpcModuleOptions } from './rpc-module-options.js';
import { RpcServerLifecycle } from './rpc-server.lifecycle.js';
import { RPC_HEALTH, RPC_METRICS_REGISTRY, RPC_OPTIONS, RPC_SERVER } from './rpc.tokens.js';

/**
 * Serves every `@RpcService` provider of the app over gRPC (HTTP/2) and
 * Connect/gRPC-Web (HTTP/1.1), with reflection, health and metrics. Global:
 * RPC_SERVER, RPC_METRICS_REGISTRY and RPC_HEALTH are injectable anywhere.
 * The server listens at application bootstrap and closes first on shutdown
 * (see RpcServerLifecycle for the order of hooks).
 */
@Module({})
export class RpcModule {
  /** Fixed options. */
  static forRoot(options: RpcModuleOptions): DynamicModule {
    return RpcModule.build([{ provide: RPC_OPTIONS, useValue: options }]);
  }

  /** Options from a factory, e.g. one that reads the app's configuration. */
  static forRootAsync(options: RpcModuleAsyncOptions): DynamicModule {
    return RpcModule.build(
      [{ provide: RPC_OPTIONS, inject: options.inject ?? [], useFactory: options.useFactory }],
      options.imports,
    );
  }

  private static build(optionsProvider: Provider[], imports: RpcModuleAsyncOptions['imports'] = []): DynamicModule {
    return {
      module: RpcModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        ...optionsProvider,
        {
          provide: RPC_SERVER,
          inject: [RPC_OPTIONS],
          useFactory: (options: RpcModuleOptions) => new ConnectServer([], options),
        },
        { provide: RPC_METRICS_REGISTRY, inject: [RPC_SERVER], useFactory: (s: ConnectServer) => s.metrics },
        { provide: RPC_HEALTH, inject: [RPC_SERVER], useFactory: (s: ConnectServer) => s.health },
        RpcServerLifecycle,
      ],
      exports: [RPC_SERVER, RPC_METRICS_REGISTRY, RPC_HEALTH, RPC_OPTIONS],
    };
  }
}
