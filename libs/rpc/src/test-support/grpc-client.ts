import * as grpc from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { formatListenAddress, type ListenAddress } from '../listen-address.js';

/** A grpc-js (the reference implementation) client with no generated code: messages go through protobuf-es. */
export function grpcClient(
  address: ListenAddress,
  credentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): grpc.Client {
  return new grpc.Client(formatListenAddress(address), credentials, options);
}

function serializers<I extends DescMessage, O extends DescMessage>(input: I, output: O) {
  return {
    serialize: (message: MessageShape<I>) => Buffer.from(toBinary(input, message)),
    deserialize: (bytes: Buffer) => fromBinary(output, bytes),
  };
}

/** A unary call; rejects with the grpc-js ServiceError. */
export function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  request: MessageShape<I>,
): Promise<MessageShape<O>> {
  const { serialize, deserialize } = serializers(input, output);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, serialize, deserialize, request, (error, response) =>
      error ? reject(error) : resolve(response as MessageShape<O>),
    );
  });
}

/** Sends `requests`, half-closes, and collects every response until the stream ends. */
export function bidiAll<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  requests: MessageShape<I>[],
): Promise<MessageShape<O>[]> {
  const { serialize, deserialize } = serializers(input, output);
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(path, serialize, deserialize);
    const responses: MessageShape<O>[] = [];
    call.on('data', (message: MessageShape<O>) => responses.push(message));
    call.on('error', reject);
    call.on('end', () => resolve(responses));
    for (const request of requests) call.write(request);
    call.end();
  });
}

/** A server stream whose messages and end arrive through callbacks the test awaits. */
export function serverStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  request: MessageShape<I>,
) {
  const { serialize, deserialize } = serializers(input, output);
  const call = client.makeServerStreamRequest(path, serialize, deserialize, request);
  const received: MessageShape<O>[] = [];
  const waiters: (() => void)[] = [];
  call.on('data', (message: MessageShape<O>) => {
    received.push(message);
    waiters.splice(0).forEach((wake) => wake());
  });
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  // The status event reports the outcome; the error event would otherwise be unhandled.
  call.on('error', () => undefined);
  return {
    call,
    received,
    /** Resolves once `n` messages have arrived. */
    async receivedAtLeast(n: number): Promise<void> {
      while (received.length < n) await new Promise<void>((wake) => waiters.push(wake));
    },
    /** The final status (code and details). */
    ended,
  };
}
