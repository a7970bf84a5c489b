// Seeded random small model configs (Hugging Face config.json objects) of the llama, qwen3,
// mixtral and deepseek_v2 types, over the shapes the normalizer accepts: even head_dim from 2 up
// (the CUDA fast sizes 16/32/64/128 and the rest: 8, 24, 40, 100, ...), any GQA ratio, odd hidden,
// intermediate and vocab sizes, expert counts and top-k, and any MLA ranks with an even rope dim.
// random-configs.test.ts runs them on the CPU in CI; test/gpu/random-configs.test.ts compares the
// CUDA engine with the CPU engine on them.

/** mulberry32: a small seeded generator, so every run and machine sees the same configs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomConfig {
  name: string;
  config: Record<string, unknown>;
  /** Prompt tokens and decode steps to run it for. */
  promptLen: number;
  steps: number;
}

export const RANDOM_CONFIG_TYPES = ['llama', 'qwen3', 'mixtral', 'deepseek_v2'] as const;

/** `count` configs, cycling through RANDOM_CONFIG_TYPES, from `seed`. */
export function randomConfigs(seed: number, count: number): RandomConfig[] {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));  // in [lo, hi]
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  // Half from the sizes real checkpoints and the CUDA kernels care about, half any even size.
  const headDim = () => (r() < 0.5 ? pick([2, 8, 16, 24, 32, 40, 64, 100, 128]) : 2 * int(1, 64));
  const out: RandomConfig[] = [];
  for (let i = 0; i < count; i++) {
    const type = RANDOM_CONFIG_TYPES[i % RANDOM_CONFIG_TYPES.length]!;
    const kvHeads = int(1, 4);
    const common: Record<string, unknown> = {
      model_type: type,
      vocab_size: int(64, 1000),
      hidden_size: int(8, 160),
      intermediate_size: int(8, 200),
      num_hidden_layers: int(1, 2),
      num_attention_heads: kvHeads * int(1, 6),
      num_key_value_heads: kvHeads,
      head_dim: headDim(),
      hidden_act: 'silu',
      rms_norm_eps: 1e-6,
      rope_theta: pick([10000, 1000000]),
      max_position_embeddings: 4096,
      tie_word_embeddings: r() < 0.3,
    };
    let config: Record<string, unknown> = common;
    if (type === 'mixtral') {
      const experts = int(1, 12);
      config = { ...common, num_local_experts: experts, num_experts_per_tok: int(1, Math.min(experts, 4)) };
    } else if (type === 'deepseek_v2') {
      const experts = int(2, 16);
      const groups = pick([1, 2, 4].filter((g) => experts % g === 0));
      const topkGroup = int(1, groups);
      const real = r() < 0.2;  // DeepSeek's own head dims: qk_nope 128 + rope 64 = 192, v 128
      const mla = { ...common };  // MLA has no GQA head fields
      delete mla.head_dim;
      delete mla.num_key_value_heads;
      config = {
        ...mla,
        q_lora_rank: r() < 0.5 ? null : int(4, 64),
        kv_lora_rank: pick([24, int(1, 80)]),
        qk_nope_head_dim: real ? 128 : int(1, 48),
        qk_rope_head_dim: real ? 64 : pick([32, 2 * int(1, 20)]),
        v_head_dim: real ? 128 : int(1, 48),
        n_routed_experts: experts,
        n_shared_experts: int(0, 2),
        num_experts_per_tok: int(1, Math.min(4, topkGroup * (experts / groups))),
        moe_intermediate_size: int(4, 80),
        first_k_dense_replace: int(0, 1),
        moe_layer_freq: 1,
        scoring_func: 'softmax',
        topk_method: groups > 1 ? 'group_limited_greedy' : 'greedy',
        n_group: groups,
        topk_group: topkGroup,
        norm_topk_prob: r() < 0.5,
        routed_scaling_factor: 1.0,
      };
    }
    out.push({ name: `random-${seed}-${i}-${type}`, config, promptLen: int(3, 40), steps: 6 });
  }
  return out;
}

/** The shape of a config in one line, for test names and failure messages. */
export function describeConfig(c: Record<string, unknown>): string {
  const keys = ['hidden_size', 'intermediate_size', 'vocab_size', 'num_hidden_layers', 'num_attention_heads',
    'num_key_value_heads', 'head_dim', 'num_local_experts', 'n_routed_experts', 'num_experts_per_tok', 'q_lora_rank',
    'kv_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'v_head_dim'];
  return keys.filter((k) => c[k] != null).map((k) => `${k}=${String(c[k])}`).join(' ');
}
