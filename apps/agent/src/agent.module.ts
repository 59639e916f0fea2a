import { type DynamicModule, Module } from '@nestjs/common';
import { RpcModule } from '@tcpstate/rpc';
import type { AgentOptions } from './agent-options.js';
import { AgentServiceImpl } from './agent.service.js';
import { HOST_INFO, readHostInfo } from './host-info.js';
import { AGENT_OPTIONS } from './tokens.js';

/** The agent: kernel capture, event hub and AgentService, served by RpcModule. */
@Module({})
export class AgentModule {
  static forRoot(options: AgentOptions): DynamicModule {
    return {
      module: AgentModule,
      imports: [
        RpcModule.forRoot({
          grpcListen: options.grpcListen,
          httpListen: options.httpListen,
          tls: options.tlsCert && options.tlsKey ? { cert: options.tlsCert, key: options.tlsKey, clientCa: options.tlsClientCa } : undefined,
        }),
      ],
      providers: [
        { provide: AGENT_OPTIONS, useValue: options },
        { provide: HOST_INFO, useValue: readHostInfo(options.agentId) },
        AgentServiceImpl,
      ],
    };
  }
}
