"""Attention against PyTorch, in float and double: scaled_dot_product_attention (PyTorch 2's
semantics, computed by the math reference below since torch 1.13 has no F.sdpa) and
torch.nn.MultiheadAttention (1.13's own module: its initial weights after manual_seed, and its
outputs, averaged or per-head weights and every gradient with the parameters it is given).
Writes tests/golden/attention.txt; tests/attention_test.cpp reads it.

Names: <case>.<tag>.<what>, tag f32 or f64. Masks are written as 0/1 (bool) or their values.

Run with Debian's python3-torch: /usr/bin/python3 tools/gen_attention_golden.py
"""
import math

import torch

from golden_io import GoldenWriter

w = GoldenWriter()
F = torch.nn.functional


def sdpa(q, k, v, mask=None, is_causal=False, dropout_p=0.0):
    """PyTorch 2's scaled_dot_product_attention, as 1.13's MultiheadAttention computes it."""
    s = torch.matmul(q / math.sqrt(q.size(-1)), k.transpose(-2, -1))
    if is_causal:
        allowed = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).tril()
        s = s.masked_fill(~allowed, float("-inf"))
    elif mask is not None and mask.dtype == torch.bool:
        s = s.masked_fill(~mask, float("-inf"))  # True: may attend
    elif mask is not None:
        s = s + mask
    a = torch.softmax(s, dim=-1)
    if dropout_p > 0:
        a = F.dropout(a, p=dropout_p)
    return torch.matmul(a, v)


