#!/usr/bin/python3
"""Writes the PyTorch golden data of tests/pooling_test.cpp: 2-d pooling and BatchNorm2d.

Run from anywhere with Debian's python3-torch (1.13), which only the system interpreter sees:

    /usr/bin/python3 tools/gen_pooling_golden.py

Deterministic (private generators, one thread); commit what it writes. Float cases use the
double inputs rounded to float32 and run torch in float32. <tag> is f32 or f64.

pooling.txt, for each case <c> of CASES (the C++ test has the same table):
    pool.<c>.<tag>.x, .g       the input and the upstream gradient of the output
    pool.<c>.<tag>.y, .gx      the output and the input's gradient
pooling_batchnorm2d.txt, cases bn4d: (4, 3, 5, 6), default eps and momentum; bn4d_big:
(8, 4, 16, 16), eps 1e-3, momentum 0.25 (long float sums), as nn_batchnorm.txt:
    <c>.<tag>.weight, .bias, .x1, .g1, .y1, .gx1, .gw1, .gb1, .x2, .y2,
    .running_mean, .running_var, .num_batches_tracked, .xe, .ge, .ye, .gxe, .gwe, .gbe
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_num_threads(1)
DTYPES = ((torch.float32, "f32"), (torch.float64, "f64"))


def fixed(seed, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def ties(seed, *shape):
    """Small integers: many equal values in a window (the first index wins)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, shape, generator=g).double()


def with_specials(seed, *shape):
    x = fixed(seed, *shape)
    flat = x.view(-1)
    flat[3] = float("nan")
    flat[4] = float("nan")
    flat[10] = float("-inf")
    flat[11] = float("inf")
    flat[20] = float("nan")
    return x


