// The TypeScript decoder's offsets against the C struct, read from the
// compiled object's BTF (Tetragon's alignchecker idea): a field moved on one
// side only fails here.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { ENDPOINT_SIZE } from './endpoint.js';
import { DEFAULT_OBJECT_PATH } from './native.js';
import { RECORD_LAYOUT, RECORD_SIZE } from './record.js';

interface BtfMember {
  name: string;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  members?: BtfMember[];
}

function objectStructs(): Map<string, BtfType> {
  if (!existsSync(DEFAULT_OBJECT_PATH))
    throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run "npm run build -w @tcpstate/kernel" first`);
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', DEFAULT_OBJECT_PATH, 'format', 'raw', '-j'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const types = (JSON.parse(json) as { types: BtfType[] }).types;
  return new Map(types.filter((t) => t.kind === 'STRUCT' && t.name).map((t) => [t.name!, t]));
}

// C member path -> decoder field.
const FIELDS: Record<string, keyof typeof RECORD_LAYOUT> = {
  'header.kind': 'kind',
  'header.version': 'version',
  'header.size': 'size',
  'header.ktime_ns': 'ktimeNs',
  cookie: 'cookie',
  time_in_old_state_ns: 'timeInOldStateNs',
  uncertainty_ns: 'uncertaintyNs',
  cgroup_id: 'cgroupId',
  local_addr: 'localAddr',
  remote_addr: 'remoteAddr',
  netns: 'netns',
  pid: 'pid',
  local_port: 'localPort',
  remote_port: 'remotePort',
  family: 'family',
  old_state: 'oldState',
  new_state: 'newState',
  side: 'side',
  observed_by: 'observedBy',
  flags: 'flags',
  comm: 'comm',
};

describe('record layout', () => {
  const structs = objectStructs();

  it('has the size the decoder assumes', () => {
    expect(structs.get('tcpstate_record')?.size).toBe(RECORD_SIZE);
    expect(structs.get('tcpstate_endpoint')?.size).toBe(ENDPOINT_SIZE);
  });

  it('has every field where the decoder reads it', () => {
    const record = structs.get('tcpstate_record')!;
    const header = structs.get('tcpstate_header')!;
    const offsets = new Map<string, number>();
    for (const m of record.members!) offsets.set(m.name, m.bits_offset / 8);
    const headerBase = offsets.get('header')!;
    for (const m of header.members!) offsets.set(`header.${m.name}`, headerBase + m.bits_offset / 8);
    const actual = Object.fromEntries(Object.entries(FIELDS).map(([c, ts]) => [ts, offsets.get(c)]));
    expect(actual).toEqual(RECORD_LAYOUT);
  });

  it('keys endpoints with the port after 16 address bytes', () => {
    const endpoint = structs.get('tcpstate_endpoint')!;
    expect(endpoint.members!.map((m) => [m.name, m.bits_offset / 8])).toEqual([
      ['addr', 0],
      ['port', 16],
      ['pad', 18],
    ]);
  });
});
