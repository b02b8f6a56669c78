"""decoder_reference.py --self-test: checks a reader can trust without transformers at hand. Each one
compares the vectorised reference with something computed another way (a per-head, per-position loop,
Meta's scalar llama3 formula, finite differences, an algebraic identity), on tiny random models of
every family. Returns {"ok": bool, "checks": [{"name", "ok", "detail"}]}."""
import math

import torch

from decoder_reference import inv_freq, parse_config, run, used_parameters

TOL = 1e-10


def raw_config(family, **over):
    c = dict(model_type=family, vocab_size=37, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0,
             hidden_act="silu", pad_token_id=0, tie_word_embeddings=False)
    if family == "mistral":
        c["sliding_window"] = None
    c.update(over)
    return c


def weights(spec, vocab, labels, seed):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.3  # noqa: E731
    ones = lambda n: 1 + torch.randn(n, generator=g, dtype=torch.float64) * 0.1  # noqa: E731
    C, D, H, KV, I = spec["hidden"], spec["head_dim"], spec["heads"], spec["kv_heads"], spec["intermediate"]
    shapes = {"q_proj": (H * D, C), "k_proj": (KV * D, C), "v_proj": (KV * D, C), "o_proj": (C, H * D),
              "gate_proj": (I, C), "up_proj": (I, C), "down_proj": (C, I)}
    w = {"model.embed_tokens.weight": rnd(vocab, C), "score.weight": rnd(labels, C), "lm_head.weight": rnd(vocab, C)}
    for n in used_parameters(spec, "classification") + used_parameters(spec, "causal-lm"):
        if n in w:
            continue
        if n.endswith("norm.weight"):
            w[n] = ones(D if ".q_norm" in n or ".k_norm" in n else C)
        else:
            proj = n.split(".")[-2]
            w[n] = rnd(*shapes[proj]) if n.endswith(".weight") else rnd(shapes[proj][0])
    return w


def model(family, seed=1, **over):
    raw = raw_config(family, **over)
    spec = parse_config(raw)
    return spec, weights(spec, raw["vocab_size"], 3, seed)


def ids_of(B, T, vocab, seed):
    return torch.randint(1, vocab, (B, T), generator=torch.Generator().manual_seed(seed)).tolist()


