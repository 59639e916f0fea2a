import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createFileRegistry, fromBinary, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * fixture.v1.NestingService, compiled from fixtures/nesting.proto by Debian's
 * protoc (with google/protobuf/timestamp.proto from /usr/include).
 */
export async function loadNestingService(): Promise<DescService> {
  const dir = await mkdtemp(join(tmpdir(), 'tcpstate-rpc-fixture-'));
  const out = join(dir, 'nesting.binpb');
  let bytes: Buffer;
  try {
    await promisify(execFile)('protoc', [
      '-I', fixtures, '-I', '/usr/include', '--include_imports', `--descriptor_set_out=${out}`, 'nesting.proto',
    ]);
    bytes = await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const service = registry.getService('fixture.v1.NestingService');
  if (!service) throw new Error('protoc output lacks fixture.v1.NestingService');
  return service;
}
