/** Why the capture could not start or run; `message` is one sentence a user can act on. */
export type KernelCaptureErrorCode =
  | 'NOT_PERMITTED'
  | 'NO_BTF'
  | 'KERNEL_TOO_OLD'
  | 'OBJECT_MISSING'
  | 'ADDON_MISSING'
  | 'OBJECT_INVALID'
  | 'BAD_ENDPOINT'
  | 'BAD_OPTION'
  | 'LOAD_FAILED'
  | 'ATTACH_FAILED'
  | 'CLOSED'
  | 'SNAPSHOT_FAILED';

/** An error of the kernel capture, with a stable code and, when the kernel said more, its log in `details`. */
export class KernelCaptureError extends Error {
  override readonly name = 'KernelCaptureError';
  constructor(
    readonly code: KernelCaptureErrorCode,
    message: string,
    readonly details?: string,
  ) {
    super(message);
  }
}
