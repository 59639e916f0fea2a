import { create } from '@bufbuild/protobuf';
import { AgentService, GetStatusResponseSchema, type GetStatusResponse } from '@tcpstate/proto';
import { serviceRegistration } from '../connect-server.js';

/** The fixed GetStatus answer of the test agent service. */
export const FIXED_STATUS: GetStatusResponse = create(GetStatusResponseSchema, {
  agentId: 'agent-under-test',
  hostname: 'test-host',
  nodeVersion: 'v24',
});

/** AgentService with GetStatus answering FIXED_STATUS; other methods UNIMPLEMENTED. */
export function fixedAgentService() {
  return serviceRegistration(AgentService, { getStatus: () => FIXED_STATUS });
}
