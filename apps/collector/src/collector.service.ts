import { Code, ConnectError } from '@connectrpc/connect';
import { Injectable } from '@nestjs/common';
import { CollectorService } from '@tcpstate/proto';
import { RpcService } from '@tcpstate/rpc';

const notYet = (method: string) => new ConnectError(`${method} is not implemented yet`, Code.Unimplemented);

/** tcpstate.v1.CollectorService. Ingest and queries arrive with the collector issue. */
@Injectable()
@RpcService(CollectorService)
export class CollectorServiceImpl {
  async *watch(): AsyncIterable<never> {
    throw notYet('Watch');
  }
  async queryTimeline(): Promise<never> {
    throw notYet('QueryTimeline');
  }
  async getConnection(): Promise<never> {
    throw notYet('GetConnection');
  }
  async listHosts(): Promise<never> {
    throw notYet('ListHosts');
  }
  async getStats(): Promise<never> {
    throw notYet('GetStats');
  }
}
