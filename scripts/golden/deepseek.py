"""DeepSeek-V2 and DeepSeek-V3 golden fixtures: tiny MLA + MoE configs, and a reference of
DeepSeek-V3's multi-token-prediction (MTP) module, which transformers' DeepseekV3ForCausalLM does not
run. make_fixtures.py registers the builders; see README.md for what the "mtp" section holds.

The MTP module of depth 1 (DeepSeek-V3 technical report, section 2.2), as checkpoints store it at
layer index num_hidden_layers (model.layers.61 in DeepSeek-V3) and as serving engines run it:
    h'_i   = eh_proj([enorm(Emb(t_{i+1})) ; hnorm(h_i)])     (embedding first: the checkpoints' order)
    h''_i  = TransformerBlock(h')_i                          (its own MLA + MoE decoder layer, causal)
    logits = lm_head(shared_head.norm(h''_i))                (predicts t_{i+2})
h_i is the main model's last decoder-layer output at position i, before the final norm. The report
writes the concatenation as [RMSNorm(h) ; RMSNorm(Emb)], but eh_proj.weight in the released
checkpoints takes the embedding half first (vLLM, SGLang and transformers' MtpLayer all concatenate
[enorm(e), hnorm(h)]), and the fixture must load like a real checkpoint.
"""
from __future__ import annotations

import math
import tempfile

import torch
from torch import nn
from transformers import AutoConfig

MTP_SEED = 1  # the MTP tensors are drawn after the main model's, from their own seed
SIG_DIGITS = 7

# Shared by both fixtures. Every MLA width differs from the others (kv_lora 32, q_lora 48, qk_nope 16,
# qk_rope 8, v 12; real checkpoints have qk_nope == v), so a swapped one cannot go unnoticed.
SHAPES = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=96,      # the dense MLP of the first_k_dense_replace layers
    moe_intermediate_size=32,  # each routed expert; the shared expert is n_shared_experts times this
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=4,     # MLA expands keys and values per head; transformers' V3 default is 128
    kv_lora_rank=32,
    qk_nope_head_dim=16,
    qk_rope_head_dim=8,
    v_head_dim=12,
    n_routed_experts=8,
    num_experts_per_tok=2,
    n_shared_experts=1,
    first_k_dense_replace=1,   # layer 0 dense, layers 1 and 2 MoE
    moe_layer_freq=1,
    max_position_embeddings=2560,  # original_max_position_embeddings (64) times the yarn factor, as DeepSeek's
    rms_norm_eps=1e-6,
    hidden_act="silu",
    tie_word_embeddings=False,
    attention_bias=False,
)


def yarn(mscale: float, mscale_all_dim: float) -> dict:
    # With qk_rope_head_dim 8 and original_max_position_embeddings 64, yarn's ramp keeps pair 0,
    # blends pair 1 and divides pairs 2 and 3 by `factor`, so every branch shows at 16 positions.
    # mscale_all_dim multiplies the softmax scale by (0.1 ln(40) mscale_all_dim + 1)^2; cos and sin
    # by the ratio of the two mscales (1 when they are equal, as in DeepSeek-V3).
    return {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0, "original_max_position_embeddings": 64,
            "beta_fast": 32.0, "beta_slow": 1.0, "mscale": mscale, "mscale_all_dim": mscale_all_dim}


def deepseek_v2_config():
    # DeepSeek-V2: q projected directly (q_lora_rank None, as V2-Lite); the 236B model's router: softmax,
    # group-limited greedy (the top 2 of the group holding the best expert, which differs from a
    # plain top-2 for half the tokens), no renormalization, routed_scaling_factor 16, and 2 shared
    # experts.
    return AutoConfig.for_model("deepseek_v2", **dict(SHAPES, n_shared_experts=2), q_lora_rank=None,
                                scoring_func="softmax", topk_method="group_limited_greedy", n_group=2, topk_group=1,
                                norm_topk_prob=False, routed_scaling_factor=16.0, rope_parameters=yarn(0.707, 1.0))


