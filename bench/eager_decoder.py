#!/usr/bin/env python3
"""The PyTorch eager baseline for ftplan's Llama-family decoders (llama, mistral, qwen2, qwen3): one
training step as a Hugging Face Trainer user runs it, with the modules of transformers' eager code path
transcribed (modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py / modeling_mistral.py, v4.5x):
RMSNorm in fp32, rotary embedding computed with autocast off, q/k/v views -> (qwen3: q_norm/k_norm) ->
RoPE -> repeat_kv -> matmul * head_dim^-0.5 + the additive float mask (eager_mask: 0 / finfo.min,
causal, padding, sliding window) -> softmax in fp32 -> matmul -> o_proj; SwiGLU MLP; the heads as
*ForSequenceClassification (score on every position, then the last non-pad token picked) and
*ForCausalLM (lm_head over every position, full-vocabulary logits upcast to fp32, shifted labels,
cross-entropy ignoring -100). Step: loss, backward, clip_grad_norm_(1.0), torch.optim.AdamW (HF
Trainer's "adamw_torch": lr 5e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0), zero_grad(set_to_none);
bf16 = torch.autocast with fp32 master weights. Module names are HF's, so --weights loads an HF folder.
With --impl transformers (and transformers installed) the model is transformers' own class instead.

Worker mode (stdin/stdout, one JSON object per line), so steps can be interleaved with ftplan's:
    python3 bench/eager_decoder.py --model qwen2.5-0.5b --task causal-lm --batch 4 --seq 128 --dtype bf16 --worker
      <- {"cmd": "step"}                   -> {"ms": 1234.5, "loss": 11.9, "peakRssBytes": ...}
      <- {"cmd": "gemm", "dtype": "fp32"}  -> {"gflops": 190.2}   (the MLP's up projection at B x T)
      <- {"cmd": "loss", "input_ids": [[...]], "lengths": [...], "labels": [...] | "lm_labels": [[...]]}
                                           -> {"loss": ...}       (no step: checks against the reference)
      <- {"cmd": "quit"}
One-shot mode: --steps N --warmup W prints {"stepMs": [...], "tokensPerSec": ..., ...}.
--count prints the parameter count, built on the meta device (no memory). Runs on Debian's
python3-torch 1.13 (CPU) and on PyTorch 2.x (CUDA; --attn sdpa there).
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# config.json fields of the published checkpoints (Qwen/Qwen2.5-0.5B) and tiny shapes for trying the script
PRESETS = {
    "qwen2.5-0.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False, sliding_window=32768,
                         max_window_layers=24, pad_token_id=151643),
    "tiny-qwen2": dict(model_type="qwen2", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, pad_token_id=511),
    "tiny-llama": dict(model_type="llama", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=500000.0, pad_token_id=511,
                       rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64)),
    "tiny-qwen3": dict(model_type="qwen3", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, pad_token_id=511),
    "tiny-mistral": dict(model_type="mistral", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=1, rms_norm_eps=1e-6, rope_theta=10000.0, sliding_window=8, pad_token_id=511),
}


def family_flags(c):
    """Each family's modeling file's choices, from config.json with HF's defaults."""
    t = c["model_type"]
    heads = c["num_attention_heads"]
    layers = c["num_hidden_layers"]
    ab = bool(c.get("attention_bias", False))
    if t == "mistral":
        windows = [c.get("sliding_window", 4096) or 0] * layers
    elif t in ("qwen2", "qwen3"):
        w = c.get("sliding_window", 4096) if c.get("use_sliding_window", False) else None
        types = c.get("layer_types") or ["sliding_attention" if w is not None and i >= c.get("max_window_layers", 28) else "full_attention" for i in range(layers)]
        windows = [(w or 0) if x == "sliding_attention" else 0 for x in types]
    else:
        windows = [0] * layers
    return dict(kv=c.get("num_key_value_heads") or heads, head_dim=c.get("head_dim") or c["hidden_size"] // heads,
                qkv_bias=t == "qwen2" or (t in ("llama", "qwen3") and ab), o_bias=t in ("llama", "qwen3") and ab,
                mlp_bias=t == "llama" and bool(c.get("mlp_bias", False)), qk_norm=t == "qwen3", windows=windows)


