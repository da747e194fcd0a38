"""The elementwise part of the tensor vocabulary against PyTorch, in float and double: sin, cos,
erf, square, rsqrt, log1p, expm1, clamp (both bounds, one, lo > hi, NaN bounds), minimum and
maximum (ties, NaN, broadcasting), where, masked_fill, tril and triu: forward values and the
inputs' gradients for a given output gradient. Inputs include edge values: 0, negatives, large
values, the bounds of clamp themselves, ties, NaN and inf.

Names: <case>.<tag>.<what>, tag f32 or f64. Writes tests/golden/vocab_elementwise.txt;
tests/vocab_elementwise_test.cpp reads it.

Run with Debian's python3-torch: /usr/bin/python3 tools/gen_vocab_elementwise_golden.py
"""
import math

import torch

from golden_io import GoldenWriter

nan, inf = math.nan, math.inf
w = GoldenWriter()

# edge values per op, then random ones
UNARY = {
    "sin": (torch.sin, [0.0, -0.0, 1e-8, -1.5, math.pi, -math.pi / 2, 3.0, 100.0, 1e4, -1e6, 1e10, inf, nan]),
    "cos": (torch.cos, [0.0, 1e-8, -1.5, math.pi, math.pi / 2, 3.0, -100.0, 1e4, 1e6, -1e10, inf, nan]),
    "erf": (torch.erf, [0.0, 1e-8, -1e-8, 0.5, -0.5, 1.0, -2.0, 3.0, 4.0, -6.0, 10.0, inf, -inf, nan]),
    "square": (torch.square, [0.0, -0.0, 1e-30, -3.0, 1.5, 1e20, -1e200, inf, nan]),
    "rsqrt": (torch.rsqrt, [0.0, 1e-30, 1e-8, 0.25, 1.0, 2.0, 3.0, 1e10, 1e30, -1.0, inf, nan]),
    "log1p": (torch.log1p, [0.0, 1e-8, -1e-8, 1e-3, -0.5, -0.999, -1.0, -2.0, 1.0, 1e10, 1e30, inf, nan]),
    "expm1": (torch.expm1, [0.0, 1e-8, -1e-8, 1e-3, -1e-3, 1.0, -1.0, 10.0, 80.0, 88.0, 100.0, -100.0, 700.0, 710.0, -inf, inf, nan]),
}

