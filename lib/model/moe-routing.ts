// The MoE routing policies (README, Mixture-of-experts models), parsed once here: the option is text
// ('balanced', 'uniform', 'zipf:<s>', 'real'); the addon receives the structured value.
//   balanced  slot i of the token × top_k list goes to expert (i + layer) mod E (equal load)
//   uniform   seeded uniform choice
//   zipf:<s>  seeded choice with a Zipf skew of exponent s > 0
//   real      the router's own choice

export type MoeRouting = { kind: 'balanced' } | { kind: 'uniform' } | { kind: 'real' } | { kind: 'zipf'; s: number };

/** In the words of the error messages. */
export const MOE_ROUTING_ALLOWED = 'balanced, uniform, zipf:<s> with s > 0, real';

/** The policy `text` names, or undefined when it names none. */
export function parseMoeRouting(text: string): MoeRouting | undefined {
  if (text === 'balanced' || text === 'uniform' || text === 'real') return { kind: text };
  const m = /^zipf:([0-9.eE+-]+)$/.exec(text);
  if (!m) return undefined;
  const s = Number(m[1]);
  return Number.isFinite(s) && s > 0 ? { kind: 'zipf', s } : undefined;
}

/** Whether `text` is a routing policy: balanced | uniform | zipf:<s> (s > 0) | real. */
export function isMoeRouting(text: string): boolean {
  return parseMoeRouting(text) !== undefined;
}