class RMSNorm(nn.Module):
    def __init__(self, n, eps, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n, device=device))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


def rope_inv_freq(c, dim):
    inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    r = c.get("rope_scaling") or {}
    if r.get("rope_type", r.get("type")) != "llama3":
        return inv
    factor, low, high, old = r["factor"], r["low_freq_factor"], r["high_freq_factor"], r["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) * ~(wavelen > old / low)
    return torch.where(medium, smoothed, scaled)


class RotaryEmbedding(nn.Module):
    def __init__(self, c, dim, device=None):
        super().__init__()
        self.register_buffer("inv_freq", rope_inv_freq(c, dim).to(device), persistent=False)

    @torch.no_grad()
    def forward(self, x, position_ids):
        inv = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1).to(x.device)
        pos = position_ids[:, None, :].float()
        with torch.autocast(device_type=x.device.type, enabled=False):  # HF: force fp32
            freqs = (inv.float() @ pos.float()).transpose(1, 2)
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos(), emb.sin()
        return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(hidden_states, n_rep):
    batch, kv, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    return hidden_states[:, :, None, :, :].expand(batch, kv, n_rep, slen, head_dim).reshape(batch, kv * n_rep, slen, head_dim)


class Attention(nn.Module):
    def __init__(self, c, f, layer, attn, device=None):
        super().__init__()
        H, C, D = c["num_attention_heads"], c["hidden_size"], f["head_dim"]
        self.head_dim, self.groups, self.scaling, self.attn = D, H // f["kv"], D**-0.5, attn
        self.dropout = c.get("attention_dropout", 0.0)
        self.window = f["windows"][layer]
        self.q_proj = nn.Linear(C, H * D, bias=f["qkv_bias"], device=device)
        self.k_proj = nn.Linear(C, f["kv"] * D, bias=f["qkv_bias"], device=device)
        self.v_proj = nn.Linear(C, f["kv"] * D, bias=f["qkv_bias"], device=device)
        self.o_proj = nn.Linear(H * D, C, bias=f["o_bias"], device=device)
        if f["qk_norm"]:
            self.q_norm = RMSNorm(D, c.get("rms_norm_eps", 1e-6), device)
            self.k_norm = RMSNorm(D, c.get("rms_norm_eps", 1e-6), device)

    def forward(self, hidden_states, cos, sin, masks):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        q = self.q_proj(hidden_states).view(hidden_shape)
        k = self.k_proj(hidden_states).view(hidden_shape)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)
        k, v = repeat_kv(k, self.groups), repeat_kv(v, self.groups)
        mask = masks[self.window]
        if self.attn == "sdpa":  # HF's sdpa path: is_causal when no mask is needed
            p = self.dropout if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=mask is None)  # scale: head_dim^-0.5, its default
        else:
            w = torch.matmul(q, k.transpose(2, 3)) * self.scaling + mask
            w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
            w = F.dropout(w, p=self.dropout, training=self.training)
            out = torch.matmul(w, v)
        out = out.transpose(1, 2).contiguous().reshape(*input_shape, -1).contiguous()
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, c, f, device=None):
        super().__init__()
        C, I, b = c["hidden_size"], c["intermediate_size"], f["mlp_bias"]
        self.gate_proj = nn.Linear(C, I, bias=b, device=device)
        self.up_proj = nn.Linear(C, I, bias=b, device=device)
        self.down_proj = nn.Linear(I, C, bias=b, device=device)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c, f, layer, attn, device=None):
        super().__init__()
        eps = c.get("rms_norm_eps", 1e-6)
        self.self_attn = Attention(c, f, layer, attn, device)
        self.mlp = MLP(c, f, device)
        self.input_layernorm = RMSNorm(c["hidden_size"], eps, device)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], eps, device)

    def forward(self, x, cos, sin, masks):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, masks)
        return x + self.mlp(self.post_attention_layernorm(x))


