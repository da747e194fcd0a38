"""examples/char_gpt.cpp in PyTorch, module for module (nanoGPT's model.py in the layout of
examples/common/char_gpt_model.hpp): the same construction order, so the same draws; the same
initialisation, batches (randint on the default generator), AdamW in two groups, cosine
schedule and gradient clipping. Writes the first 20 training losses in float (with the default
seed and sizes) to tests/golden/char_gpt.txt; tests/char_gpt_test.cpp checks the C++ model
against them.

Run with Debian's python3-torch: /usr/bin/python3 tools/char_gpt_torch.py [steps]
"""
import math
import os
import sys
import time

import torch
import torch.nn as nn
from torch.nn import functional as F

from golden_io import GoldenWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# examples/char_gpt.cpp's defaults
SEED, BLOCK, BATCH, N_LAYER, N_HEAD, N_EMBD = 1337, 64, 16, 4, 4, 128
LR, MAX_ITERS, WEIGHT_DECAY = 1e-3, 3000, 0.1


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD)
        self.c_proj = nn.Linear(N_EMBD, N_EMBD)

    def forward(self, x):
        B, L, E = x.shape
        q, k, v = self.c_attn(x).split(E, dim=2)
        q, k, v = (t.view(B, L, N_HEAD, E // N_HEAD).transpose(1, 2) for t in (q, k, v))
        # scaled_dot_product_attention(is_causal=True) as 1.13 computes attention
        att = torch.matmul(q / math.sqrt(q.size(-1)), k.transpose(-2, -1))
        att = att.masked_fill(~torch.ones(L, L, dtype=torch.bool).tril(), float("-inf"))
        y = torch.matmul(torch.softmax(att, dim=-1), v)
        return self.c_proj(y.transpose(1, 2).reshape(B, L, E))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(N_EMBD, 4 * N_EMBD)
        self.c_proj = nn.Linear(4 * N_EMBD, N_EMBD)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(N_EMBD)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(N_EMBD)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, N_EMBD)
        self.wpe = nn.Embedding(BLOCK, N_EMBD)
        self.h = nn.ModuleList()
        for _ in range(N_LAYER):
            self.h.append(Block())
        self.ln_f = nn.LayerNorm(N_EMBD)
        # the head is wte (weight tying)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "ln_" in name:
                    continue
                if name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02 / math.sqrt(2 * N_LAYER) if "c_proj.weight" in name else 0.02)

    def forward(self, idx):
        L = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(L))
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.set_num_threads(1)
    text = open(os.path.join(ROOT, "examples", "data", "kjv.txt"), encoding="ascii").read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    train = data[: int(0.9 * len(data))]

    torch.manual_seed(SEED)
    model = GPT(len(chars))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=MAX_ITERS, eta_min=LR / 10)
    losses = []
    start = time.perf_counter()
    for it in range(steps):
        ix = torch.randint(len(train) - BLOCK, (BATCH,))
        x = torch.stack([train[i:i + BLOCK] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + BLOCK] for i in ix])
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        print(f"step {it}: loss {loss.item():.6f}")
    print(f"{(time.perf_counter() - start) / steps * 1e3:.1f} ms per step")
    if steps >= 20:
        w = GoldenWriter()
        w.add("char_gpt.f32.losses", torch.tensor(losses[:20], dtype=torch.float64))
        w.write("char_gpt.txt")


if __name__ == "__main__":
    main()