for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
    # ---- unary functions ----
    for i, (name, (fn, edges)) in enumerate(UNARY.items()):
        torch.manual_seed(300 + i)
        rand = torch.randn(24, dtype=torch.float64) * 3
        if name in ("rsqrt", "log1p"):
            rand = rand.abs()  # inside the domain
        x = torch.cat([torch.tensor(edges, dtype=torch.float64), rand]).to(dtype).requires_grad_()
        y = fn(x)
        gout = torch.randn(x.shape, dtype=dtype)
        y.backward(gout)
        w.add(f"{name}.{tag}.x", x)
        w.add(f"{name}.{tag}.y", y)
        w.add(f"{name}.{tag}.gout", gout)
        w.add(f"{name}.{tag}.grad_x", x.grad)

    # ---- clamp: x holds the bounds themselves, NaN and infinities ----
    clamp_cases = (
        ("clamp_both", -0.5, 1.0),
        ("clamp_min_only", -0.5, None),
        ("clamp_max_only", None, 1.0),
        ("clamp_lo_above_hi", 1.0, -0.5),
        ("clamp_equal_bounds", 0.25, 0.25),
        ("clamp_nan_min", nan, 1.0),
        ("clamp_nan_max", -0.5, nan),
        ("clamp_nan_min_only", nan, None),
        ("clamp_nan_max_only", None, nan),
    )
    for i, (name, lo, hi) in enumerate(clamp_cases):
        torch.manual_seed(400 + i)
        edges = torch.tensor([-0.5, 1.0, 0.25, 0.0, -3.0, 5.0, inf, -inf, nan], dtype=torch.float64)
        x = torch.cat([edges, torch.randn(15, dtype=torch.float64)]).to(dtype).reshape(4, 6).requires_grad_()
        y = torch.clamp(x, lo, hi)
        gout = torch.randn(x.shape, dtype=dtype)
        y.backward(gout)
        w.add(f"{name}.{tag}.bounds", torch.tensor([nan if lo is None else lo, nan if hi is None else hi,
                                                    lo is not None, hi is not None], dtype=dtype))
        w.add(f"{name}.{tag}.x", x)
        w.add(f"{name}.{tag}.y", y)
        w.add(f"{name}.{tag}.gout", gout)
        w.add(f"{name}.{tag}.grad_x", x.grad)

    # ---- minimum, maximum: ties (one half to each side), NaN on either side, broadcasting ----
    tie_a = torch.tensor([1.0, 2.0, nan, 3.0, nan, 0.0, -2.0, inf, -inf, 5.0, 0.5, -1.0], dtype=torch.float64)
    tie_b = torch.tensor([1.0, 3.0, 1.0, nan, nan, 0.0, -2.0, inf, 4.0, -inf, 0.25, -1.0], dtype=torch.float64)
    torch.manual_seed(500)
    mm_cases = (
        ("ties", tie_a, tie_b),
        ("broadcast", torch.randn(3, 1, dtype=torch.float64), torch.randn(4, dtype=torch.float64)),
        # rows of a tie against a broadcast row: each tie's half summed over the rows
        ("broadcast_ties", torch.tensor([[1.0, 2.0, 3.0], [0.0, 2.0, 1.0]], dtype=torch.float64),
         torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)),
        ("scalar_other", torch.randn(2, 3, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64)),
    )
    for op_name, fn in (("maximum", torch.maximum), ("minimum", torch.minimum)):
        for i, (name, a0, b0) in enumerate(mm_cases):
            torch.manual_seed(510 + i)
            a = a0.to(dtype).clone().requires_grad_()
            b = b0.to(dtype).clone().requires_grad_()
            y = fn(a, b)
            gout = torch.randn(y.shape, dtype=dtype)
            y.backward(gout)
            p = f"{op_name}_{name}.{tag}."
            w.add(p + "a", a)
            w.add(p + "b", b)
            w.add(p + "y", y)
            w.add(p + "gout", gout)
            w.add(p + "grad_a", a.grad)
            w.add(p + "grad_b", b.grad)

    # ---- where: all three broadcast; masked_fill: the mask broadcast to x and x to the mask ----
    torch.manual_seed(600)
    where_cases = (
        ("where_same", torch.tensor([[1.0, 0, 1], [0, 0, 1]]), (2, 3), (2, 3)),
        ("where_broadcast", torch.tensor([[[1.0, 0, 1]], [[0, 1, 1]]]), (4, 3), (4, 1)),
        ("where_cond_broadcast", torch.tensor([1.0, 0, 0, 1]), (3, 4), ()),
    )
    for i, (name, cond, sa, sb) in enumerate(where_cases):
        torch.manual_seed(610 + i)
        a = torch.randn(sa, dtype=dtype, requires_grad=True)
        b = torch.randn(sb, dtype=dtype, requires_grad=True)
        y = torch.where(cond.bool(), a, b)
        gout = torch.randn(y.shape, dtype=dtype)
        y.backward(gout)
        p = f"{name}.{tag}."
        w.add(p + "cond", cond.to(dtype))
        w.add(p + "a", a)
        w.add(p + "b", b)
        w.add(p + "y", y)
        w.add(p + "gout", gout)
        w.add(p + "grad_a", a.grad)
        w.add(p + "grad_b", b.grad)

    mf_cases = (
        ("masked_fill_same", (2, 3), torch.tensor([[1.0, 0, 0], [0, 1, 1]]), -2.5),
        ("masked_fill_row_mask", (3, 4), torch.tensor([0.0, 1, 1, 0]), 0.0),
        ("masked_fill_col_mask", (3, 4), torch.tensor([[1.0], [0], [1]]), -inf),
        ("masked_fill_grows_x", (4,), torch.tensor([[[1.0, 0, 0, 1]], [[0, 1, 0, 0]]]), 7.0),
    )
    for i, (name, sx, mask, value) in enumerate(mf_cases):
        torch.manual_seed(620 + i)
        x = torch.randn(sx, dtype=dtype, requires_grad=True)
        y = x.masked_fill(mask.bool(), value)
        gout = torch.randn(y.shape, dtype=dtype)
        y.backward(gout)
        p = f"{name}.{tag}."
        w.add(p + "x", x)
        w.add(p + "mask", mask.to(dtype))
        w.add(p + "value", torch.tensor(value, dtype=dtype))
        w.add(p + "y", y)
        w.add(p + "gout", gout)
        w.add(p + "grad_x", x.grad)

    # masked_fill with a 0-d tensor value, which gets the sum of the gradient where the mask is 1
    torch.manual_seed(630)
    x = torch.randn(3, 4, dtype=dtype, requires_grad=True)
    value = torch.tensor(1.25, dtype=dtype, requires_grad=True)
    mask = torch.tensor([[1.0], [0], [1]]) * torch.tensor([1.0, 1, 0, 1])
    y = x.masked_fill(mask.bool(), value)
    gout = torch.randn(y.shape, dtype=dtype)
    y.backward(gout)
    p = f"masked_fill_tensor_value.{tag}."
    w.add(p + "x", x)
    w.add(p + "mask", mask.to(dtype))
    w.add(p + "value", value)
    w.add(p + "y", y)
    w.add(p + "gout", gout)
    w.add(p + "grad_x", x.grad)
    w.add(p + "grad_value", value.grad)

    # ---- tril, triu on the last two dims of any batch shape ----
    tri_cases = (
        ("sq", (4, 4), 0), ("wide", (3, 5), 1), ("tall", (5, 3), -1), ("batch", (2, 3, 4), 0),
        ("batch2", (2, 1, 3, 3), 2), ("far_above", (3, 4), 10), ("far_below", (3, 4), -10), ("empty_rows", (0, 3), 0),
    )
    for op_name, fn in (("tril", torch.tril), ("triu", torch.triu)):
        for i, (name, shape, k) in enumerate(tri_cases):
            torch.manual_seed(700 + i)
            x = torch.randn(shape, dtype=dtype)
            if x.numel() > 0:  # NaN in two corners: the one outside the triangle becomes 0, as PyTorch's
                x[..., 0, -1] = nan
                x[..., -1, 0] = nan
            x.requires_grad_()
            y = fn(x, k)
            gout = torch.randn(y.shape, dtype=dtype)
            y.backward(gout)
            p = f"{op_name}_{name}.{tag}."
            w.add(p + "x", x)
            w.add(p + "k", torch.tensor(float(k), dtype=dtype))
            w.add(p + "y", y)
            w.add(p + "gout", gout)
            w.add(p + "grad_x", x.grad)

w.write("vocab_elementwise.txt")