for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
    # (name, q shape, k shape, v shape, mask kind, is_causal)
    sdpa_cases = (
        ("sdpa_plain", (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), None, False),
        ("sdpa_2d", (4, 5), (6, 5), (6, 3), None, False),
        ("sdpa_bool_mask", (2, 4, 5), (2, 6, 5), (2, 6, 5), "bool", False),
        ("sdpa_float_mask", (3, 4, 5), (3, 6, 5), (3, 6, 2), "float", False),
        ("sdpa_causal", (2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4), None, True),
        ("sdpa_causal_rect", (3, 4), (6, 4), (6, 4), None, True),
        ("sdpa_broadcast", (2, 1, 4, 5), (3, 6, 5), (3, 6, 5), None, False),
    )
    for i, (name, sq, sk, sv, mask_kind, causal) in enumerate(sdpa_cases):
        torch.manual_seed(300 + i)
        q = torch.randn(sq, dtype=dtype, requires_grad=True)
        k = torch.randn(sk, dtype=dtype, requires_grad=True)
        v = torch.randn(sv, dtype=dtype, requires_grad=True)
        mask = None
        if mask_kind == "bool":
            mask = torch.rand(sq[-2], sk[-2]) > 0.4
            mask[:, 0] = True  # every query sees a key: no NaN row
            w.add(f"{name}.{tag}.mask", mask)
        elif mask_kind == "float":
            mask = torch.randn(sq[0], 1, sk[-2], dtype=dtype, requires_grad=True)
            w.add(f"{name}.{tag}.mask", mask)
        out = sdpa(q, k, v, mask, causal)
        gout = torch.randn(out.shape, dtype=dtype)
        out.backward(gout)
        for what, t in (("q", q), ("k", k), ("v", v), ("out", out), ("gout", gout), ("grad_q", q.grad),
                        ("grad_k", k.grad), ("grad_v", v.grad)):
            w.add(f"{name}.{tag}.{what}", t)
        if mask_kind == "float":
            w.add(f"{name}.{tag}.grad_mask", mask.grad)

    # dropout on the weights draws PyTorch's bernoulli_ stream after manual_seed
    torch.manual_seed(320)
    q = torch.randn(2, 4, 3, dtype=dtype)
    k = torch.randn(2, 5, 3, dtype=dtype)
    v = torch.randn(2, 5, 3, dtype=dtype)
    torch.manual_seed(321)
    out = sdpa(q, k, v, dropout_p=0.4)
    for what, t in (("q", q), ("k", k), ("v", v), ("out", out)):
        w.add(f"sdpa_dropout.{tag}.{what}", t)

    # MultiheadAttention's initial parameters, as a user builds it after manual_seed
    torch.manual_seed(7)
    mha = torch.nn.MultiheadAttention(8, 2, dtype=dtype)
    for key, t in mha.state_dict().items():
        w.add(f"mha_init.{tag}.{key}", t)
    torch.manual_seed(8)
    mha = torch.nn.MultiheadAttention(6, 3, bias=False, dtype=dtype)
    for key, t in mha.state_dict().items():
        w.add(f"mha_init_nobias.{tag}.{key}", t)

    # (name, E, H, bias, batch_first, inputs: "self" | "kv" | "qkv", L, S, N (0: unbatched),
    #  key_padding_mask kind, attn_mask kind, average_attn_weights)
    mha_cases = (
        ("mha_self", 8, 2, True, False, "self", 5, 5, 3, None, None, True),
        ("mha_self_bf_causal", 8, 4, True, True, "self", 6, 6, 2, None, "causal", False),
        ("mha_cross_kpm", 6, 3, True, True, "kv", 4, 5, 2, "bool", None, False),
        ("mha_separate_float", 4, 2, False, False, "qkv", 3, 4, 2, None, "float", True),
        ("mha_kpm_and_mask", 6, 2, True, False, "kv", 4, 5, 2, "bool", "bool3d", True),
        ("mha_unbatched", 4, 1, True, False, "qkv", 3, 5, 0, "bool", "bool", True),
    )
    for i, (name, E, H, bias, bf, inputs, L, S, N, kpm_kind, mask_kind, average) in enumerate(mha_cases):
        torch.manual_seed(400 + i)
        mha = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=bf, dtype=dtype)
        with torch.no_grad():  # not zeros, so the biases' gradients mean something
            for p in mha.parameters():
                p.copy_(torch.randn(p.shape, dtype=dtype) * 0.5)
        for key, t in mha.state_dict().items():
            w.add(f"{name}.{tag}.param.{key}", t)

        def shape(length):
            if N == 0:
                return (length, E)
            return (N, length, E) if bf else (length, N, E)

        query = torch.randn(shape(L), dtype=dtype, requires_grad=True)
        if inputs == "self":
            key = value = query
        elif inputs == "kv":
            key = value = torch.randn(shape(S), dtype=dtype, requires_grad=True)
        else:
            key = torch.randn(shape(S), dtype=dtype, requires_grad=True)
            value = torch.randn(shape(S), dtype=dtype, requires_grad=True)
        kpm = None
        if kpm_kind == "bool":
            kpm = torch.rand((N, S) if N else (S,)) > 0.6
            kpm[..., 0] = False  # every query sees a key
            w.add(f"{name}.{tag}.key_padding_mask", kpm)
        mask = None
        if mask_kind == "causal":
            mask = torch.ones(L, S, dtype=torch.bool).triu(1)  # True: masked out
        elif mask_kind == "float":
            mask = torch.randn(L, S, dtype=dtype)
        elif mask_kind == "bool":
            mask = torch.rand(L, S) > 0.7
            mask[:, 0] = False
        elif mask_kind == "bool3d":
            mask = torch.rand(N * H, L, S) > 0.7
            mask[..., 0] = False
        if mask is not None:
            w.add(f"{name}.{tag}.attn_mask", mask)
        out, weights = mha(query, key, value, key_padding_mask=kpm, attn_mask=mask,
                           average_attn_weights=average)
        gout = torch.randn(out.shape, dtype=dtype)
        gweights = torch.randn(weights.shape, dtype=dtype)
        ((out * gout).sum() + (weights * gweights).sum()).backward()
        w.add(f"{name}.{tag}.query", query)
        if inputs != "self":
            w.add(f"{name}.{tag}.key", key)
        if inputs == "qkv":
            w.add(f"{name}.{tag}.value", value)
        for what, t in (("out", out), ("weights", weights), ("gout", gout), ("gweights", gweights),
                        ("grad_query", query.grad)):
            w.add(f"{name}.{tag}.{what}", t)
        if inputs != "self":
            w.add(f"{name}.{tag}.grad_key", key.grad)
        if inputs == "qkv":
            w.add(f"{name}.{tag}.grad_value", value.grad)
        for key_name, p in mha.named_parameters():
            w.add(f"{name}.{tag}.grad.{key_name}", p.grad)

    # dropout on the attention weights in training: the stream after manual_seed
    torch.manual_seed(450)
    mha = torch.nn.MultiheadAttention(4, 2, dropout=0.25, dtype=dtype)
    x = torch.randn(3, 2, 4, dtype=dtype)
    for key, t in mha.state_dict().items():
        w.add(f"mha_dropout.{tag}.param.{key}", t)
    w.add(f"mha_dropout.{tag}.query", x)
    torch.manual_seed(451)
    out, weights = mha(x, x, x)
    w.add(f"mha_dropout.{tag}.out", out)
    w.add(f"mha_dropout.{tag}.weights", weights)

w.write("attention.txt")
