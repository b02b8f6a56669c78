#!/usr/bin/env python3
"""An independent reference for ftplan's parameter-efficient fine-tuning (native/peft.h, lora.h, nf4.h):
the published formulas with plain torch ops, sharing no code with ftplan. Runs on Debian's python3-torch.

    python3 peft_reference.py < request.json > result.json

LoRA (float64), Hugging Face PEFT's semantics (peft/tuners/lora/layer.py, Linear.forward):
    y = x W^T + b + (x A^T) B^T * (alpha / r)        (lora_dropout 0: the comparison is deterministic)
  request: {"lora": {"family": "decoder" | "gpt2", "model_dir": DIR (decoder: its config.json),
            "gpt2": {"n_embd", "n_head", "n_layer", "layer_norm_epsilon"} (gpt2), "alpha": a, "r": r,
            "state": {name: {"shape": [...], "data": [...]}} (every weight as the model holds it, torch
            Linear layout [out, in], LoRA's <module>.lora_A.weight [r, in] / lora_B.weight [out, r]),
            "task", "input_ids", "lengths", "labels" | "lm_labels", "grads": [names]}}
  result:  {"logits", "loss", "grads": {name: [flat]}}
  The decoder's formulas are decoder_reference.py's with its `linear` wrapped; GPT-2's are written out
  below (gpt2_seqcls_reference.py's, in Linear layout, with gradients).

NF4 (float32, as bitsandbytes computes it): bitsandbytes' default torch backend (backends/default/ops.py
quantize_4bit / dequantize_4bit / quantize_blockwise / dequantize_blockwise) and functional.py
(create_dynamic_map, quantize_4bit(compress_statistics=True): offset = absmax.mean(),
quantize_blockwise(absmax - offset, blocksize=256)), blocksize 64, written out again here.
  request: {"nf4": {"values": [...], "double_quant": bool}} (or a list of them: a list of results)
  result:  {"codes", "absmax" | ("qabsmax", "absmax2", "offset"), "dequantized"}
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_reference as dr  # noqa: E402  (the decoder formulas; LoRA wraps its linear)

NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
       -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
       0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
       0.7229568362236023, 1.0]


# ---------------------------------------------------------------------------------------------------
# NF4, float32


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    assert additional_items == 0
    data.append(0)
    data.append(1.0)
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def scale_blocks(A, blocksize):
    A_flat = A.reshape(-1).float()
    n = A_flat.numel()
    rem = n % blocksize
    full = n - rem
    blocks = full // blocksize
    A_com = A_flat[:full].reshape(blocks, blocksize)
    absmax = A_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(A_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = A_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(A_flat[full:] / am, -1, 1)])
    return scaled, absmax


def quantize_blockwise(A, code, blocksize):
    scaled, absmax = scale_blocks(A, blocksize)
    bounds = (code[:-1] + code[1:]) / 2
    return torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8), absmax


def dequantize_blockwise(q, absmax, code, blocksize):
    out = code[q.reshape(-1).to(torch.int64)]
    n = out.numel()
    rem = n % blocksize
    if rem == 0:
        return (out.reshape(-1, blocksize) * absmax.view(-1, 1)).reshape(n)
    full = n - rem
    blocks = full // blocksize
    return torch.cat([(out[:full].reshape(blocks, blocksize) * absmax[:blocks].view(-1, 1)).reshape(full), out[full:] * absmax[blocks]])


def nf4(req):
    A = torch.tensor(req["values"], dtype=torch.float32)
    code = torch.tensor(NF4, dtype=torch.float32)
    scaled, absmax = scale_blocks(A, 64)
    if scaled.numel() % 2:
        scaled = torch.nn.functional.pad(scaled, (0, 1))
    q = torch.bucketize(scaled, (code[:-1] + code[1:]) / 2, out_int32=True).to(torch.uint8)
    packed = (q[::2] << 4) | q[1::2]
    out = {"codes": packed.tolist()}
    scales = absmax
    if req.get("double_quant"):
        offset = absmax.mean()
        dyn = create_dynamic_map()
        qabsmax, absmax2 = quantize_blockwise(absmax - offset, dyn, 256)
        out.update(qabsmax=qabsmax.tolist(), absmax2=absmax2.tolist(), offset=offset.item())
        scales = dequantize_blockwise(qabsmax, absmax2, dyn, 256)
        scales += offset
    else:
        out["absmax"] = absmax.tolist()
    idx = torch.empty(packed.numel() * 2, dtype=torch.int64)
    idx[1::2] = (packed & 0xF).to(torch.int64)
    idx[::2] = (packed >> 4).to(torch.int64)
    n = A.numel()
    vals = code[idx][:n]
    rem = n % 64
    if rem:
        full = n - rem
        deq = torch.cat([(vals[:full].view(-1, 64) * scales[: full // 64].view(-1, 1)).reshape(full), vals[full:] * scales[full // 64]])
    else:
        deq = (vals.view(-1, 64) * scales.view(-1, 1)).reshape(n)
    out["dequantized"] = deq.tolist()
    return out


# ---------------------------------------------------------------------------------------------------
# LoRA, float64


def weights(state):
    return {k: torch.tensor(v["data"], dtype=torch.float64).reshape(v["shape"]) for k, v in state.items()}


def lora_linear(w, scaling):
    def linear(x, _w, name, bias):
        y = x @ w[name + ".weight"].T
        if bias:
            y = y + w[name + ".bias"]
        if name + ".lora_A.weight" in w:
            y = y + (x @ w[name + ".lora_A.weight"].T) @ w[name + ".lora_B.weight"].T * scaling
        return y

    return linear


def gpt2_logits(cfg, w, ids, lengths, linear):
    B, T = ids.shape
    C, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    D = C // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)

    def ln(x, p):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    pos = torch.arange(T)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][pos]
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & (pos[None, :] < lengths[:, None])[:, None, None, :]
    for i in range(L):
        p = f"transformer.h.{i}"
        q, k, v = linear(ln(x, p + ".ln_1"), w, p + ".attn.c_attn", True).split(C, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(D)).masked_fill(~allowed, torch.finfo(torch.float64).min)
        y = (torch.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + linear(y, w, p + ".attn.c_proj", True)
        x = x + linear(gelu_new(linear(ln(x, p + ".ln_2"), w, p + ".mlp.c_fc", True)), w, p + ".mlp.c_proj", True)
    x = ln(x, "transformer.ln_f")
    return x[torch.arange(B), lengths - 1] @ w["score.weight"].T


def lora(req):
    w = weights(req["state"])
    for n in req["grads"]:
        w[n].requires_grad_(True)
    linear = lora_linear(w, req["alpha"] / req["r"])
    if req["family"] == "gpt2":
        ids = torch.as_tensor(req["input_ids"], dtype=torch.long)
        lengths = torch.as_tensor(req["lengths"], dtype=torch.long)
        logits = gpt2_logits(req["gpt2"], w, ids, lengths, linear)
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(req["labels"], dtype=torch.long))
    else:
        spec = dr.parse_config(json.load(open(os.path.join(req["model_dir"], "config.json"))))
        dr.linear = linear  # attention() and mlp() look it up at call time
        logits, loss = dr.run(spec, w, req)
    grads = torch.autograd.grad(loss, [w[n] for n in req["grads"]])
    return {"logits": logits.detach().tolist(), "loss": loss.item(), "grads": {n: g.reshape(-1).tolist() for n, g in zip(req["grads"], grads)}}


def main():
    req = json.load(sys.stdin)
    if "nf4" in req:
        out = [nf4(r) for r in req["nf4"]] if isinstance(req["nf4"], list) else nf4(req["nf4"])
    else:
        torch.set_default_dtype(torch.float64)
        out = lora(req["lora"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
