import { create, toBinary, type DescFile } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { reflectionV1, reflectionV1alpha } from '@tcpstate/proto';
import type { DescriptorIndex } from './descriptor-index.js';

// v1 and v1alpha are the same protocol under two package names: one core
// answers both, over the request fields they share.
type ReflectionRequest = reflectionV1.ServerReflectionRequest | reflectionV1alpha.ServerReflectionRequest;

type ReflectionAnswer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

/** grpc.reflection.v1.ServerReflection over the given descriptors. */
export function createReflectionV1Service(index: DescriptorIndex): ServiceImpl<typeof reflectionV1.ServerReflection> {
  return {
    async *serverReflectionInfo(requests, context) {
      for await (const request of untilAborted(requests, context)) {
        yield create(reflectionV1.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(index, request),
        });
      }
    },
  };
}

/** grpc.reflection.v1alpha.ServerReflection (what grpcurl asks) over the given descriptors. */
export function createReflectionV1alphaService(
  index: DescriptorIndex,
): ServiceImpl<typeof reflectionV1alpha.ServerReflection> {
  return {
    async *serverReflectionInfo(requests, context) {
      for await (const request of untilAborted(requests, context)) {
        yield create(reflectionV1alpha.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer(index, request),
        });
      }
    },
  };
}

/** The answer to one reflection request. */
export function answer(index: DescriptorIndex, request: ReflectionRequest): ReflectionAnswer {
  const req = request.messageRequest;
  switch (req.case) {
    case 'listServices':
      return { case: 'listServicesResponse', value: { service: index.services().map((name) => ({ name })) } };
    case 'fileByFilename':
      return files(index, index.fileByName(req.value), `file "${req.value}" not found`);
    case 'fileContainingSymbol':
      return files(index, index.fileContainingSymbol(req.value), `symbol "${req.value}" not found`);
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = req.value;
      return files(
        index,
        index.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of "${containingType}" not found`,
      );
    }
    case 'allExtensionNumbersOfType': {
      const numbers = index.extensionNumbers(req.value);
      if (numbers === undefined) return notFound(`message type "${req.value}" not found`);
      return { case: 'allExtensionNumbersResponse', value: { baseTypeName: req.value, extensionNumber: numbers } };
    }
    default:
      return { case: 'errorResponse', value: { errorCode: Code.InvalidArgument, errorMessage: 'empty request' } };
  }
}

function files(index: DescriptorIndex, file: DescFile | undefined, missing: string): ReflectionAnswer {
  if (!file) return notFound(missing);
  const fileDescriptorProto = index.withDependencies(file).map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
  return { case: 'fileDescriptorResponse', value: { fileDescriptorProto } };
}

function notFound(errorMessage: string): ReflectionAnswer {
  return { case: 'errorResponse', value: { errorCode: Code.NotFound, errorMessage } };
}

/**
 * The request stream, ending early when the call's signal aborts (server
 * shutdown): a client that never half-closes must not hold shutdown up.
 */
async function* untilAborted<T>(source: AsyncIterable<T>, context: HandlerContext): AsyncGenerator<T> {
  const { signal } = context;
  const it = source[Symbol.asyncIterator]();
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) resolve('aborted');
    signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  for (;;) {
    const next = await Promise.race([it.next(), aborted]);
    if (next === 'aborted' || next.done) return;
    yield next.value;
  }
}
