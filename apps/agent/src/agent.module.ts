import { type DynamicModule, Module } from '@nestjs/common';
import { RpcModule } from '@tcpstate/rpc';
import type { AgentOptions } from './agent-options.js';
import { AgentMetrics } from './agent-metrics.js';
import { AgentServiceImpl } from './agent.service.js';
import { CaptureService } from './capture/capture.service.js';
import { HOST_INFO, type HostInfo, readHostInfo } from './host-info.js';
import { EventHub } from './hub/index.js';
import { AGENT_OPTIONS } from './tokens.js';

/**
 * The agent: kernel capture -> event hub -> AgentService, served by RpcModule.
 * Shutdown order: RpcModule stops serving first (onModuleDestroy), then the
 * capture detaches from the kernel (onApplicationShutdown).
 */
@Module({})
export class AgentModule {
  static forRoot(options: AgentOptions): DynamicModule {
    const host = readHostInfo(options.agentId, options.hostname);
    return {
      module: AgentModule,
      imports: [
        RpcModule.forRoot({
          grpcListen: options.grpcListen,
          httpListen: options.httpListen,
          compression: options.compression === 'gzip',
          tls: options.tlsCert && options.tlsKey ? { cert: options.tlsCert, key: options.tlsKey, clientCa: options.tlsClientCa } : undefined,
        }),
      ],
      providers: [
        { provide: AGENT_OPTIONS, useValue: options },
        { provide: HOST_INFO, useValue: host },
        {
          provide: EventHub,
          useFactory: (h: HostInfo) =>
            new EventHub({
              agentId: h.agentId,
              bootId: h.bootId,
              replayMaxEvents: options.replayEvents,
              replayMaxBytes: options.replayBytes,
              subscriberQueueMax: options.queueEvents,
              heartbeatIntervalMs: options.heartbeat,
            }),
          inject: [HOST_INFO],
        },
        CaptureService,
        AgentMetrics,
        AgentServiceImpl,
      ],
    };
  }
}