def deepseek_v3_config():
    # DeepSeek-V3: q through a LoRA (q_a_proj, q_a_layernorm, q_b_proj), sigmoid router with noaux_tc
    # (the best of 2 groups by the sum of its top-2 biased scores, then the top 2 in it), renormalized
    # top-k, one MTP layer. make_fixtures.reinitialize gives e_score_correction_bias random values,
    # which change the selection of nearly half the tokens.
    return AutoConfig.for_model("deepseek_v3", **SHAPES, q_lora_rank=48, scoring_func="sigmoid",
                                topk_method="noaux_tc", n_group=2, topk_group=1, norm_topk_prob=True,
                                routed_scaling_factor=2.5, num_nextn_predict_layers=1, rope_interleave=True,
                                rope_parameters=yarn(1.0, 1.0))


# ---- the MTP module ---------------------------------------------------------------------------------

def add_mtp_layer(model: nn.Module, init) -> nn.Module:
    """Appends the MTP module to model.model.layers as layer num_hidden_layers: a decoder layer of the
    main model's class (MoE, as its index is past first_k_dense_replace) plus enorm, hnorm, eh_proj and
    shared_head.norm, so that save_pretrained writes model.layers.{N}.* under the checkpoint's names
    (experts split per expert). The main forward runs only layers[:num_hidden_layers]. The lm_head is
    shared: like transformers' MtpModel, the fixture stores no shared_head.head copy."""
    config = model.config
    hidden, eps = config.hidden_size, config.rms_norm_eps
    norm_cls = type(model.model.norm)
    layer = type(model.model.layers[0])(config, config.num_hidden_layers)
    layer.enorm = norm_cls(hidden, eps=eps)
    layer.hnorm = norm_cls(hidden, eps=eps)
    layer.eh_proj = nn.Linear(2 * hidden, hidden, bias=False)
    layer.shared_head = nn.Module()
    layer.shared_head.norm = norm_cls(hidden, eps=eps)
    torch.manual_seed(MTP_SEED)
    init(layer)
    model.model.layers.append(layer)
    # transformers knows DeepSeek-V3's MTP weights by their layer index, 61; tell it ours, so that
    # loading the fixture skips them quietly and MtpModel.from_pretrained finds them.
    type(model)._keys_to_ignore_on_load_unexpected = [rf"model\.layers\.{config.num_hidden_layers}\..*"]
    return layer


