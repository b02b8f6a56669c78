#!/usr/bin/env python3
"""The PyTorch eager baseline ftplan's native step is compared with (bench/native-vs-eager.mjs, and
the GPU device script). One training step as a Hugging Face user runs it: GPT2ForSequenceClassification
(its eager code path, transcribed below from transformers' modeling_gpt2.py, v4.4x: Conv1D as addmm,
split/merge heads with view+permute, attention as matmul / sqrt(d) -> causal torch.where -> softmax
-> dropout -> matmul, NewGELU "gelu_new" written out, dropout 0.1, score on every position then the
last real token picked), cross-entropy, backward, clip_grad_norm_(1.0), torch.optim.AdamW (HF
Trainer's "adamw_torch"), zero_grad(set_to_none=True); bf16 = torch.autocast with fp32 master weights.
With --impl transformers (and transformers installed) the model is transformers' own class instead.

Worker mode (stdin/stdout, one JSON object per line), so steps can be interleaved with ftplan's:
    python3 bench/eager_gpt2.py --batch 16 --seq 128 --dtype bf16 --threads 2 --worker
      <- {"cmd": "step"}      -> {"ms": 1234.5, "loss": 1.09}
      <- {"cmd": "gemm", "dtype": "fp32"} -> {"gflops": 190.2}
      <- {"cmd": "quit"}
One-shot mode: --steps N --warmup W prints {"stepMs": [...], "tokensPerSec": ..., ...}.
Runs on Debian's python3-torch 1.13 (CPU) and on PyTorch 2.x (CUDA).
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),
    "mini": dict(n_layer=4, n_head=4, n_embd=128, n_positions=512),
    "tiny": dict(n_layer=2, n_head=2, n_embd=64, n_positions=256),
}


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class NewGELUActivation(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = c["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n), persistent=False)
        self.embed_dim, self.num_heads = c["n_embd"], c["n_head"]
        self.head_dim = self.embed_dim // self.num_heads
        self.split_size = self.embed_dim
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = nn.Dropout(c["attn_pdrop"])
        self.resid_dropout = nn.Dropout(c["resid_pdrop"])

    def _attn(self, query, key, value, attention_mask=None):
        attn_weights = torch.matmul(query, key.transpose(-1, -2))
        attn_weights = attn_weights / torch.full([], value.size(-1) ** 0.5, dtype=attn_weights.dtype, device=attn_weights.device)
        query_length, key_length = query.size(-2), key.size(-2)
        causal_mask = self.bias[:, :, key_length - query_length : key_length, :key_length]
        mask_value = torch.finfo(attn_weights.dtype).min
        mask_value = torch.full([], mask_value, dtype=attn_weights.dtype, device=attn_weights.device)
        attn_weights = torch.where(causal_mask, attn_weights.to(attn_weights.dtype), mask_value)
        if attention_mask is not None:
            attn_weights = attn_weights + attention_mask
        attn_weights = nn.functional.softmax(attn_weights, dim=-1)
        attn_weights = attn_weights.type(value.dtype)
        attn_weights = self.attn_dropout(attn_weights)
        return torch.matmul(attn_weights, value)

    def _split_heads(self, tensor):
        new_shape = tensor.size()[:-1] + (self.num_heads, self.head_dim)
        return tensor.view(new_shape).permute(0, 2, 1, 3)

    def _merge_heads(self, tensor):
        tensor = tensor.permute(0, 2, 1, 3).contiguous()
        return tensor.view(tensor.size()[:-2] + (self.num_heads * self.head_dim,))

    def forward(self, hidden_states, attention_mask=None):
        query, key, value = self.c_attn(hidden_states).split(self.split_size, dim=2)
        query, key, value = self._split_heads(query), self._split_heads(key), self._split_heads(value)
        attn_output = self._merge_heads(self._attn(query, key, value, attention_mask))
        return self.resid_dropout(self.c_proj(attn_output))


class GPT2MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = Conv1D(4 * c["n_embd"], c["n_embd"])
        self.c_proj = Conv1D(c["n_embd"], 4 * c["n_embd"])
        self.act = NewGELUActivation()
        self.dropout = nn.Dropout(c["resid_pdrop"])

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["n_embd"], eps=1e-5)
        self.attn = GPT2Attention(c)
        self.ln_2 = nn.LayerNorm(c["n_embd"], eps=1e-5)
        self.mlp = GPT2MLP(c)

    def forward(self, x, attention_mask=None):
        x = x + self.attn(self.ln_1(x), attention_mask)
        return x + self.mlp(self.ln_2(x))


class GPT2ForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        for e in (self.wte, self.wpe):
            nn.init.normal_(e.weight, std=0.02)
        self.drop = nn.Dropout(c["embd_pdrop"])
        self.h = nn.ModuleList([GPT2Block(c) for _ in range(c["n_layer"])])
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=1e-5)
        self.score = nn.Linear(c["n_embd"], c["num_labels"], bias=False)
        nn.init.normal_(self.score.weight, std=0.02)

    def forward(self, input_ids, attention_mask, labels):
        B, T = input_ids.shape
        # HF: the [B, T] padding mask becomes an additive [B, 1, 1, T] mask of 0 / finfo.min
        dtype = torch.get_autocast_cpu_dtype() if (input_ids.device.type == "cpu" and torch.is_autocast_cpu_enabled()) else torch.float32
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        pos = torch.arange(0, T, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.drop(self.wte(input_ids) + self.wpe(pos))
        for block in self.h:
            x = block(x, ext)
        logits = self.score(self.ln_f(x))  # [B, T, K]
        seq_lens = torch.eq(input_ids, self.c["pad_token_id"]).int().argmax(-1) - 1
        seq_lens = seq_lens % T
        pooled = logits[torch.arange(B, device=logits.device), seq_lens]
        return F.cross_entropy(pooled.view(-1, self.c["num_labels"]), labels.view(-1))


def build(args):
    c = dict(vocab_size=50257, n_positions=1024, num_labels=3, pad_token_id=50256, embd_pdrop=0.1, attn_pdrop=0.1, resid_pdrop=0.1)
    c.update(PRESETS[args.model])
    if args.impl == "transformers":
        from transformers import GPT2Config, GPT2ForSequenceClassification as HF  # noqa: N811

        cfg = GPT2Config(n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"], n_positions=c["n_positions"], num_labels=3, pad_token_id=50256)
        try:
            m = HF(cfg, attn_implementation=args.attn) if args.attn else HF(cfg)
        except TypeError:
            m = HF(cfg)
        fwd = lambda ids, am, y: m(input_ids=ids, attention_mask=am, labels=y).loss  # noqa: E731
        return m, fwd
    m = GPT2ForSequenceClassification(c)
    return m, m.forward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gpt2", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--impl", default="eager", choices=["eager", "transformers"])
    ap.add_argument("--attn", default=None, help="transformers' attn_implementation (eager, sdpa)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    model, fwd = build(args)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, 50256, (args.batch, args.seq), generator=g).to(dev)  # every row full: no pad id
    am = torch.ones_like(ids)
    y = torch.randint(0, 3, (args.batch,), generator=g).to(dev)
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)

    def step():
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            loss = fwd(ids, am, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        sync()
        return (time.perf_counter() - t0) * 1000, value

    def gemm(dtype):
        n, k, m = 2048, 768, 3072  # the MLP's shapes at B16 x T128
        dt = torch.float32 if dtype == "fp32" else torch.bfloat16
        a = torch.randn(n, k, device=dev).to(dt)
        b = torch.randn(k, m, device=dev).to(dt)
        for _ in range(3):
            torch.mm(a, b)
        sync()
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0 or reps < 5:
            torch.mm(a, b)
            reps += 1
        sync()
        return 2 * n * k * m * reps / (time.perf_counter() - t0) / 1e9

    if args.worker:
        print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "parallel": torch.__config__.parallel_info().splitlines()[0:3]}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "step":
                ms, loss = step()
                print(json.dumps({"ms": ms, "loss": loss}), flush=True)
            elif cmd["cmd"] == "gemm":
                print(json.dumps({"gflops": gemm(cmd.get("dtype", "fp32"))}), flush=True)
            elif cmd["cmd"] == "quit":
                break
        return
    for _ in range(args.warmup):
        step()
    ms = [step()[0] for _ in range(args.steps)]
    med = sorted(ms)[len(ms) // 2]
    print(json.dumps({"impl": args.impl, "model": args.model, "batch": args.batch, "seq": args.seq, "dtype": args.dtype, "device": str(dev), "torch": torch.__version__, "stepMs": ms, "medianMs": med, "tokensPerSec": args.batch * args.seq / med * 1000, "peakMemoryBytes": torch.cuda.max_memory_allocated(dev) if cuda else None}))


if __name__ == "__main__":
    main()