def naive_logits(spec, w, ids, length):
    """One row, every position's hidden state by loops: heads one by one, each query's softmax over the
    keys it may see written out, RoPE as explicit rotations of the channel pairs (d, d + D/2)."""
    D, H, KV = spec["head_dim"], spec["heads"], spec["kv_heads"]
    freqs = inv_freq(spec)
    eps = spec["eps"]
    norm = lambda v, g: v / torch.sqrt((v * v).mean() + eps) * g  # noqa: E731

    def rope(vec, pos):
        out = vec.clone()
        for d in range(D // 2):
            c, s = math.cos(pos * freqs[d].item()), math.sin(pos * freqs[d].item())
            out[d] = vec[d] * c - vec[d + D // 2] * s
            out[d + D // 2] = vec[d + D // 2] * c + vec[d] * s
        return out

    def lin(v, name, bias):
        return w[name + ".weight"] @ v + (w[name + ".bias"] if bias else 0)

    xs = [w["model.embed_tokens.weight"][t] for t in ids[:length]]
    for li in range(spec["layers"]):
        p = f"model.layers.{li}"
        window = spec["layer_windows"][li]
        a = [norm(x, w[p + ".input_layernorm.weight"]) for x in xs]
        new = []
        for i in range(length):
            heads = []
            for h in range(H):
                kvh = h // (H // KV)

                def qk(name, pos, head, which):
                    v = lin(a[pos], f"{p}.self_attn.{name}", spec["qkv_bias"])[head * D : (head + 1) * D]
                    if spec["qk_norm"]:
                        v = norm(v, w[f"{p}.self_attn.{which}_norm.weight"])
                    return rope(v, pos)

                q = qk("q_proj", i, h, "q")
                seen = [j for j in range(i + 1) if not window or i - j < window]
                s = torch.stack([q @ qk("k_proj", j, kvh, "k") / math.sqrt(D) for j in seen])
                pr = torch.exp(s - s.max())
                pr = pr / pr.sum()
                vs = [lin(a[j], f"{p}.self_attn.v_proj", spec["qkv_bias"])[kvh * D : (kvh + 1) * D] for j in seen]
                heads.append(sum(pj * vj for pj, vj in zip(pr, vs)))
            new.append(xs[i] + lin(torch.cat(heads), f"{p}.self_attn.o_proj", spec["o_bias"]))
        xs = []
        for x in new:
            m = norm(x, w[p + ".post_attention_layernorm.weight"])
            gt = lin(m, f"{p}.mlp.gate_proj", spec["mlp_bias"])
            up = lin(m, f"{p}.mlp.up_proj", spec["mlp_bias"])
            xs.append(x + lin(gt / (1 + torch.exp(-gt)) * up, f"{p}.mlp.down_proj", spec["mlp_bias"]))
    return torch.stack([norm(x, w["model.norm.weight"]) for x in xs])


def lm(spec, w, ids, lengths=None, lm_labels=None):
    return run(spec, w, {"task": "causal-lm", "input_ids": ids, "lengths": lengths or [len(ids[0])] * len(ids), "lm_labels": lm_labels})


def cls(spec, w, ids, lengths=None, labels=None):
    return run(spec, w, {"task": "classification", "input_ids": ids, "lengths": lengths or [len(ids[0])] * len(ids), "labels": labels})


def maxdiff(a, b):
    return (a - b).abs().max().item()


def grads(spec, w, task, req_extra, names):
    w = {k: v.detach().clone().requires_grad_(k in names) for k, v in w.items()}
    _, loss = run(spec, w, {"task": task, **req_extra})
    return loss.item(), dict(zip(names, torch.autograd.grad(loss, [w[n] for n in names])))


def checks():
    out = []

    def check(name, ok, detail):
        out.append({"name": name, "ok": bool(ok), "detail": detail})

    # 1. the vectorised model against the loops, every family, GQA, a window shorter than T, qwen3's head_dim != hidden/heads
    cases = [("llama", dict(rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16), attention_bias=True, mlp_bias=True)),
             ("mistral", dict(sliding_window=3)), ("qwen2", {}), ("qwen3", dict(head_dim=8, attention_bias=True)),
             ("qwen2", dict(use_sliding_window=True, sliding_window=2, max_window_layers=1))]
    for family, over in cases:
        spec, w = model(family, seed=3, **over)
        ids = ids_of(2, 7, 37, 5)
        logits, _ = lm(spec, w, ids, lengths=[7, 5])
        h = torch.stack([naive_logits(spec, w, ids[1], 5)[t] for t in range(5)])
        d = maxdiff(logits[1, :5], h @ w["lm_head.weight"].T)
        check(f"{family} {sorted(over)}: vectorised forward = per-head, per-position loops", d < TOL, d)

    # 2. llama3 frequencies against Meta's scalar formula, all three bands present; factor 1 = plain RoPE
    r = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64)
    spec = parse_config(raw_config("llama", hidden_size=64, num_attention_heads=2, rope_scaling=r))
    plain = parse_config(raw_config("llama", hidden_size=64, num_attention_heads=2))
    base, scaled = inv_freq(plain).tolist(), inv_freq(spec).tolist()
    expect, bands = [], set()
    for f in base:
        wl = 2 * math.pi / f
        if wl < 64 / 4:
            expect.append(f), bands.add("high")
        elif wl > 64 / 1:
            expect.append(f / 8), bands.add("low")
        else:
            s = (64 / wl - 1) / (4 - 1)
            expect.append((1 - s) * f / 8 + s * f), bands.add("medium")
    d = max(abs(a - b) / b for a, b in zip(scaled, expect))
    check("llama3 inv_freq = Meta's per-frequency formula (high kept, low / factor, medium smoothed)", d < 1e-14 and len(bands) == 3, [d, sorted(bands)])
    one = parse_config(raw_config("llama", hidden_size=64, num_attention_heads=2, rope_scaling={**r, "factor": 1.0}))
    check("llama3 with factor 1 = plain RoPE", maxdiff(inv_freq(one), inv_freq(plain)) < 1e-15, maxdiff(inv_freq(one), inv_freq(plain)))

    # 3. RoPE makes q.k depend on the position difference only
    spec, w = model("llama")
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    f = inv_freq({**spec, "head_dim": 16})

    def rot(v, pos):
        a = torch.cat((pos * f, pos * f))
        return v * a.cos() + torch.cat((-v[8:], v[:8])) * a.sin()

    d = abs((rot(q, 9) @ rot(k, 4)) - (rot(q, 25) @ rot(k, 20))).item()
    check("RoPE: q.k at positions (9, 4) = at (25, 20)", d < TOL, d)

    # 4. GQA = MHA with each kv head's weights repeated for its group; kv heads == heads is the same model
    spec, w = model("qwen2", seed=4)
    mha_spec = parse_config(raw_config("qwen2", num_key_value_heads=4))
    mw = dict(w)
    for i in range(spec["layers"]):
        for n in ("k_proj.weight", "k_proj.bias", "v_proj.weight", "v_proj.bias"):
            t = w[f"model.layers.{i}.self_attn.{n}"]
            mw[f"model.layers.{i}.self_attn.{n}"] = t.reshape(2, 4, *t.shape[1:]).repeat_interleave(2, dim=0).reshape(16, *t.shape[1:])
    ids = ids_of(3, 6, 37, 6)
    d = maxdiff(lm(spec, w, ids)[0], lm(mha_spec, mw, ids)[0])
    check("GQA (4 heads, 2 kv heads) = MHA with kv weights repeated per group", d < TOL, d)

    # 5. windows: >= T is no window; shorter, one layer: a token beyond the window changes nothing, inside it does
    full, wf = model("mistral", seed=5)
    long_, _ = model("mistral", seed=5, sliding_window=6)
    ids = ids_of(2, 6, 37, 7)
    d = maxdiff(lm(full, wf, ids)[0], lm(long_, wf, ids)[0])
    check("mistral sliding_window >= T = no window", d < TOL, d)
    one, w1 = model("mistral", seed=5, sliding_window=3, num_hidden_layers=1)
    base = lm(one, w1, ids)[0]
    far = [list(r) for r in ids]
    far[0][2] = (far[0][2] % 36) + 1
    near = [list(r) for r in ids]
    near[0][3] = (near[0][3] % 36) + 1
    d_far, d_near = maxdiff(lm(one, w1, far)[0][0, 5], base[0, 5]), maxdiff(lm(one, w1, near)[0][0, 5], base[0, 5])
    check("window 3, one layer: position 5 ignores token 2, reads token 3", d_far < TOL and d_near > 1e-6, [d_far, d_near])

    # 6. causality, and padding never changes a real row (logits, loss, gradients), both tasks
    spec, w = model("qwen3", seed=6, head_dim=8, tie_word_embeddings=True)
    ids = ids_of(1, 7, 37, 8)
    changed = [ids[0][:4] + [(ids[0][4] % 36) + 1] + ids[0][5:]]
    d = maxdiff(lm(spec, w, ids)[0][0, :4], lm(spec, w, changed)[0][0, :4])
    check("causal: changing token 4 leaves positions 0-3", d < TOL, d)
    names = used_parameters(spec, "causal-lm")
    alone_lab = [[-100, -100] + ids[0][2:]]
    padded = [ids[0] + [0, 5, 9], ids_of(1, 10, 37, 9)[0]]
    padded_lab = [alone_lab[0] + [-100] * 3, [-100] * 10]
    l1, g1 = grads(spec, w, "causal-lm", {"input_ids": ids, "lengths": [7], "lm_labels": alone_lab}, names)
    l2, g2 = grads(spec, w, "causal-lm", {"input_ids": padded, "lengths": [7, 10], "lm_labels": padded_lab}, names)
    gd = max(maxdiff(g1[n], g2[n]) for n in names)
    check("causal-lm: a row padded to 10 in a batch = the row alone (loss, gradients)", abs(l1 - l2) < TOL and gd < TOL, [abs(l1 - l2), gd])
    names = used_parameters(spec, "classification")
    l1, g1 = grads(spec, w, "classification", {"input_ids": ids, "lengths": [7], "labels": [2]}, names)
    l2, g2 = grads(spec, w, "classification", {"input_ids": [padded[0]], "lengths": [7], "labels": [2]}, names)
    gd = max(maxdiff(g1[n], g2[n]) for n in names)
    check("classification: a row right-padded with junk = the row alone (loss, gradients)", abs(l1 - l2) < TOL and gd < TOL, [abs(l1 - l2), gd])
    # a window shorter than T with padding: a padding query that sees no key stays finite
    spec, w = model("mistral", seed=7, sliding_window=2)
    logits, loss = lm(spec, w, [[3, 4, 5, 0, 0, 0]], lengths=[3], lm_labels=[[3, 4, 5, -100, -100, -100]])
    check("window 2 + padding: every position finite (no NaN from a fully masked row)", bool(torch.isfinite(logits).all()) and math.isfinite(loss.item()), None)

    # 7. the heads: classification reads lengths - 1; the causal-LM loss is the mean over kept, shifted targets
    spec, w = model("llama", seed=8)
    ids = ids_of(2, 6, 37, 10)
    h_lm, _ = lm(spec, {**w, "lm_head.weight": w["score.weight"]}, ids, lengths=[6, 4])
    c, _ = cls(spec, w, ids, lengths=[6, 4])
    d = maxdiff(c, torch.stack([h_lm[0, 5], h_lm[1, 3]]))
    check("classification: score at each row's last real token", d < TOL, d)
    labels = [[-100, 4, 7, -100, 2, 9], [1, 2, 3, 4, -100, -100]]
    logits, loss = lm(spec, w, ids, lengths=[6, 4], lm_labels=labels)
    terms = []
    for b in range(2):
        for t in range(5):
            y = labels[b][t + 1]
            if y != -100:
                row = logits[b, t].tolist()
                mx = max(row)
                terms.append(mx + math.log(sum(math.exp(v - mx) for v in row)) - row[y])
    d = abs(loss.item() - sum(terms) / len(terms))
    check("causal-lm loss = mean of -log p(next) over the 7 targets != -100", d < TOL and len(terms) == 7, d)

    # 8. gradients against central finite differences, every kind of parameter
    for family, over, task in [("qwen3", dict(head_dim=8, tie_word_embeddings=True, attention_bias=True), "causal-lm"),
                               ("qwen2", {}, "classification"), ("llama", dict(mlp_bias=True, rope_scaling=r), "causal-lm")]:
        spec, w = model(family, seed=9, **over)
        ids = ids_of(2, 5, 37, 11)
        req = {"input_ids": ids, "lengths": [5, 3], "labels": [0, 2], "lm_labels": [[-100, 3, 4, 5, 6], [1, 2, 3, -100, -100]]}
        names = used_parameters(spec, task)
        _, g = grads(spec, w, task, req, names)
        worst = 0.0
        gen = torch.Generator().manual_seed(12)
        for n in names:
            for _ in range(2):
                idx = int(torch.randint(0, w[n].numel(), (1,), generator=gen))
                if n == "model.embed_tokens.weight":
                    idx = ids[0][1] * spec["hidden"] + idx % spec["hidden"]  # a row the batch reads
                h = 1e-5

                def at(delta):
                    v = w[n].detach().clone().reshape(-1)
                    v[idx] += delta
                    return run(spec, {**w, n: v.reshape(w[n].shape)}, {"task": task, **req})[1].item()

                fd = (at(h) - at(-h)) / (2 * h)
                worst = max(worst, abs(fd - g[n].reshape(-1)[idx].item()) / max(1e-3, abs(fd)))
        check(f"{family} {task}: autograd = finite differences on {2 * len(names)} entries", worst < 1e-6, worst)

    # 9. tied embeddings: = an untied copy; the shared matrix's gradient is the sum of both uses
    spec, w = model("qwen2", seed=10, tie_word_embeddings=True)
    untied = parse_config(raw_config("qwen2"))
    ids = ids_of(2, 5, 37, 13)
    req = {"input_ids": ids, "lengths": [5, 5], "lm_labels": ids}
    _, gt = grads(spec, w, "causal-lm", req, ["model.embed_tokens.weight"])
    _, gu = grads(untied, {**w, "lm_head.weight": w["model.embed_tokens.weight"]}, "causal-lm", req, ["model.embed_tokens.weight", "lm_head.weight"])
    d = maxdiff(gt["model.embed_tokens.weight"], gu["model.embed_tokens.weight"] + gu["lm_head.weight"])
    check("tied embeddings: gradient = embedding's + head's of an untied copy", d < TOL, d)

    # 10. the pad row (nn.Embedding padding_idx) gets no gradient from its lookups, even inside a text
    spec, w = model("llama", seed=11)
    ids = [[5, 0, 7, 0, 9]]
    _, g = grads(spec, w, "classification", {"input_ids": ids, "lengths": [5], "labels": [1]}, ["model.embed_tokens.weight"])
    e = g["model.embed_tokens.weight"]
    check("embed_tokens row pad_token_id: zero gradient; rows 5, 7, 9: not", e[0].abs().max() == 0 and all(e[i].abs().max() > 0 for i in (5, 7, 9)), None)

    # 11. qwen3's q/k RMSNorm: scaling q_proj and k_proj changes nothing (without it, it does)
    for family, invariant in (("qwen3", True), ("qwen2", False)):
        spec, w = model(family, seed=12, rms_norm_eps=1e-30)
        sw = dict(w)
        for i in range(spec["layers"]):
            for n in ("q_proj", "k_proj"):
                for kind in ("weight", "bias"):
                    key = f"model.layers.{i}.self_attn.{n}.{kind}"
                    if key in w:
                        sw[key] = w[key] * 7
        ids = ids_of(2, 5, 37, 14)
        d = maxdiff(lm(spec, w, ids)[0], lm(spec, sw, ids)[0])
        check(f"{family}: q, k scaled by 7 {'changes nothing (per-head RMSNorm)' if invariant else 'changes the logits'}", d < 1e-9 if invariant else d > 1e-3, d)

    # 12. each family's config defaults, as HF's configuration classes set them
    q2 = parse_config(raw_config("qwen2", num_hidden_layers=4, use_sliding_window=True, sliding_window=5, max_window_layers=2))
    mi = parse_config({k: v for k, v in raw_config("mistral").items() if k != "sliding_window"})
    ll = parse_config(raw_config("llama", attention_bias=True, mlp_bias=True, sliding_window=3))
    q3 = parse_config(raw_config("qwen3", head_dim=12, attention_bias=True))
    off = parse_config(raw_config("qwen2", use_sliding_window=False, sliding_window=5, max_window_layers=0))
    got = [q2["qkv_bias"], q2["o_bias"], q2["layer_windows"], off["layer_windows"], mi["layer_windows"], mi["qkv_bias"], ll["qkv_bias"], ll["o_bias"], ll["mlp_bias"], ll["layer_windows"], q3["head_dim"], q3["qk_norm"], q3["o_bias"]]
    want = [True, False, [0, 0, 5, 5], [0, 0], [4096, 4096], False, True, True, True, [0, 0], 12, True, True]
    check("config defaults per family (qwen2 qkv bias, window layers, no window unless use_sliding_window; mistral window 4096; llama biases; qwen3 head_dim)", got == want, got)
    return out


def self_test():
    results = checks()
    return {"ok": all(c["ok"] for c in results), "count": len(results), "checks": results}