class Model(nn.Module):
    def __init__(self, c, f, attn, device=None):
        super().__init__()
        self.c, self.f, self.attn = c, f, attn
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"], c.get("pad_token_id"), device=device)
        self.layers = nn.ModuleList([DecoderLayer(c, f, i, attn, device) for i in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c.get("rms_norm_eps", 1e-6), device)
        self.rotary_emb = RotaryEmbedding(c, f["head_dim"], device)

    def masks(self, attention_mask, dtype):
        """Per window size: HF's eager float mask [B, 1, T, T] (0 / finfo.min), or for sdpa a bool mask / None."""
        B, T = attention_mask.shape
        i = torch.arange(T, device=attention_mask.device)[:, None]
        j = torch.arange(T, device=attention_mask.device)[None, :]
        out = {}
        for w in set(self.f["windows"]):
            allowed = (j <= i) & ((i - w < j) if w else True)
            allowed = allowed[None, None] & attention_mask[:, None, None, :].bool()
            if self.attn == "sdpa":
                out[w] = None if not w and bool(attention_mask.all()) else allowed
            else:
                out[w] = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)
        return out

    def forward(self, input_ids, attention_mask):
        x = self.embed_tokens(input_ids)
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        cos, sin = self.rotary_emb(x, pos)
        masks = self.masks(attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, masks)
        return self.norm(x)


class ForCausalLM(nn.Module):
    def __init__(self, c, f, attn, device=None):
        super().__init__()
        self.model = Model(c, f, attn, device)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False, device=device)
        if c.get("tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids, attention_mask, labels):
        logits = self.lm_head(self.model(input_ids, attention_mask)).float()  # HF's ForCausalLMLoss upcasts
        shift = F.pad(labels, (0, 1), value=-100)[..., 1:]
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), shift.reshape(-1), ignore_index=-100)


class ForSequenceClassification(nn.Module):
    def __init__(self, c, f, attn, device=None):
        super().__init__()
        self.pad = c["pad_token_id"]
        self.model = Model(c, f, attn, device)
        self.score = nn.Linear(c["hidden_size"], c.get("num_labels", 3), bias=False, device=device)

    def forward(self, input_ids, attention_mask, labels):
        logits = self.score(self.model(input_ids, attention_mask))  # [B, T, K]; HF picks the last non-pad token
        non_pad = (input_ids != self.pad).to(torch.int32)
        last = (torch.arange(input_ids.shape[-1], device=input_ids.device, dtype=torch.int32) * non_pad).argmax(-1)
        pooled = logits[torch.arange(input_ids.shape[0], device=logits.device), last]
        return F.cross_entropy(pooled.float(), labels)


