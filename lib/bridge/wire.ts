// ModelSpec (lib/model/, plain data) → the spec the addon reads (NativeModelSpec): the same fields
// less the name, deep-copied so the addon never shares objects with the caller.
import type { ModelSpec } from '../model/model-spec.js';
import type { NativeModelSpec } from './native.js';

export function toNative(spec: ModelSpec): NativeModelSpec {
  const { name: _name, ...native } = spec;
  return structuredClone(native);
}