# name, input maker, function of x
CASES = [
    ("max_k2", lambda: fixed(1, 2, 3, 6, 7), lambda x: F.max_pool2d(x, 2)),
    ("max_k3s2p1", lambda: fixed(2, 2, 2, 7, 8), lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("max_rect", lambda: fixed(3, 1, 2, 7, 9), lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 0), (1, 2))),
    ("max_ceil", lambda: fixed(4, 2, 2, 7, 7), lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("max_ceil_last", lambda: fixed(5, 1, 2, 5, 5), lambda x: F.max_pool2d(x, 3, 3, 1, ceil_mode=True)),
    ("max_dil", lambda: fixed(6, 1, 3, 9, 8), lambda x: F.max_pool2d(x, 3, 1, 1, 2)),
    ("max_unbatched", lambda: fixed(7, 3, 5, 6), lambda x: F.max_pool2d(x, 2, 1)),
    ("max_ties", lambda: ties(8, 2, 2, 6, 6), lambda x: F.max_pool2d(x, 3, 1, 1)),
    ("max_specials", lambda: with_specials(9, 1, 2, 6, 6), lambda x: F.max_pool2d(x, 2, 1)),
    ("max_empty_batch", lambda: fixed(10, 0, 2, 4, 4), lambda x: F.max_pool2d(x, 2)),
    ("avg_k2", lambda: fixed(11, 2, 3, 6, 7), lambda x: F.avg_pool2d(x, 2)),
    ("avg_k3s2p1", lambda: fixed(12, 2, 2, 7, 8), lambda x: F.avg_pool2d(x, 3, 2, 1)),
    ("avg_k3s2p1_nopad", lambda: fixed(12, 2, 2, 7, 8), lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    ("avg_ceil", lambda: fixed(13, 2, 2, 7, 7), lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("avg_ceil_nopad", lambda: fixed(13, 2, 2, 7, 7), lambda x: F.avg_pool2d(x, 3, 2, 1, True, False)),
    ("avg_ceil_last", lambda: fixed(14, 1, 2, 5, 5), lambda x: F.avg_pool2d(x, 3, 3, 1, ceil_mode=True)),
    ("avg_ceil_nopadding", lambda: fixed(15, 1, 2, 6, 7), lambda x: F.avg_pool2d(x, 4, 3, ceil_mode=True)),
    ("avg_divisor", lambda: fixed(16, 1, 2, 6, 6), lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=5)),
    ("avg_rect", lambda: fixed(17, 2, 2, 8, 9), lambda x: F.avg_pool2d(x, (3, 2), (1, 2), (1, 1))),
    ("avg_unbatched", lambda: fixed(18, 3, 6, 5), lambda x: F.avg_pool2d(x, 2, 1)),
    ("adaptive_3x4", lambda: fixed(21, 2, 3, 7, 9), lambda x: F.adaptive_avg_pool2d(x, (3, 4))),
    ("adaptive_same", lambda: fixed(22, 2, 2, 5, 5), lambda x: F.adaptive_avg_pool2d(x, 5)),
    ("adaptive_1", lambda: fixed(23, 2, 4, 6, 7), lambda x: F.adaptive_avg_pool2d(x, 1)),
    ("adaptive_unbatched", lambda: fixed(24, 3, 10, 7), lambda x: F.adaptive_avg_pool2d(x, (4, 3))),
    ("adaptive_up", lambda: fixed(25, 2, 1, 3, 3), lambda x: F.adaptive_avg_pool2d(x, (5, 4))),
]


def write_pooling():
    w = GoldenWriter()
    for ci, (case, make, fn) in enumerate(CASES):
        x0 = make()
        for dtype, tag in DTYPES:
            p = f"pool.{case}.{tag}"
            x = x0.to(dtype).clone().requires_grad_(True)
            y = fn(x)
            g = fixed(500 + ci, *y.shape).to(dtype)
            y.backward(g)
            gx = x.grad if x.grad is not None else torch.zeros_like(x)
            w.add(f"{p}.x", x)
            w.add(f"{p}.g", g)
            w.add(f"{p}.y", y)
            w.add(f"{p}.gx", gx)
    w.write("pooling.txt")


def add_call_and_backward(w, p, k, bn, x0, g0, dtype):
    x = x0.detach().to(dtype).clone().requires_grad_(True)
    y = bn(x)
    y.backward(g0.to(dtype))
    w.add(f"{p}.x{k}", x)
    w.add(f"{p}.g{k}", g0.to(dtype))
    w.add(f"{p}.y{k}", y)
    w.add(f"{p}.gx{k}", x.grad)
    w.add(f"{p}.gw{k}", bn.weight.grad)
    w.add(f"{p}.gb{k}", bn.bias.grad)


def write_batchnorm2d():
    w = GoldenWriter()
    cases = (("bn4d", (4, 3, 5, 6), {}), ("bn4d_big", (8, 4, 16, 16), {"eps": 1e-3, "momentum": 0.25}))
    for ci, (case, shape, kwargs) in enumerate(cases):
        C = shape[1]
        base = 700 + 10 * ci
        weight0 = 1 + 0.5 * fixed(base, C)
        bias0 = 0.3 * fixed(base + 1, C)
        x1 = fixed(base + 2, *shape) * 2.0 + 0.7
        g1 = fixed(base + 3, *shape)
        x2 = fixed(base + 4, *shape) * 0.5 - 1.3
        xe = fixed(base + 5, *shape)
        ge = fixed(base + 6, *shape)
        for dtype, tag in DTYPES:
            p = f"{case}.{tag}"
            bn = nn.BatchNorm2d(C, dtype=dtype, **kwargs)
            with torch.no_grad():
                bn.weight.copy_(weight0)
                bn.bias.copy_(bias0)
            w.add(f"{p}.weight", bn.weight)
            w.add(f"{p}.bias", bn.bias)
            bn.train()
            add_call_and_backward(w, p, "1", bn, x1, g1, dtype)
            x = x2.to(dtype)
            w.add(f"{p}.x2", x)
            w.add(f"{p}.y2", bn(x))
            w.add(f"{p}.running_mean", bn.running_mean)
            w.add(f"{p}.running_var", bn.running_var)
            w.add(f"{p}.num_batches_tracked", bn.num_batches_tracked)
            bn.eval()
            bn.zero_grad(set_to_none=False)
            add_call_and_backward(w, p, "e", bn, xe, ge, dtype)
    w.write("pooling_batchnorm2d.txt")


if __name__ == "__main__":
    write_pooling()
    write_batchnorm2d()