def hf_init(model, std):
    """PreTrainedModel._init_weights: Linear N(0, initializer_range) with zero bias, Embedding the same with
    its padding row zeroed, RMSNorm ones (already)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=std)
            if m.padding_idx is not None and m.weight.device.type != "meta":
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()


def read_safetensors(path):
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64}
    out = {}
    for name, info in json.loads(data[8 : 8 + n]).items():
        if name != "__metadata__":
            b, e = info["data_offsets"]
            out[name] = torch.frombuffer(bytearray(data[8 + n + b : 8 + n + e]), dtype=dtypes[info["dtype"]]).reshape(info["shape"]).float()
    return out


def build(args, c, device=None):
    if args.impl == "transformers":
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

        cfg = AutoConfig.for_model(**c, num_labels=3)
        cls = AutoModelForCausalLM if args.task == "causal-lm" else AutoModelForSequenceClassification
        m = cls.from_config(cfg, attn_implementation=args.attn)
        return m, lambda ids, am, y: m(input_ids=ids, attention_mask=am, labels=y).loss
    f = family_flags(c)
    if "id2label" in c:
        c["num_labels"] = len(c["id2label"])
    m = (ForCausalLM if args.task == "causal-lm" else ForSequenceClassification)(c, f, args.attn, device)
    hf_init(m, c.get("initializer_range", 0.02))
    if args.weights:
        state = {}
        for fn in sorted(os.listdir(args.weights)):
            if fn.endswith(".safetensors"):
                state.update(read_safetensors(os.path.join(args.weights, fn)))
        missing, unexpected = m.load_state_dict(state, strict=False)
        missing = [k for k in missing if not (k == "lm_head.weight" and c.get("tie_word_embeddings"))]
        if missing or unexpected:
            sys.exit(f"eager_decoder: {args.weights}: missing {missing}, unexpected {unexpected}")
    return m, m.forward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-0.5b", choices=sorted(PRESETS))
    ap.add_argument("--config", help="an HF config.json instead of a preset")
    ap.add_argument("--weights", help="an HF checkpoint folder (config.json + *.safetensors) to load")
    ap.add_argument("--task", default="causal-lm", choices=["classification", "causal-lm"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--impl", default="eager", choices=["eager", "transformers"])
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"], help="sdpa needs torch 2.x")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--count", action="store_true")
    args = ap.parse_args()
    c = dict(PRESETS[args.model])
    if args.config or args.weights:
        c = json.load(open(args.config or os.path.join(args.weights, "config.json")))
        c.setdefault("pad_token_id", c["vocab_size"] - 1)
    if args.count:
        m, _ = build(args, c, torch.device("meta"))
        print(json.dumps({"model": args.model, "task": args.task, "parameters": sum(p.numel() for p in m.parameters())}))
        return
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    model, fwd = build(args, c)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed + 1)
    pad = c["pad_token_id"]
    ids = torch.randint(0, pad if pad > 0 else c["vocab_size"], (args.batch, args.seq), generator=g).to(dev)  # full rows, no pad id
    am = torch.ones_like(ids)
    y = ids.clone() if args.task == "causal-lm" else torch.randint(0, 3, (args.batch,), generator=g).to(dev)
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    autocast = lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16")  # noqa: E731
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731  (Linux: KiB)

    def step():
        sync()
        t0 = time.perf_counter()
        with autocast():
            loss = fwd(ids, am, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        sync()
        return (time.perf_counter() - t0) * 1000, value

    def loss_of(cmd):
        rows = torch.as_tensor(cmd["input_ids"], dtype=torch.long, device=dev)
        lengths = torch.as_tensor(cmd.get("lengths", [rows.shape[1]] * rows.shape[0]), device=dev)
        mask = (torch.arange(rows.shape[1], device=dev)[None] < lengths[:, None]).long()
        target = cmd["lm_labels"] if args.task == "causal-lm" else cmd["labels"]
        with torch.no_grad(), autocast():
            return fwd(rows, mask, torch.as_tensor(target, dtype=torch.long, device=dev)).item()

    def gemm(dtype):
        n, k, m = args.batch * args.seq, c["hidden_size"], c["intermediate_size"]  # the MLP's up projection
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

    params = sum(p.numel() for p in model.parameters())
    if args.worker:
        print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "parameters": params, "parallel": torch.__config__.parallel_info().splitlines()[0:3]}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "step":
                ms, loss = step()
                print(json.dumps({"ms": ms, "loss": loss, "peakRssBytes": rss()}), flush=True)
            elif cmd["cmd"] == "gemm":
                print(json.dumps({"gflops": gemm(cmd.get("dtype", "fp32"))}), flush=True)
            elif cmd["cmd"] == "loss":
                print(json.dumps({"loss": loss_of(cmd)}), flush=True)
            elif cmd["cmd"] == "quit":
                break
        return
    for _ in range(args.warmup):
        step()
    runs = [step() for _ in range(args.steps)]
    ms = [r[0] for r in runs]
    med = sorted(ms)[len(ms) // 2]
    print(json.dumps({"impl": args.impl, "model": args.model if not (args.config or args.weights) else (args.config or args.weights), "task": args.task, "batch": args.batch, "seq": args.seq, "dtype": args.dtype,
                      "device": str(dev), "torch": torch.__version__, "parameters": params, "stepMs": ms, "losses": [r[1] for r in runs], "medianMs": med,
                      "tokensPerSec": args.batch * args.seq / med * 1000, "peakMemoryBytes": torch.cuda.max_memory_allocated(dev) if cuda else None, "peakRssBytes": rss()}))


if __name__ == "__main__":
    main()
