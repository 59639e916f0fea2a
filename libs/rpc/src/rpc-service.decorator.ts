import type { DescService } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { DiscoveryService } from '@nestjs/core';

/** Discoverable metadata: the Connect service a provider implements. */
export const RpcServiceMetadata = DiscoveryService.createDecorator<DescService>();

/**
 * Marks a Nest provider as the implementation of a Connect service; RpcModule
 * finds it at bootstrap and serves it. The class is type-checked against the
 * service (methods it leaves out answer UNIMPLEMENTED). The provider must be a
 * singleton (default scope) and listed in some module's `providers`.
 *
 * ```ts
 * @RpcService(AgentService)
 * @Injectable()
 * export class AgentRpc { async getStatus() { ... } }
 * ```
 */
export function RpcService<S extends DescService>(service: S) {
  return <C extends abstract new (...args: never[]) => Partial<ServiceImpl<S>>>(target: C): void => {
    RpcServiceMetadata(service)(target);
  };
}
