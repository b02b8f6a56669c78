#!/usr/bin/env python3
"""An independent reference for ftplan's native Llama-family decoders (Hugging Face model_type llama,
mistral, qwen2, qwen3): the published formulas of transformers' modeling_llama.py, modeling_mistral.py,
modeling_qwen2.py and modeling_qwen3.py (and modeling_rope_utils.py's llama3 frequencies) written out
with plain torch tensor ops in float64, reading a checkpoint folder with its own safetensors parser.
It shares no code with ftplan; runs on Debian's python3-torch (1.13), no transformers needed.

    python3 decoder_reference.py MODEL_DIR < request.json > result.json
    python3 decoder_reference.py --self-test            (internal consistency checks, JSON report)

MODEL_DIR: config.json (HF snake_case) + model.safetensors (or model.safetensors.index.json + shards),
HF tensor names, float32 / bf16 / fp16 / fp64.
request: {"task": "classification" | "causal-lm", "input_ids": [[...]] (B x T, right padded),
          "lengths": [...] (real tokens per row), "labels": [...] (classification, B) or
          "lm_labels": [[...]] (causal-lm, B x T, HF `labels`: -100 ignored, the model shifts),
          "grads": bool, "return_lm_logits": bool}
result:  {"logits": [[...]] (classification B x K; causal-lm only with return_lm_logits, B x T x V),
          "loss": number, "grads": {"<HF name>": [flat, row-major]} (with "grads": true)}

HF semantics kept on purpose (each one a place an implementation can drift):
- RMSNorm: x * rsqrt(mean(x^2) + eps) * weight; RoPE on (q, k) with rotate_half (first half / second
  half of each head, not interleaved pairs); inverse frequencies over head_dim (not hidden / heads).
- Grouped-query attention: query head h reads key/value head h // (heads / kv_heads) (repeat_kv).
- Masks: key j is visible to query i iff j <= i, j < length, and (with a window w) i - w < j. A masked
  score is finfo.min (HF's additive mask), so a query that sees nothing (a padding query outside the
  window) gets a finite uniform row instead of NaN; padding queries never reach a real position.
- qwen2/qwen3 use the window only when use_sliding_window, and then on layers >= max_window_layers
  (HF's layer_types, which config.json may also give directly); mistral on every layer; llama never.
- embed_tokens is nn.Embedding(padding_idx=pad_token_id): the pad row receives no gradient from its
  lookups (tied to lm_head it still gets the head's).
- classification: `score` (no bias) at each row's last real token (lengths - 1), mean cross-entropy.
- causal-lm: logits at t predict lm_labels at t + 1; mean cross-entropy over the targets != -100.
- No dropout (attention_dropout is 0 in these families' configs; a comparison runs deterministically).
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
FAMILIES = ("llama", "mistral", "qwen2", "qwen3")


class BadInput(Exception):
    pass


# ---------------------------------------------------------------------------------------------------
# Files


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in DTYPES:
            raise BadInput(f"{path}: tensor {name} has dtype {info['dtype']}; the reference reads {sorted(DTYPES)}")
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def read_weights(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index):
        raise BadInput(f"{model_dir}: no model.safetensors nor model.safetensors.index.json")
    out = {}
    for shard in sorted(set(json.load(open(index))["weight_map"].values())):
        out.update(read_safetensors(os.path.join(model_dir, shard)))
    return out


# ---------------------------------------------------------------------------------------------------
# config.json -> the shape, with each family's HF defaults


def parse_config(raw):
    family = raw.get("model_type")
    if family not in FAMILIES:
        raise BadInput(f"config.json: model_type {family!r} is not one of {FAMILIES}")
    if raw.get("hidden_act", "silu") != "silu":
        raise BadInput(f"config.json: hidden_act {raw['hidden_act']!r}: these families use silu")
    heads = raw["num_attention_heads"]
    kv = raw.get("num_key_value_heads") or heads
    head_dim = raw.get("head_dim") or raw["hidden_size"] // heads
    layers = raw["num_hidden_layers"]
    rope = raw.get("rope_scaling") or raw.get("rope_parameters") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "llama3"):
        raise BadInput(f"config.json: rope_type {rope_type!r}: the reference knows default and llama3")
    theta = raw.get("rope_theta", rope.get("rope_theta", 10000.0))
    if family == "mistral":
        window = raw.get("sliding_window", 4096)  # MistralConfig's default
        layer_windows = [window or 0] * layers
    elif family in ("qwen2", "qwen3"):
        window = raw.get("sliding_window", 4096) if raw.get("use_sliding_window", False) else None
        types = raw.get("layer_types") or [
            "sliding_attention" if window is not None and i >= raw.get("max_window_layers", 28) else "full_attention"
            for i in range(layers)
        ]
        layer_windows = [(window or 0) if t == "sliding_attention" else 0 for t in types]
    else:
        layer_windows = [0] * layers
    attention_bias = bool(raw.get("attention_bias", False))
    spec = dict(
        family=family,
        hidden=raw["hidden_size"],
        intermediate=raw["intermediate_size"],
        layers=layers,
        heads=heads,
        kv_heads=kv,
        head_dim=head_dim,
        eps=raw.get("rms_norm_eps", 1e-6),
        theta=float(theta),
        rope_type=rope_type,
        rope=rope,
        qkv_bias=family == "qwen2" or (family in ("llama", "qwen3") and attention_bias),
        o_bias=family in ("llama", "qwen3") and attention_bias,
        mlp_bias=family == "llama" and bool(raw.get("mlp_bias", False)),
        qk_norm=family == "qwen3",
        tied=bool(raw.get("tie_word_embeddings", False)),
        layer_windows=layer_windows,
        pad=raw.get("pad_token_id"),
    )
    if heads % kv:
        raise BadInput(f"config.json: num_key_value_heads {kv} does not divide num_attention_heads {heads}")
    if head_dim % 2:
        raise BadInput(f"config.json: head_dim {head_dim} is odd; RoPE rotates halves")
    return spec


# ---------------------------------------------------------------------------------------------------
# The formulas


def inv_freq(spec):
    """RoPE inverse frequencies over head_dim; llama3: modeling_rope_utils' _compute_llama3_parameters."""
    dim = spec["head_dim"]
    inv = 1.0 / (spec["theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    if spec["rope_type"] != "llama3":
        return inv
    r = spec["rope"]
    factor, low, high = float(r["factor"]), float(r["low_freq_factor"]), float(r["high_freq_factor"])
    old_ctx = float(r["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old_ctx / low, inv / factor, inv)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_ctx / high) & (wavelen <= old_ctx / low)
    return torch.where(medium, smoothed, scaled)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def linear(x, w, name, bias):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if bias else y


def attention_mask(T, lengths, window):
    """[B, 1, T, T] bool: may query i read key j."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if window:
        allowed = allowed & (i - window < j)
    return allowed[None, None] & (j[None, None] < lengths[:, None, None, None])


def attention(spec, w, p, x, cos, sin, lengths, window):
    B, T, _ = x.shape
    H, KV, D = spec["heads"], spec["kv_heads"], spec["head_dim"]
    q = linear(x, w, p + ".q_proj", spec["qkv_bias"]).view(B, T, H, D)
    k = linear(x, w, p + ".k_proj", spec["qkv_bias"]).view(B, T, KV, D)
    v = linear(x, w, p + ".v_proj", spec["qkv_bias"]).view(B, T, KV, D)
    if spec["qk_norm"]:  # qwen3: per head, before RoPE
        q = rms_norm(q, w[p + ".q_norm.weight"], spec["eps"])
        k = rms_norm(k, w[p + ".k_norm.weight"], spec["eps"])
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    groups = H // KV  # repeat_kv: kv head g serves query heads g*groups .. g*groups + groups - 1
    k = k[:, :, None].expand(B, KV, groups, T, D).reshape(B, H, T, D)
    v = v[:, :, None].expand(B, KV, groups, T, D).reshape(B, H, T, D)
    scores = (q @ k.transpose(-1, -2)) * D**-0.5
    scores = scores.masked_fill(~attention_mask(T, lengths, window), torch.finfo(scores.dtype).min)
    y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * D)
    return linear(y, w, p + ".o_proj", spec["o_bias"])


def mlp(spec, w, p, x):
    gate = linear(x, w, p + ".gate_proj", spec["mlp_bias"])
    up = linear(x, w, p + ".up_proj", spec["mlp_bias"])
    return linear(gate * torch.sigmoid(gate) * up, w, p + ".down_proj", spec["mlp_bias"])


def hidden_states(spec, w, ids, lengths):
    """The decoder stack: final-normed hidden states [B, T, hidden]."""
    T = ids.shape[1]
    emb = w["model.embed_tokens.weight"]
    pad = spec["pad"]
    x = torch.nn.functional.embedding(ids, emb, padding_idx=pad if pad is not None and 0 <= pad < emb.shape[0] else None)
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq(spec)[None, :]
    angles = torch.cat((freqs, freqs), dim=-1)
    cos, sin = angles.cos(), angles.sin()
    for i in range(spec["layers"]):
        p = f"model.layers.{i}"
        a = rms_norm(x, w[p + ".input_layernorm.weight"], spec["eps"])
        x = x + attention(spec, w, p + ".self_attn", a, cos, sin, lengths, spec["layer_windows"][i])
        m = rms_norm(x, w[p + ".post_attention_layernorm.weight"], spec["eps"])
        x = x + mlp(spec, w, p + ".mlp", m)
    return rms_norm(x, w["model.norm.weight"], spec["eps"])


def lm_head(spec, w):
    return w["model.embed_tokens.weight"] if spec["tied"] else w["lm_head.weight"]


def run(spec, w, req):
    """Forward (and loss) for one request; returns (logits or None, loss or None)."""
    ids = torch.as_tensor(req["input_ids"], dtype=torch.long)
    B, T = ids.shape
    lengths = torch.as_tensor(req.get("lengths", [T] * B), dtype=torch.long)
    h = hidden_states(spec, w, ids, lengths)
    if req["task"] == "classification":
        logits = h[torch.arange(B), lengths - 1] @ w["score.weight"].T
        loss = None
        if req.get("labels") is not None:
            loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(req["labels"], dtype=torch.long))
        return logits, loss
    logits = h @ lm_head(spec, w).T  # [B, T, V]
    loss = None
    if req.get("lm_labels") is not None:
        labels = torch.as_tensor(req["lm_labels"], dtype=torch.long)
        targets = torch.cat((labels[:, 1:], torch.full((B, 1), -100, dtype=torch.long)), dim=1)
        keep = targets != -100
        if not bool(keep.any()):
            raise BadInput("request: every lm_labels target is -100: no token counts toward the loss")
        logp = torch.log_softmax(logits[keep], dim=-1)
        loss = -logp.gather(1, targets[keep][:, None]).mean()
    return logits, loss


def used_parameters(spec, task):
    """The HF names the forward reads, in a stable order."""
    names = ["model.embed_tokens.weight"]
    for i in range(spec["layers"]):
        p = f"model.layers.{i}"
        names.append(p + ".input_layernorm.weight")
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names.append(f"{p}.self_attn.{proj}.weight")
            if spec["o_bias" if proj == "o_proj" else "qkv_bias"]:
                names.append(f"{p}.self_attn.{proj}.bias")
        if spec["qk_norm"]:
            names += [p + ".self_attn.q_norm.weight", p + ".self_attn.k_norm.weight"]
        names.append(p + ".post_attention_layernorm.weight")
        for proj in ("gate_proj", "up_proj", "down_proj"):
            names.append(f"{p}.mlp.{proj}.weight")
            if spec["mlp_bias"]:
                names.append(f"{p}.mlp.{proj}.bias")
    names.append("model.norm.weight")
    if task == "classification":
        names.append("score.weight")
    elif not spec["tied"]:
        names.append("lm_head.weight")
    return names


def check_request(spec, w, req):
    task = req.get("task")
    if task not in ("classification", "causal-lm"):
        raise BadInput(f"request: task {task!r} is not classification or causal-lm")
    missing = [n for n in used_parameters(spec, task) if n not in w]
    if missing:
        raise BadInput(f"model.safetensors: missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    ids = req["input_ids"]
    T = len(ids[0])
    vocab = w["model.embed_tokens.weight"].shape[0]
    if any(len(r) != T for r in ids) or any(not 0 <= t < vocab for r in ids for t in r):
        raise BadInput(f"request: input_ids must be B rows of T ids in [0, {vocab})")
    lengths = req.get("lengths", [T] * len(ids))
    if len(lengths) != len(ids) or any(not 1 <= n <= T for n in lengths):
        raise BadInput(f"request: lengths must be {len(ids)} numbers in [1, {T}]")
    if task == "classification" and req.get("labels") is not None:
        K = w["score.weight"].shape[0]
        if len(req["labels"]) != len(ids) or any(not 0 <= y < K for y in req["labels"]):
            raise BadInput(f"request: labels must be {len(ids)} classes in [0, {K})")
    if task == "causal-lm" and req.get("lm_labels") is not None:
        lab = req["lm_labels"]
        if len(lab) != len(ids) or any(len(r) != T for r in lab) or any(y != -100 and not 0 <= y < vocab for r in lab for y in r):
            raise BadInput(f"request: lm_labels must be B rows of T targets, each -100 or in [0, {vocab})")


def answer(model_dir, req):
    spec = parse_config(json.load(open(os.path.join(model_dir, "config.json"))))
    w = read_weights(model_dir)
    check_request(spec, w, req)
    names = used_parameters(spec, req["task"])
    want_grads = bool(req.get("grads"))
    if want_grads:
        for n in names:
            w[n].requires_grad_(True)
    logits, loss = run(spec, w, req)
    out = {}
    if req["task"] == "classification" or req.get("return_lm_logits"):
        out["logits"] = logits.detach().tolist()
    if loss is not None:
        out["loss"] = loss.item()
    if want_grads:
        if loss is None:
            raise BadInput("request: grads need labels (classification) or lm_labels (causal-lm)")
        grads = torch.autograd.grad(loss, [w[n] for n in names])
        out["grads"] = {n: g.reshape(-1).tolist() for n, g in zip(names, grads)}
    return out


def main():
    torch.set_default_dtype(torch.float64)
    if sys.argv[1:] == ["--self-test"]:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from decoder_selftest import self_test

        report = self_test()
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
        sys.exit(0 if report["ok"] else 1)
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        out = answer(sys.argv[1], json.load(sys.stdin))
    except (BadInput, KeyError, ValueError, OSError) as e:
        sys.stderr.write(f"decoder_reference: {e}\n")
        sys.exit(2)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
