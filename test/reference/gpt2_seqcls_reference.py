#!/usr/bin/env python3
"""An independent reference for ftplan's native GPT-2: Hugging Face GPT2ForSequenceClassification's
formulas written out with plain torch tensor ops, in float64, reading a checkpoint folder (config.json
+ model.safetensors) with its own safetensors parser. It shares no code with ftplan.

    python3 gpt2_seqcls_reference.py MODEL_DIR < rows.json > logits.json
rows.json: {"input_ids": [[...], ...], "lengths": [...]} (right padded); prints [[logit, ...], ...].
Runs on Debian's python3-torch (1.13): no transformers, no safetensors package needed.
"""
import json
import math
import struct
import sys

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    dtypes = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def main():
    model_dir = sys.argv[1]
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = read_safetensors(f"{model_dir}/model.safetensors")
    w = {k if k.startswith(("transformer.", "score.", "lm_head.")) else "transformer." + k: v for k, v in w.items()}
    req = json.load(sys.stdin)
    ids = torch.tensor(req["input_ids"], dtype=torch.long)
    lengths = torch.tensor(req["lengths"], dtype=torch.long)
    B, T = ids.shape
    C, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    D = C // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)

    def layer_norm(x, g, b):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * g + b

    def conv1d(x, name):  # HF Conv1D: y = x @ W + b, W stored [in, out]
        return x @ w[name + ".weight"] + w[name + ".bias"]

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    pos = torch.arange(T)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][pos]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    key_real = pos[None, :] < lengths[:, None]  # attention_mask
    allowed = causal[None, None] & key_real[:, None, None, :]
    neg = torch.finfo(torch.float64).min
    for i in range(L):
        p = f"transformer.h.{i}"
        a = layer_norm(x, w[p + ".ln_1.weight"], w[p + ".ln_1.bias"])
        qkv = conv1d(a, p + ".attn.c_attn")
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        att = torch.where(allowed, att, torch.tensor(neg, dtype=att.dtype))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + conv1d(y, p + ".attn.c_proj")
        m = layer_norm(x, w[p + ".ln_2.weight"], w[p + ".ln_2.bias"])
        x = x + conv1d(gelu_new(conv1d(m, p + ".mlp.c_fc")), p + ".mlp.c_proj")
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"])
    logits = x @ w["score.weight"].T  # [B, T, K]; HF picks each row's last non-padding token
    picked = logits[torch.arange(B), lengths - 1]
    json.dump(picked.tolist(), sys.stdout)


if __name__ == "__main__":
    main()
