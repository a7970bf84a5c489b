import { describe, expect, it } from 'vitest';
import * as errors from '../../lib/base/errors.js';
import { ERROR_CODES, GpubenchError, InternalError, fromNative } from '../../lib/base/errors.js';

const classOf: Record<string, new (m: string) => GpubenchError> = {
  ERR_INVALID_ARGUMENT: errors.InvalidArgumentError,
  ERR_INVALID_CONFIG: errors.InvalidConfigError,
  ERR_DOES_NOT_FIT: errors.DoesNotFitError,
  ERR_OUT_OF_MEMORY: errors.OutOfMemoryError,
  ERR_TIMEOUT: errors.TimeoutError,
  ERR_ABORTED: errors.AbortError,
  ERR_WEIGHTS: errors.WeightsError,
  ERR_DEVICE: errors.DeviceError,
  ERR_INTERNAL: errors.InternalError,
};

describe('error classes', () => {
  it.each(ERROR_CODES)('%s has its class, name and code', (code) => {
    const Cls = classOf[code]!;
    const e = new Cls('boom');
    expect(e).toBeInstanceOf(GpubenchError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(code);
    expect(e.name).toBe(Cls.name);
    expect(e.message).toBe('boom');
  });

  it('keeps field and allowed', () => {
    const e = new errors.InvalidArgumentError('x: bad', { field: 'x', allowed: 'y' });
    expect(e.field).toBe('x');
    expect(e.allowed).toBe('y');
  });
});

describe('fromNative', () => {
  it.each(ERROR_CODES)('maps a plain Error with code %s to its class, keeping the message', (code) => {
    const native = Object.assign(new Error(`native says ${code}`), { code });
    const e = fromNative(native);
    expect(e).toBeInstanceOf(classOf[code]!);
    expect(e.code).toBe(code);
    expect(e.message).toBe(`native says ${code}`);
    expect(e.cause).toBe(native);
  });

  it('passes a GpubenchError through', () => {
    const e = new errors.TimeoutError('t');
    expect(fromNative(e)).toBe(e);
  });

  it('makes anything else an InternalError', () => {
    expect(fromNative(Object.assign(new Error('x'), { code: 'EFOO' }))).toBeInstanceOf(InternalError);
    expect(fromNative(new TypeError('y')).message).toBe('y');
    expect(fromNative('str').message).toBe('str');
    expect(fromNative(42)).toBeInstanceOf(InternalError);
  });
});
