import { type DynamicModule, Module } from '@nestjs/common';
import { RpcModule } from '@tcpstate/rpc';
import type { CollectorOptions } from './collector-options.js';
import { CollectorServiceImpl } from './collector.service.js';

export const COLLECTOR_OPTIONS = Symbol('CollectorOptions');

/** The collector: agent subscriptions, storage and CollectorService, served by RpcModule. */
@Module({})
export class CollectorModule {
  static forRoot(options: CollectorOptions): DynamicModule {
    return {
      module: CollectorModule,
      imports: [RpcModule.forRoot({ grpcListen: options.grpcListen, httpListen: options.httpListen })],
      providers: [{ provide: COLLECTOR_OPTIONS, useValue: options }, CollectorServiceImpl],
    };
  }
}
