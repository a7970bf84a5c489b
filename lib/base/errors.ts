// Error classes with stable codes, as better-sqlite3 and sharp do: callers branch on `code`
// (or `instanceof`), never on message text. The codes are the names in native/base/error.h, so an
// error thrown by the addon (a plain Error with `.code`) maps onto the same class here.

export const ERROR_CODES = [
  'ERR_INVALID_ARGUMENT',
  'ERR_INVALID_CONFIG',
  'ERR_DOES_NOT_FIT',
  'ERR_OUT_OF_MEMORY',
  'ERR_TIMEOUT',
  'ERR_ABORTED',
  'ERR_WEIGHTS',
  'ERR_DEVICE',
  'ERR_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorDetails {
  /** The option or config field at fault (e.g. 'batchSizes', 'num_key_value_heads'). */
  field?: string;
  /** What the field accepts, in words (e.g. 'positive integers'). */
  allowed?: string;
  cause?: unknown;
}

export class GpubenchError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly allowed?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.name = new.target.name;
    if (details.field !== undefined) this.field = details.field;
    if (details.allowed !== undefined) this.allowed = details.allowed;
  }
}

/** A value outside what is allowed (an option, a flag, a point the backend refuses). */
export class InvalidArgumentError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_INVALID_ARGUMENT', message, details);
  }
}

/**
 * A caller's callback (onProgress, onPoint) threw. Its point was cancelled and the run stopped; the
 * callback's own error is `cause`.
 */
export class CallbackError extends InvalidArgumentError {
  constructor(callback: string, thrown: unknown) {
    const what = thrown instanceof Error ? thrown.message : String(thrown);
    super(`${callback}: the callback threw (${what.split('\n')[0]}) (allowed: a callback that returns without throwing)`, {
      field: callback,
      allowed: 'a callback that returns without throwing',
      cause: thrown,
    });
  }
}

/** A model config that cannot be run: unsupported model_type, a missing or inconsistent field. */
export class InvalidConfigError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_INVALID_CONFIG', message, details);
  }
}

/** KV pool or device memory too small for a point; refused before anything is allocated. */
export class DoesNotFitError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_DOES_NOT_FIT', message, details);
  }
}

/** An allocation failed at run time. */
export class OutOfMemoryError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_OUT_OF_MEMORY', message, details);
  }
}

/** The scheduler's batch did not fill within batchTimeoutMs. */
export class TimeoutError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_TIMEOUT', message, details);
  }
}

/**
 * Cancelled through an AbortSignal. A sweep that is aborted rejects with this error; the points it
 * finished are in `results` (they were also delivered through onPoint), a field lib/api/result.ts
 * declares, since errors sit below the results they may carry.
 */
export class AbortError extends GpubenchError {
  constructor(message = 'aborted', details?: ErrorDetails) {
    super('ERR_ABORTED', message, details);
  }
}

/** safetensors: missing tensor, wrong shape or dtype, truncated file. */
export class WeightsError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_WEIGHTS', message, details);
  }
}

/** CUDA/driver failure, or the addon itself missing or unusable. */
export class DeviceError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_DEVICE', message, details);
  }
}

/** A bug: anything the other codes do not describe. */
export class InternalError extends GpubenchError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_INTERNAL', message, details);
  }
}

const CLASSES: Record<ErrorCode, new (message: string, details?: ErrorDetails) => GpubenchError> = {
  ERR_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_INVALID_CONFIG: InvalidConfigError,
  ERR_DOES_NOT_FIT: DoesNotFitError,
  ERR_OUT_OF_MEMORY: OutOfMemoryError,
  ERR_TIMEOUT: TimeoutError,
  ERR_ABORTED: AbortError,
  ERR_WEIGHTS: WeightsError,
  ERR_DEVICE: DeviceError,
  ERR_INTERNAL: InternalError,
};

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/** Builds the subclass for a code. */
export function errorForCode(code: ErrorCode, message: string, details?: ErrorDetails): GpubenchError {
  return new CLASSES[code](message, details);
}

/**
 * Maps whatever the addon threw (a plain Error with `.code`) to its GpubenchError subclass, keeping the
 * message; the original is kept as `cause` so its native stack is not lost. A GpubenchError passes
 * through unchanged; anything without a known code becomes an InternalError.
 */
export function fromNative(e: unknown): GpubenchError {
  if (e instanceof GpubenchError) return e;
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    if (isErrorCode(code)) return errorForCode(code, e.message, { cause: e });
    return new InternalError(e.message, { cause: e });
  }
  return new InternalError(typeof e === 'string' ? e : `unexpected non-Error value thrown: ${String(e)}`);
}

/** Codes after which a sweep records the point as failed and goes on with the next one. */
export const POINT_FAILURE_CODES: readonly ErrorCode[] = [
  'ERR_DOES_NOT_FIT',
  'ERR_OUT_OF_MEMORY',
  'ERR_INVALID_ARGUMENT',
  'ERR_TIMEOUT',
];
