// A stand-in for the native addon, for tests of the TypeScript side without a
// kernel: every capture it opens does nothing, unless the test says otherwise.
import type { NativeAddon, NativeCapture } from '../native.js';

/** What a test can tell the fake: probe answers, and what happens when a capture is constructed. */
export interface FakeAddonOptions {
  /** probeStrategy's answer per strategy name ('' = allowed). */
  probe?: Record<string, string>;
  /** Called with the constructor's arguments (path, strategy, ..., the records array at 9, the batch callback at 10); may throw. */
  onOpen?: (args: unknown[]) => void;
}

export function fakeAddon({ probe = {}, onOpen }: FakeAddonOptions = {}): NativeAddon {
  return {
    probeStrategy: (name) => probe[name] ?? '',
    NativeCapture: class implements NativeCapture {
      constructor(...args: unknown[]) {
        onOpen?.(args);
      }
      drops() {
        return 0n;
      }
      snapshot() {
        return new ArrayBuffer(0);
      }
      sweep() {}
      flush() {}
      close() {}
    } as unknown as NativeAddon['NativeCapture'],
  };
}
