import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type * as grpc from '@grpc/grpc-js';
import { reflectionV1, reflectionV1alpha } from '@tcpstate/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectServer } from './connect-server.js';
import { serviceRegistration } from './connect-server.js';
import { fixedAgentService } from './test-support/agent-status.js';
import { bidiAll, grpcClient } from './test-support/grpc-client.js';
import { loadNestingService } from './test-support/nesting-fixture.js';
import { TestServers } from './test-support/servers.js';

type Request = MessageInitShape<typeof reflectionV1.ServerReflectionRequestSchema>;
type Response = reflectionV1.ServerReflectionResponse;

const servers = new TestServers();
let server: ConnectServer;
let client: grpc.Client;

beforeAll(async () => {
  const nesting = await loadNestingService();
  server = await servers.start([fixedAgentService(), serviceRegistration(nesting, {})]);
  client = grpcClient(server.grpcAddress);
});
afterAll(async () => {
  client?.close();
  await servers.closeAll();
});

// Both protocol versions, through grpc-js. v1alpha answers are decoded with the
// v1alpha schema, then re-read as v1 (same wire format) so one set of
// expectations covers both.
const versions = {
  v1: async (requests: Request[]): Promise<Response[]> =>
    bidiAll(
      client,
      '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      reflectionV1.ServerReflectionRequestSchema,
      reflectionV1.ServerReflectionResponseSchema,
      requests.map((r) => create(reflectionV1.ServerReflectionRequestSchema, r)),
    ),
  v1alpha: async (requests: Request[]): Promise<Response[]> => {
    const answers = await bidiAll(
      client,
      '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
      reflectionV1alpha.ServerReflectionRequestSchema,
      reflectionV1alpha.ServerReflectionResponseSchema,
      requests.map((r) =>
        fromBinary(
          reflectionV1alpha.ServerReflectionRequestSchema,
          toBinary(reflectionV1.ServerReflectionRequestSchema, create(reflectionV1.ServerReflectionRequestSchema, r)),
        ),
      ),
    );
    return answers.map((a) =>
      fromBinary(
        reflectionV1.ServerReflectionResponseSchema,
        toBinary(reflectionV1alpha.ServerReflectionResponseSchema, a),
      ),
    );
  },
};

/** Names of the files in a file_descriptor_response, in order, decoded as FileDescriptorProtos. */
function fileNames(response: Response): string[] {
  expect(response.messageResponse.case).toBe('fileDescriptorResponse');
  if (response.messageResponse.case !== 'fileDescriptorResponse') return [];
  return response.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
}

const AGENT_FILES = [
  'tcpstate/v1/agent.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/timestamp.proto',
  'tcpstate/v1/tcp.proto',
];
const NESTING_FILES = ['nesting.proto', 'google/protobuf/timestamp.proto'];

