// The library's plain data → what the addon reads: a ModelSpec (lib/model/) less its name, deep-copied
// so the addon never shares objects with the caller; a routing policy's text parsed into its parts.
import { InvalidArgumentError } from '../base/errors.js';
import type { ModelSpec } from '../model/model-spec.js';
import { MOE_ROUTING_ALLOWED, parseMoeRouting } from '../model/moe-routing.js';
import type { NativeModelSpec, NativeMoeRouting } from './native.js';

export function toNative(spec: ModelSpec): NativeModelSpec {
  const { name: _name, ...native } = spec;
  return structuredClone(native);
}

/** The routing policy `text` names, for the addon; a text that names none is a bad `moeRouting`. */
export function routingToNative(text: string): NativeMoeRouting {
  const routing = parseMoeRouting(text);
  if (!routing) {
    throw new InvalidArgumentError(`moeRouting: ${JSON.stringify(text)} is not allowed (allowed: ${MOE_ROUTING_ALLOWED})`, {
      field: 'moeRouting',
      allowed: MOE_ROUTING_ALLOWED,
    });
  }
  return { ...routing, text };
}
