import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { durationMs } from '@bufbuild/protobuf/wkt';
import { type ListenAddress, formatListen } from '@tcpstate/config';
import { AgentService } from '@tcpstate/proto';
import { agentOption, type Command } from './commands.js';

/** `tcpstate status --agent HOST:PORT`: what an agent is and how it captures. */
export const statusCommand: Command = {
  name: 'status',
  summary: 'Show an agent: host, kernel, capture strategies, counters',
  options: [{ ...agentOption, default: { host: '127.0.0.1', port: 4270 } }],
  async run(values, { out }) {
    const address = values.agent as ListenAddress;
    const transport = createGrpcTransport({ baseUrl: `http://${formatListen(address)}` });
    const client = createClient(AgentService, transport);
    const s = await client.getStatus({}, { timeoutMs: 5000 });
    out(`agent      ${s.agentId} (${s.hostname}) at ${formatListen(address)}`);
    out(`version    ${s.version} on Node ${s.nodeVersion}`);
    out(`kernel     ${s.kernelRelease}, BTF ${s.btfAvailable ? 'present' : 'missing'}`);
    out(`boot id    ${s.bootId}, up ${Math.round(durationMs(s.uptime ?? { seconds: 0n, nanos: 0 } as never) / 1000)} s`);
    out(`capturing  ${s.capturing ? 'yes' : `no${s.captureError ? `: ${s.captureError}` : ''}`}`);
    for (const st of s.strategies) {
      out(`strategy   ${st.concern}: ${st.name} ${st.active ? 'ACTIVE' : `refused${st.refusedReason ? ` (${st.refusedReason})` : ''}`}`);
    }
    out(`events     ${s.eventsCaptured} captured, ${s.kernelDrops} kernel drops, ${s.subscriberDrops} subscriber drops`);
  },
};
