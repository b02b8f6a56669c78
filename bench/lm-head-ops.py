#!/usr/bin/env python3
# bench/lm-head-ops.py — the ops of one chunk of the causal-LM head's weight gradient (native/lm_loss.cpp) on
# the same libtorch, bf16 and fp32 ways, interleaved: /usr/bin/python3 bench/lm-head-ops.py
import torch, time
torch.set_num_threads(2)
V,C,rows=151936,896,110
w=torch.randn(V,C)*0.02; h=torch.randn(rows,C)
wc=w.to(torch.bfloat16); hs=h.to(torch.bfloat16)
g=torch.softmax(torch.randn(rows,V),1); gc=g.to(torch.bfloat16)
gw=torch.zeros(V,C)
def a(): gw.add_(torch.mm(gc.t(), hs))
def b(): gw.addmm_(g.t(), h)
def c(): gw.add_(torch.mm(gc.t().contiguous(), hs))
def d(): gw.add_(torch.mm(gc.t(), hs).float())
def e(): gw.addmm_(gc.t().float(), hs.float())
def f(): torch.mm(gc.t(), hs)
def g2(): torch.mm(gc,wc)
def h2(): torch.mm(g,w)
fs=dict(a_current=a,b_fp32_addmm=b,c_contig=c,d_float_then_add=d,e_fp32_from_bf16=e,f_mm_only=f,gradh_bf16=g2,gradh_fp32=h2)
res={k:[] for k in fs}
for r in range(3):
    for k,fn in fs.items():
        t0=time.perf_counter(); fn(); res[k].append((time.perf_counter()-t0)*1000)
for k,v in res.items(): print(k, [round(x) for x in v])