describe.each(Object.entries(versions))('server reflection %s', (_version, reflect) => {
  it('lists exactly the registered services, reflection and health', async () => {
    const [response] = await reflect([{ host: 'h', messageRequest: { case: 'listServices', value: '' } }]);
    expect(response.validHost).toBe('h');
    expect(response.originalRequest?.messageRequest.case).toBe('listServices');
    expect(response.messageResponse).toEqual({
      case: 'listServicesResponse',
      value: expect.objectContaining({
        service: [
          'fixture.v1.NestingService',
          'grpc.health.v1.Health',
          'grpc.reflection.v1.ServerReflection',
          'grpc.reflection.v1alpha.ServerReflection',
          'tcpstate.v1.AgentService',
        ].map((name) => expect.objectContaining({ name })),
      }),
    });
  });

  it('finds the file of a service, a method, a message, an enum, nested types, fields and enum values', async () => {
    const symbols: [string, string[]][] = [
      ['tcpstate.v1.AgentService', AGENT_FILES],
      ['tcpstate.v1.AgentService.GetStatus', AGENT_FILES],
      ['tcpstate.v1.GetStatusResponse', AGENT_FILES],
      ['tcpstate.v1.TcpState', ['tcpstate/v1/tcp.proto', 'google/protobuf/duration.proto', 'google/protobuf/timestamp.proto']],
      ['tcpstate.v1.TCP_STATE_ESTABLISHED', ['tcpstate/v1/tcp.proto', 'google/protobuf/duration.proto', 'google/protobuf/timestamp.proto']],
      ['tcpstate.v1.StateChange.cookie', ['tcpstate/v1/tcp.proto', 'google/protobuf/duration.proto', 'google/protobuf/timestamp.proto']],
      ['fixture.v1.Outer.Inner', NESTING_FILES],
      ['fixture.v1.Outer.Inner.Color', NESTING_FILES],
      ['fixture.v1.Outer.Inner.COLOR_RED', NESTING_FILES],
      ['fixture.v1.NestingService.Echo', NESTING_FILES],
      ['fixture.v1.note', NESTING_FILES],
      ['.fixture.v1.Outer', NESTING_FILES],
      ['google.protobuf.Timestamp', ['google/protobuf/timestamp.proto']],
    ];
    const responses = await reflect(
      symbols.map(([symbol]) => ({ messageRequest: { case: 'fileContainingSymbol', value: symbol } })),
    );
    expect(responses.map(fileNames)).toEqual(symbols.map(([, files]) => files));
  });

  it('finds a file by name, with its dependencies that decode', async () => {
    const [response] = await reflect([{ messageRequest: { case: 'fileByFilename', value: 'tcpstate/v1/agent.proto' } }]);
    expect(fileNames(response)).toEqual(AGENT_FILES);
    if (response.messageResponse.case !== 'fileDescriptorResponse') return;
    const [agent, , timestamp] = response.messageResponse.value.fileDescriptorProto.map((b) =>
      fromBinary(FileDescriptorProtoSchema, b),
    );
    expect(agent.package).toBe('tcpstate.v1');
    expect(agent.dependency).toEqual(['google/protobuf/duration.proto', 'google/protobuf/timestamp.proto', 'tcpstate/v1/tcp.proto']);
    expect(agent.service.map((s) => [s.name, s.method.map((m) => m.name)])).toEqual([
      ['AgentService', ['Subscribe', 'ListConnections', 'GetStatus']],
    ]);
    expect(timestamp.messageType.map((m) => m.name)).toEqual(['Timestamp']);
  });

  it('answers extension requests', async () => {
    const responses = await reflect([
      { messageRequest: { case: 'fileContainingExtension', value: { containingType: 'fixture.v1.Outer', extensionNumber: 150 } } },
      { messageRequest: { case: 'allExtensionNumbersOfType', value: 'fixture.v1.Outer' } },
      { messageRequest: { case: 'allExtensionNumbersOfType', value: 'tcpstate.v1.StateChange' } },
    ]);
    expect(fileNames(responses[0])).toEqual(NESTING_FILES);
    expect(responses.slice(1).map((r) => r.messageResponse)).toEqual([
      {
        case: 'allExtensionNumbersResponse',
        value: expect.objectContaining({ baseTypeName: 'fixture.v1.Outer', extensionNumber: [100, 150] }),
      },
      {
        case: 'allExtensionNumbersResponse',
        value: expect.objectContaining({ baseTypeName: 'tcpstate.v1.StateChange', extensionNumber: [] }),
      },
    ]);
  });

  it('answers NOT_FOUND for what it does not know, and keeps the stream going', async () => {
    const responses = await reflect([
      { messageRequest: { case: 'fileContainingSymbol', value: 'tcpstate.v1.NoSuchThing' } },
      { messageRequest: { case: 'fileByFilename', value: 'no/such.proto' } },
      { messageRequest: { case: 'fileContainingExtension', value: { containingType: 'fixture.v1.Outer', extensionNumber: 101 } } },
      { messageRequest: { case: 'allExtensionNumbersOfType', value: 'tcpstate.v1.TcpState' } },
      { messageRequest: { case: 'fileContainingSymbol', value: 'tcpstate.v1.AgentService' } },
    ]);
    expect(responses.map((r) => r.messageResponse)).toEqual([
      { case: 'errorResponse', value: expect.objectContaining({ errorCode: 5, errorMessage: 'symbol "tcpstate.v1.NoSuchThing" not found' }) },
      { case: 'errorResponse', value: expect.objectContaining({ errorCode: 5, errorMessage: 'file "no/such.proto" not found' }) },
      { case: 'errorResponse', value: expect.objectContaining({ errorCode: 5, errorMessage: 'extension 101 of "fixture.v1.Outer" not found' }) },
      { case: 'errorResponse', value: expect.objectContaining({ errorCode: 5, errorMessage: 'message type "tcpstate.v1.TcpState" not found' }) },
      expect.objectContaining({ case: 'fileDescriptorResponse' }),
    ]);
  });
});
