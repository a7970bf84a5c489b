// Shared by the config tests: normalizeConfig must reject `config` with a one-line InvalidConfigError.
import { expect } from 'vitest';
import { InvalidConfigError } from '../../lib/base/errors.js';
import { normalizeConfig } from '../../lib/model/model-spec.js';

export function configError(config: object): InvalidConfigError {
  try {
    normalizeConfig(config);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidConfigError);
    expect((e as Error).message).not.toContain('\n');
    return e as InvalidConfigError;
  }
  throw new Error('expected an InvalidConfigError');
}
