/**
 * errors.ts — one error type for everything the user can fix, with a code, the input it is about
 * and the fix; exit codes for the CLI. Internal failures are plain Errors (exit 1, stack with
 * --verbose).
 */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_NATIVE_MISSING'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_TORCH'
  | 'ERR_NATIVE'
  | 'ERR_BUSY'
  | 'ERR_IO'
  | 'ERR_INPUT';

export class FtplanError extends Error {
  readonly code: ErrorCode;
  readonly fix?: string;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, opts: { fix?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FtplanError';
    this.code = code;
    this.fix = opts.fix;
    this.exitCode = opts.exitCode ?? (code === 'ERR_USAGE' || code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_INPUT' ? EXIT_USAGE : EXIT_RUNTIME);
  }
}

export function usageError(message: string, fix?: string): FtplanError {
  return new FtplanError('ERR_USAGE', message, { fix });
}

/**
 * A native call's failure as a typed error: the addon's code (ERR_INVALID_ARGUMENT, ERR_OUT_OF_MEMORY,
 * ERR_TORCH, ERR_NATIVE, ERR_BUSY) and the function that failed. Raised by the checked addon
 * (src/native.ts): arguments rejected in TS before the call, or an error the C++ side reported.
 */
export class NativeCallError extends FtplanError {
  readonly fn: string;
  constructor(code: ErrorCode, fn: string, message: string, opts: { cause?: unknown; exitCode?: number } = {}) {
    super(code, message, { ...opts, fix: fixFor(code) });
    this.name = 'NativeCallError';
    this.fn = fn;
  }
}

function fixFor(code: ErrorCode): string | undefined {
  return code === 'ERR_OUT_OF_MEMORY'
    ? 'lower --batch-size or --seq-len, use --dtype bf16, or pick a smaller --model'
    : code === 'ERR_INVALID_ARGUMENT'
      ? 'check the flags named in the message'
      : undefined;
}

export const NATIVE_CODES = new Set(['ERR_INVALID_ARGUMENT', 'ERR_OUT_OF_MEMORY', 'ERR_TORCH', 'ERR_NATIVE', 'ERR_BUSY']);

/** A rejected native promise or thrown native error -> FtplanError with the same code. */
export function fromNative(err: unknown, context: string): FtplanError {
  if (err instanceof NativeCallError) return new FtplanError(err.code, `${context}: ${err.message}`, { fix: err.fix, cause: err, exitCode: err.exitCode });
  if (err instanceof FtplanError) return err;
  const e = err as { code?: string; message?: string };
  const code = (e && typeof e.code === 'string' && NATIVE_CODES.has(e.code) ? e.code : 'ERR_NATIVE') as ErrorCode;
  return new FtplanError(code, `${context}: ${e?.message ?? String(err)}`, { fix: fixFor(code), cause: err });
}
