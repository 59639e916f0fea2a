/**
 * @tcpstate/kernel: the eBPF capture of every TCP state transition.
 * See docs/kernel.md for the record layout, strategies and observations.
 */
export {
  KernelCapture,
  normalizeOptions,
  type BatchClock,
  type CaptureOptions,
  type KernelEvent,
  type RecordBatch,
  type SocketNow,
} from './kernel-capture.js';
export { KernelCaptureError, type KernelCaptureErrorCode } from './kernel-capture-error.js';
export {
  climbDownLadder,
  TIME_WAIT_LADDER,
  TIME_WAIT_STRATEGY_PROGRAMS,
  type StrategyReport,
  type TimeWaitStrategy,
} from './strategy-ladder.js';
export { monotonicToWallClock, wallClockOffsetNs } from './clock.js';
export { decodeRecord, decodeRecords, formatAddress, RECORD_LAYOUT, RECORD_SIZE, RecordFlag, RecordKind, type RawRecord } from './record.js';
export { parseServerEndpoint, packEndpoints, type ServerEndpoint } from './endpoint.js';
export { hasBpfCapabilities, kernelAtLeast, MINIMUM_KERNEL } from './preflight.js';
