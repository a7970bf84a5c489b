#!/usr/bin/env python3
"""Golden fixtures for gpubench's CPU backend, made with Hugging Face transformers.

For each tiny, randomly initialized model (no network, no downloads) this writes
test/fixtures/<name>/:

  config.json        the Hugging Face config exactly as save_pretrained writes it
                     (transformers 5 writes `rope_parameters`; gpubench reads both forms)
  model.safetensors  float32 weights under Hugging Face names, as save_pretrained writes them
                     (tied lm_head.weight dropped)
  expected.json      {"model_type", "prompt", "steps", "tokens", "logits", ...}: the float32 logits of the
                     last prompt position and of each of `steps` greedy decode steps (through the KV cache),
                     and the greedy tokens (steps + 1 of them), computed on the CPU in float32 without TF32.

Usage (on the GPU machine, which has torch and transformers; everything runs on its CPU):
  python3 scripts/golden/make_fixtures.py --out test/fixtures [--only llama]

Adding a model (MoE, MLA, ...): write a function that returns its tiny config and add it to FIXTURES.
The random re-initialization is generic over parameters (fused 3-D expert weights included) and
save_pretrained writes the checkpoint's original tensor names, which is what gpubench loads.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from typing import Callable

# Never touch the network: the models are built from configs, not downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

import deepseek  # noqa: E402  (this folder: DeepSeek-V2/V3 builders and the MTP reference)

PROMPT_LEN = 11
PROMPT_SEED = 1234
MODEL_SEED = 0
STEPS = 5
SIG_DIGITS = 7

WEIGHT_STD = 0.05  # Linear / Embedding weights ~ N(0, 0.05^2), biases too
NORM_STD = 0.1     # RMSNorm weights = 1 + N(0, 0.1^2), so norm weights matter


# ---- model configs --------------------------------------------------------------------------------

# Shapes shared by every dense fixture.
DENSE = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=256,
    rms_norm_eps=1e-6,
    hidden_act="silu",
)

# rope_theta 10000 with head_dim 16 gives wavelengths 6.3 .. 2e4 positions: over the 16 positions of a
# fixture the rotation of every frequency pair is visible in the logits.
DEFAULT_ROPE = {"rope_type": "default", "rope_theta": 10000.0}


def llama_config():
    # llama3 rope scaling. original_max_position_embeddings=64 puts the frequencies of head_dim 16 in all
    # three bands (wavelength 6.3 < 16: kept; 20 and 63 in [16, 64]: smoothed; >= 199: divided by factor),
    # so each branch of the llama3 formula changes the logits at these short positions.
    rope = {
        "rope_type": "llama3",
        "rope_theta": 10000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    return AutoConfig.for_model("llama", **DENSE, rope_parameters=rope, tie_word_embeddings=False,
                                attention_bias=False, mlp_bias=False)


def qwen2_config():
    # Qwen2: bias on q, k and v (always, in the modeling code); tied embeddings as the small Qwen2 models.
    return AutoConfig.for_model("qwen2", **DENSE, rope_parameters=dict(DEFAULT_ROPE), tie_word_embeddings=True,
                                use_sliding_window=False)


def qwen3_config():
    # Qwen3: per-head RMSNorm on q and k before RoPE; no attention bias.
    return AutoConfig.for_model("qwen3", **DENSE, rope_parameters=dict(DEFAULT_ROPE), tie_word_embeddings=False,
                                attention_bias=False, use_sliding_window=False)


def mistral_config():
    # No sliding window: the fixture's 16 positions would never reach one anyway.
    return AutoConfig.for_model("mistral", **DENSE, rope_parameters=dict(DEFAULT_ROPE), tie_word_embeddings=False,
                                sliding_window=None)


# MoE fixtures: the dense attention shapes, 3 layers, 8 experts of width 32 and top-2 routing, so
# every expert matters and each token mixes two of them.
MOE_LAYERS = dict(DENSE, num_hidden_layers=3)
MOE_EXPERTS = dict(num_experts_per_tok=2)


def mixtral_config():
    # Mixtral: the experts' width is intermediate_size; the top-2 weights are always renormalized.
    shapes = dict(MOE_LAYERS, intermediate_size=32)
    return AutoConfig.for_model("mixtral", **shapes, **MOE_EXPERTS, num_local_experts=8,
                                rope_parameters=dict(DEFAULT_ROPE), tie_word_embeddings=False, sliding_window=None)


def qwen2_moe_config():
    # Qwen2-MoE: q/k/v bias, a shared expert behind its sigmoid gate, top-k weights not renormalized;
    # mlp_only_layers=[1] makes layer 1 a dense MLP (intermediate_size 160) between two MoE layers.
    return AutoConfig.for_model("qwen2_moe", **MOE_LAYERS, **MOE_EXPERTS, num_experts=8, moe_intermediate_size=32,
                                shared_expert_intermediate_size=48, norm_topk_prob=False, decoder_sparse_step=1,
                                mlp_only_layers=[1], rope_parameters=dict(DEFAULT_ROPE), tie_word_embeddings=False,
                                use_sliding_window=False)


def qwen3_moe_config():
    # Qwen3-MoE: q/k norm, no shared expert, renormalized top-k weights; every layer MoE.
    return AutoConfig.for_model("qwen3_moe", **MOE_LAYERS, **MOE_EXPERTS, num_experts=8, moe_intermediate_size=32,
                                norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[],
                                rope_parameters=dict(DEFAULT_ROPE), tie_word_embeddings=False, attention_bias=False,
                                use_sliding_window=False)


# name -> builder of the tiny config (the DeepSeek ones come from deepseek.py, below).
FIXTURES: dict[str, Callable[[], "transformers.PreTrainedConfig"]] = {
    "llama": llama_config,
    "qwen2": qwen2_config,
    "qwen3": qwen3_config,
    "mistral": mistral_config,
    "mixtral": mixtral_config,
    "qwen2_moe": qwen2_moe_config,
    "qwen3_moe": qwen3_moe_config,
}
FIXTURES.update(deepseek.FIXTURES)


# ---- model, weights, reference run ----------------------------------------------------------------

def is_norm(module: torch.nn.Module) -> bool:
    return type(module).__name__.endswith("RMSNorm")


@torch.no_grad()
def reinitialize(model: torch.nn.Module) -> None:
    """Gives every parameter a non-trivial random value (transformers' default std 0.02 and unit norm
    weights would leave too much of the network untested). Deterministic for a fixed torch seed:
    parameters are visited in registration order, tied parameters once."""
    norm_params = set()
    for module in model.modules():
        if is_norm(module):
            for p in module.parameters(recurse=False):
                norm_params.add(id(p))
    for name, p in model.named_parameters():  # de-duplicates tied parameters
        if id(p) in norm_params:
            p.copy_(1.0 + NORM_STD * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(WEIGHT_STD * torch.randn_like(p))
        else:
            p.normal_(0.0, WEIGHT_STD)
    for name, b in model.named_buffers():  # DeepSeek-V3's router bias: zero would leave it untested
        if name.endswith("e_score_correction_bias"):
            b.copy_(WEIGHT_STD * torch.randn_like(b))


def make_model(config) -> torch.nn.Module:
    torch.manual_seed(MODEL_SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    # Seed again so the weights depend on the parameter list only, not on how this transformers
    # version's own initialization consumed the generator.
    torch.manual_seed(MODEL_SEED)
    reinitialize(model)
    model.eval()
    if getattr(config, "tie_word_embeddings", False):
        emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
        if emb.data_ptr() != head.data_ptr():
            raise RuntimeError(f"{config.model_type}: tie_word_embeddings is set but lm_head is not tied")
    return model


def make_prompt(vocab_size: int) -> list[int]:
    g = torch.Generator().manual_seed(PROMPT_SEED)
    return torch.randint(0, vocab_size, (PROMPT_LEN,), generator=g).tolist()


@torch.no_grad()
def greedy(model: torch.nn.Module, prompt: list[int], steps: int) -> tuple[list[int], list[torch.Tensor]]:
    """Prefill the prompt, then `steps` greedy decode steps through the KV cache. Returns the steps + 1
    greedy tokens and the logits (float32, [vocab]) they were taken from."""
    ids = torch.tensor([prompt], dtype=torch.long)
    out = model(input_ids=ids, use_cache=True)
    logits = [out.logits[0, -1].float().clone()]
    tokens = [int(torch.argmax(logits[-1]))]
    past = out.past_key_values
    for _ in range(steps):
        out = model(input_ids=torch.tensor([[tokens[-1]]], dtype=torch.long), past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits.append(out.logits[0, -1].float().clone())
        tokens.append(int(torch.argmax(logits[-1])))
    return tokens, logits


@torch.no_grad()
def full_sequence_logits(model: torch.nn.Module, prompt: list[int], tokens: list[int]) -> list[torch.Tensor]:
    """The same logits without a KV cache, from one forward over prompt + generated tokens."""
    ids = torch.tensor([prompt + tokens[:-1]], dtype=torch.long)
    out = model(input_ids=ids, use_cache=False)
    start = len(prompt) - 1
    return [out.logits[0, start + i].float() for i in range(len(tokens))]


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a.double() - b.double()) / torch.linalg.vector_norm(b.double()))


def round_sig(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError(f"non-finite logit {x}")
    return float(f"{x:.{SIG_DIGITS}g}")


def top2_margin(logits: torch.Tensor) -> float:
    top = torch.topk(logits, 2).values
    return float(top[0] - top[1])


@torch.no_grad()
def routing_margin(model: torch.nn.Module, prompt: list[int], tokens: list[int]) -> float | None:
    """The smallest gap, over every MoE layer and position of the fixture, between the router logits
    of the last chosen expert and the best one left out (None for a dense model). A gap near float32
    rounding could make another implementation pick another expert; the fixtures keep it large."""
    k = getattr(model.config, "num_experts_per_tok", None)
    routers = [m for m in model.modules() if type(m).__name__.lower().endswith("topkrouter")]
    if not k or not routers:
        return None
    gaps: list[float] = []

    def hook(_module, _inputs, output):
        top = torch.topk(output[0].float(), k + 1, dim=-1).values
        gaps.append(float((top[:, k - 1] - top[:, k]).min()))

    handles = [r.register_forward_hook(hook) for r in routers]
    try:
        model(input_ids=torch.tensor([prompt + tokens[:-1]], dtype=torch.long), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return min(gaps)


# ---- one fixture ----------------------------------------------------------------------------------

def make_fixture(name: str, build: Callable, out_root: str) -> str:
    config = build()
    model = make_model(config)
    prompt = make_prompt(config.vocab_size)
    tokens, logits = greedy(model, prompt, STEPS)

    # Self-checks: the cached decode agrees with a full forward, and the saved files reproduce the logits.
    full = full_sequence_logits(model, prompt, tokens)
    cache_err = max(rel_l2(a, b) for a, b in zip(logits, full))
    if cache_err > 1e-5:
        raise RuntimeError(f"{name}: KV-cache decode differs from a full forward (rel L2 {cache_err:.2e})")
    # Outputs transformers does not compute (DeepSeek-V3's MTP module): the builder's `extend` hook may
    # add modules to the model, saved with it, and returns extra expected.json fields.
    extend = getattr(build, "extend", None)
    extra = extend(model, prompt, tokens, reinitialize) if extend else {}

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        for f in ("config.json", "model.safetensors"):
            if not os.path.isfile(os.path.join(tmp, f)):
                raise RuntimeError(f"{name}: save_pretrained wrote no {f} (wrote {sorted(os.listdir(tmp))})")
            shutil.copyfile(os.path.join(tmp, f), os.path.join(out_dir, f))

    from safetensors import safe_open

    with safe_open(os.path.join(out_dir, "model.safetensors"), framework="pt") as st:
        saved = {k: st.get_slice(k).get_dtype() for k in st.keys()}
    bad = {k: d for k, d in saved.items() if d != "F32"}
    if bad:
        raise RuntimeError(f"{name}: saved tensors are not float32: {bad}")
    tied = bool(getattr(config, "tie_word_embeddings", False))
    if tied == ("lm_head.weight" in saved):
        raise RuntimeError(f"{name}: tie_word_embeddings={tied} but lm_head.weight "
                           f"{'is' if 'lm_head.weight' in saved else 'is not'} in the checkpoint")

    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager")
    reloaded.eval()
    re_tokens, re_logits = greedy(reloaded, prompt, STEPS)
    reload_err = max(rel_l2(a, b) for a, b in zip(re_logits, logits))
    if re_tokens != tokens or reload_err > 1e-6:
        raise RuntimeError(f"{name}: the saved checkpoint does not reproduce the logits "
                           f"(rel L2 {reload_err:.2e}, tokens {re_tokens} vs {tokens})")

    expected = {
        "model_type": config.model_type,
        "prompt": prompt,
        "steps": STEPS,
        "tokens": tokens,
        "logits": [[round_sig(v) for v in row.tolist()] for row in logits],
        **extra,
        "generator": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "dtype": "float32",
            "device": "cpu",
            "attn_implementation": "eager",
        },
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")

    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in ("config.json", "model.safetensors", "expected.json"))
    margin = min(top2_margin(l) for l in logits)
    route = routing_margin(model, prompt, tokens)
    routing = "" if route is None else f"  min routing margin {route:.4f}"
    n_params = sum(p.numel() for p in model.parameters())
    return (f"{name:8s} {config.model_type:8s} params {n_params:7d}  tensors {len(saved):3d}  tied {str(tied):5s}  "
            f"tokens {tokens}  min top-2 margin {margin:.4f}{routing}  kv-cache vs full {cache_err:.1e}  "
            f"{size / 1024:.0f} KiB -> {out_dir}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures", help="output folder (default: test/fixtures)")
    ap.add_argument("--only", action="append", choices=sorted(FIXTURES),
                    help="make only this fixture (repeatable; default: all)")
    args = ap.parse_args(argv)

    # Exact float32 everywhere: no TF32, no reduced-precision matmul, CPU only.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.disable_progress_bar()

    names = args.only or list(FIXTURES)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{len(names)} fixture(s) -> {args.out}")
    for name in names:
        print(make_fixture(name, FIXTURES[name], args.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
