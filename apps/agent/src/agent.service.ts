import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { Inject, Injectable } from '@nestjs/common';
import {
  AgentService,
  type GetStatusResponse,
  GetStatusResponseSchema,
  type ListConnectionsResponse,
  type SubscribeResponse,
} from '@tcpstate/proto';
import { RpcService } from '@tcpstate/rpc';
import { HOST_INFO, type HostInfo } from './host-info.js';
import { agentVersion } from './version.js';

/** tcpstate.v1.AgentService, as served to grpcurl, the collector and generated clients. */
@Injectable()
@RpcService(AgentService)
export class AgentServiceImpl {
  constructor(@Inject(HOST_INFO) private readonly host: HostInfo) {}

  async getStatus(): Promise<GetStatusResponse> {
    const h = this.host;
    return create(GetStatusResponseSchema, {
      agentId: h.agentId,
      hostname: h.hostname,
      bootId: h.bootId,
      kernelRelease: h.kernelRelease,
      btfAvailable: h.btfAvailable,
      nodeVersion: h.nodeVersion,
      version: agentVersion,
      started: timestampFromDate(h.started),
      uptime: durationFromMs(Date.now() - h.started.getTime()),
    });
  }

  async *subscribe(): AsyncIterable<SubscribeResponse> {
    throw new ConnectError('Subscribe is not implemented yet', Code.Unimplemented);
  }

  async listConnections(): Promise<ListConnectionsResponse> {
    throw new ConnectError('ListConnections is not implemented yet', Code.Unimplemented);
  }
}
