#!/usr/bin/env python3
"""A PyTorch eager LoRA training step of a Llama-family decoder: bench/eager_decoder.py's model (transformers'
eager code path transcribed) with Hugging Face PEFT's LoRA layer written out (peft/tuners/lora/layer.py,
Linear.forward: result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling), the baseline bench/peft.mjs
times ftplan's LoRA and QLoRA steps against, on the same libtorch.

What PEFT does, and this does: every targeted nn.Linear of the layers gets lora_A (Kaiming-uniform a=sqrt(5),
nn.Linear's default) and lora_B (zeros) in fp32; every other parameter is frozen (bias="none"), except a
classification head (modules_to_save); the frozen linear weights of the layers are held in bf16 (a model loaded
with torch_dtype=bfloat16; embeddings and norms stay fp32 as ftplan holds them); AdamW over the trainable
parameters only, clip 1.0; bf16 autocast.

--nf4: QLoRA's eager counterpart. Each targeted linear's weight is stored as bitsandbytes' NF4 (blocks of 64,
an fp32 absmax per block, two 4-bit codes a byte, the high nibble first) and dequantised in every forward and
again in backward with the torch ops of bitsandbytes' default backend (backends/default/ops.py,
_dequantize_4bit_impl: the nibbles unpacked into an int32 tensor, the code table indexed, each block times its
absmax, cast to the compute dtype) — what PEFT over a bnb Linear4bit runs where no bnb kernel does.

    python3 bench/eager_lora.py --worker --model qwen2.5-0.5b --task causal-lm --batch 4 --seq 256 --threads 2
      <- {"cmd": "step"}  -> {"ms": ..., "loss": ..., "peakRssBytes": ...}
      <- {"cmd": "quit"}
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eager_decoder as ed  # noqa: E402

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha, dropout):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling


NF4 = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0])


def nf4_quantize(w, block=64):
    flat = w.detach().reshape(-1, block).float()
    absmax = flat.abs().amax(-1)
    scaled = (flat / absmax.clamp_min(1e-38)[:, None]).reshape(-1)
    q = torch.bucketize(scaled, (NF4[:-1] + NF4[1:]) / 2).to(torch.uint8)
    return (q[::2] << 4 | q[1::2]).contiguous(), absmax


def nf4_dequantize(packed, absmax, shape, dtype, block=64):
    out = torch.empty(packed.numel() * 2, dtype=torch.int32)
    out[1::2] = packed & 0xF
    out[::2] = packed >> 4
    values = NF4.index_select(0, out)  # code[out]: torch 1.13 indexes with int64 only, index_select takes int32
    return (values.reshape(-1, block) * absmax[:, None]).reshape(shape).to(dtype)


class Nf4Matmul(torch.autograd.Function):
    """bitsandbytes' MatMul4Bit: the weight dequantised to the input's dtype in forward and again in backward."""

    @staticmethod
    def forward(ctx, x, packed, absmax, shape):
        ctx.save_for_backward(packed, absmax)
        ctx.shape = shape
        return x @ nf4_dequantize(packed, absmax, shape, x.dtype).t()

    @staticmethod
    def backward(ctx, g):
        packed, absmax = ctx.saved_tensors
        return g @ nf4_dequantize(packed, absmax, ctx.shape, g.dtype), None, None, None


class Linear4bit(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.in_features, self.out_features = lin.in_features, lin.out_features
        packed, absmax = nf4_quantize(lin.weight)
        self.register_buffer("packed", packed)
        self.register_buffer("absmax", absmax)

    def forward(self, x):
        # bnb's compute dtype: bf16 under autocast (a custom Function is not autocast itself)
        ct = torch.bfloat16 if torch.is_autocast_cpu_enabled() else x.dtype
        return Nf4Matmul.apply(x.to(ct), self.packed, self.absmax, (self.out_features, self.in_features))


def apply_lora(model, targets, r, alpha, dropout, base_dtype, nf4=False):
    for p in model.parameters():
        p.requires_grad_(False)
    for m in list(model.modules()):
        for name in ALL_LINEAR:
            lin = getattr(m, name, None)
            if not isinstance(lin, nn.Linear):
                continue
            lin.to(base_dtype)
            if name in targets:
                setattr(m, name, LoraLinear(Linear4bit(lin) if nf4 else lin, r, alpha, dropout))
    score = getattr(model, "score", None)
    if score is not None:
        for p in score.parameters():
            p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-0.5b", choices=sorted(ed.PRESETS))
    ap.add_argument("--task", default="causal-lm", choices=["classification", "causal-lm"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--dtype", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--lora-target", default="all-linear")
    ap.add_argument("--base-dtype", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--nf4", action="store_true", help="QLoRA: the targeted weights in NF4, dequantised per pass")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    args.impl, args.attn, args.weights = "eager", "eager", None
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    c = dict(ed.PRESETS[args.model])
    model, fwd = ed.build(args, c)
    targets = ALL_LINEAR if args.lora_target == "all-linear" else tuple(args.lora_target.split(","))
    trainable = apply_lora(model, targets, args.lora_r, args.lora_alpha, args.lora_dropout, torch.bfloat16 if args.base_dtype == "bf16" else torch.float32, args.nf4)
    model.train()
    opt = torch.optim.AdamW(trainable, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed + 1)
    pad = c["pad_token_id"]
    ids = torch.randint(0, pad if pad > 0 else c["vocab_size"], (args.batch, args.seq), generator=g)
    am = torch.ones_like(ids)
    y = ids.clone() if args.task == "causal-lm" else torch.randint(0, 3, (args.batch,), generator=g)
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731

    def step():
        t0 = time.perf_counter()
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            loss = fwd(ids, am, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        return (time.perf_counter() - t0) * 1000, value

    n_trainable = sum(p.numel() for p in trainable)
    if args.worker:
        print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "trainable": n_trainable}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "step":
                ms, loss = step()
                print(json.dumps({"ms": ms, "loss": loss, "peakRssBytes": rss()}), flush=True)
            elif cmd["cmd"] == "quit":
                break
        return
    step()
    ms = [step()[0] for _ in range(args.steps)]
    print(json.dumps({"model": args.model, "task": args.task, "trainable": n_trainable, "stepMs": ms, "medianMs": sorted(ms)[len(ms) // 2], "peakRssBytes": rss()}))


if __name__ == "__main__":
    main()
