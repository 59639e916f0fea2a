import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, run } from '@tcpstate/testbed';

/** Generates the Python client code from proto/ into a fresh directory and returns it. */
export async function generatePythonClient(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'tcpstate-py-'));
  const protos = ['tcpstate/v1/tcp.proto', 'tcpstate/v1/agent.proto', 'tcpstate/v1/collector.proto'];
  const r = await run('protoc', [
    `-I${repoRoot}proto`,
    '-I/usr/include',
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    '--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin',
    ...protos,
  ]);
  if (r.code !== 0) throw new Error(`protoc failed: ${r.stderr}`);
  return out;
}

/** Runs test/interop/python/client.py with Debian's python3 (which has python3-grpcio). */
export async function pythonClient(genDir: string, address: string, ...args: string[]) {
  return run('/usr/bin/python3', [`${repoRoot}test/interop/python/client.py`, genDir, address, ...args]);
}