@torch.no_grad()
def last_hidden(model: nn.Module, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of the final norm (h_L, [S, hidden]) and the logits of a full forward over ids."""
    seen = []
    hook = model.model.norm.register_forward_pre_hook(lambda _m, args: seen.append(args[0][0].clone()))
    try:
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    finally:
        hook.remove()
    return seen[0], logits


@torch.no_grad()
def mtp_forward(model: nn.Module, layer: nn.Module, hidden: torch.Tensor, next_ids: list[int]) -> torch.Tensor:
    """MTP logits [S, vocab] for rows i = (h_i, t_{i+1}), causal over the rows. Row i sits at position
    i + 1, the position of its token (as transformers' MtpModel; engines that use i get the same
    scores, since rotary attention depends only on position differences)."""
    S = hidden.shape[0]
    emb = model.model.embed_tokens(torch.tensor([next_ids]))
    x = layer.eh_proj(torch.cat([layer.enorm(emb), layer.hnorm(hidden[None])], dim=-1))
    positions = torch.arange(1, S + 1)[None]
    mask = torch.full((S, S), float("-inf")).triu(1)[None, None]
    x = layer(x, attention_mask=mask, position_ids=positions,
              position_embeddings=model.model.rotary_emb(x, position_ids=positions))
    return model.lm_head(layer.shared_head.norm(x))[0]


@torch.no_grad()
def transformers_mtp(model: nn.Module, hidden: torch.Tensor, next_ids: list[int]) -> torch.Tensor | None:
    """The same logits from transformers' own MtpModel (5.x), loaded from a saved copy of the model the
    way generate(use_mtp=True) loads it: an independent check of the module and of the tensor names.
    None where this transformers has no MtpModel."""
    try:
        from transformers import AutoModelForCausalLM
        from transformers.modeling_layers import MtpModel
    except ImportError:
        return None
    S = hidden.shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        main = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager")
        mtp = MtpModel.from_pretrained(main).eval()
        emb = mtp.embed_tokens(torch.tensor([next_ids]))
        positions = torch.arange(1, S + 1)[None]
        mask = torch.full((S, S), float("-inf")).triu(1)[None, None]
        h = mtp.layers[0](emb, hidden[None], position_embeddings=mtp.rotary_emb(emb, position_ids=positions),
                          attention_mask=mask, position_ids=positions, past_key_values=None)
        return mtp.shared_head(h)[0]


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a.double() - b.double()) / torch.linalg.vector_norm(b.double()))


def rounded(rows: torch.Tensor) -> list[list[float]]:
    values = rows.tolist()
    if not all(math.isfinite(v) for row in values for v in row):
        raise ValueError("non-finite value in the MTP outputs")
    return [[float(f"{v:.{SIG_DIGITS}g}") for v in row] for row in values]


@torch.no_grad()
def add_mtp(model: nn.Module, prompt: list[int], tokens: list[int], init) -> dict:
    """make_fixtures' extend hook for deepseek_v3: adds the MTP layer (random weights, drawn by `init`)
    to the model that make_fixtures then saves, and returns expected.json's "mtp" section. With
    P = len(prompt) and the greedy tokens g_0..g_steps, the sequence s = prompt + tokens:
      hidden[i]  h_L at position i of s, i < P + steps (what the main model computes for prompt +
                 tokens[:-1]: the prefill, then one decode step per token)
      logits[k]  the MTP logits of row P - 1 + k, input (h_{P-1+k}, g_k), predicting s[P + k + 1]
      tokens[k]  their argmax: the draft an engine proposes after main step k."""
    n_layers = model.config.num_hidden_layers
    layer = add_mtp_layer(model, init)
    seq = prompt + tokens
    hidden, logits = last_hidden(model, seq[:-1])
    P, steps = len(prompt), len(tokens) - 1
    # The hook caught the right tensor: the main model's logits are the final norm and lm_head of it.
    head = model.lm_head(model.model.norm(hidden))
    if rel_l2(head, logits) > 1e-6:
        raise RuntimeError(f"deepseek MTP: the final norm's input does not give the logits ({rel_l2(head, logits):.1e})")
    mtp = mtp_forward(model, layer, hidden, seq[1:])
    theirs = transformers_mtp(model, hidden, seq[1:])
    if theirs is None:
        print("  note: this transformers has no MtpModel; the MTP reference is not cross-checked")
    elif rel_l2(mtp, theirs) > 1e-6:
        raise RuntimeError(f"deepseek MTP: the reference differs from transformers' MtpModel ({rel_l2(mtp, theirs):.1e})")
    rows = mtp[P - 1:P + steps]
    top = torch.topk(rows, 2, dim=-1).values
    print(f"  mtp: layer {n_layers}, drafts {rows.argmax(-1).tolist()}, min top-2 margin "
          f"{float((top[:, 0] - top[:, 1]).min()):.4f}, vs transformers' MtpModel "
          f"{'n/a' if theirs is None else f'{rel_l2(mtp, theirs):.1e}'}")
    return {"mtp": {
        "layer": n_layers,
        "hidden": rounded(hidden),
        "logits": rounded(rows),
        "tokens": rows.argmax(-1).tolist(),
    }}


deepseek_v3_config.extend = add_mtp

FIXTURES = {
    "deepseek_v2": deepseek_v2_config,
    "deepseek_v3": deepseek_v3_config,
}
