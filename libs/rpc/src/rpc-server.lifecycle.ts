import type { DescService } from '@bufbuild/protobuf';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { formatListenAddress } from './listen-address.js';
import type { ConnectServer } from './connect-server.js';
import type { RpcModuleOptions } from './rpc-module-options.js';
import { RpcServiceMetadata } from './rpc-service.decorator.js';
import { RPC_OPTIONS, RPC_SERVER } from './rpc.tokens.js';

/**
 * Starts the ConnectServer once the whole app is initialised and stops it first
 * on shutdown.
 *
 * Nest 11's `app.close()` runs, in order: every `onModuleDestroy`, then every
 * `beforeApplicationShutdown`, then `onApplicationShutdown`. The server closes
 * in `onModuleDestroy`, the earliest phase, so no RPC is running when the app
 * releases what handlers use (the kernel capture): apps release such resources
 * in `beforeApplicationShutdown` or `onApplicationShutdown`, never in
 * `onModuleDestroy` (whose order across modules is not ours to choose).
 */
@Injectable()
export class RpcServerLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RpcModule');

  constructor(
    @Inject(RPC_SERVER) private readonly server: ConnectServer,
    @Inject(RPC_OPTIONS) private readonly options: RpcModuleOptions,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const wrapper of this.discovery.getProviders({ metadataKey: RpcServiceMetadata.KEY })) {
      const service = this.discovery.getMetadataByDecorator(RpcServiceMetadata, wrapper) as DescService;
      if (!wrapper.isDependencyTreeStatic() || !wrapper.instance) {
        throw new Error(`${wrapper.name} implements ${service.typeName} and must be a singleton provider`);
      }
      this.server.addService({ service, impl: wrapper.instance as object });
    }
    await this.server.listen();
    this.logger.log(
      `serving gRPC on ${formatListenAddress(this.server.grpcAddress)}` +
        `${this.options.tls ? ' (TLS)' : ''}, HTTP on ${formatListenAddress(this.server.httpAddress)}`,
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.server.close(this.options.graceMs);
  }
}
