import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { KernelCaptureError } from './kernel-capture-error.js';

/** The addon's NativeCapture (native/capture.h): positional arguments, validated again natively. */
export interface NativeCapture {
  drops(): bigint;
  snapshot(): ArrayBuffer;
  sweep(): void;
  flush(): void;
  close(): void;
}

export interface NativeAddon {
  NativeCapture: new (
    objectPath: string,
    strategy: string,
    endpoints: Uint8Array,
    ports: Uint16Array,
    netns: Uint32Array,
    ringBytes: number,
    wakeupBytes: number,
    maxLatencyMs: number,
    sweepIntervalMs: number,
    /** Filled in laps with the transition records; at least 2 x 16384 records. */
    records: ArrayBuffer,
    /** A batch: records first .. first + count - 1 of `records`. */
    onBatch: (first: number, count: number) => void,
  ) => NativeCapture;
  /** "" when the TIME_WAIT strategy can run on this kernel, else why not. */
  probeStrategy(name: string): string;
}

/** Where the build puts the addon and the BPF object (both src/ and dist/ sit beside build/). */
export const ADDON_PATH = fileURLToPath(new URL('../build/Release/tcpstate_kernel.node', import.meta.url));
export const DEFAULT_OBJECT_PATH = fileURLToPath(new URL('../build/bpf/tcpstate.bpf.o', import.meta.url));

let addon: NativeAddon | undefined;

/** Loads the addon once; a missing build is one clear error. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  if (!existsSync(ADDON_PATH))
    throw new KernelCaptureError(
      'ADDON_MISSING',
      `The tcpstate kernel addon ${ADDON_PATH} is missing: build it with "npm run build -w @tcpstate/kernel".`,
    );
  addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  return addon;
}
