#!/usr/bin/python3
"""Writes the PyTorch golden data of tests/activation_test.cpp (tests/golden/activation.txt).

Run with Debian's python3-torch (1.13), which only the system interpreter sees:

    /usr/bin/python3 tools/gen_activation_golden.py

Deterministic; commit what it writes. Float cases use the double inputs rounded to float32 and
run torch in float32. For each case <c> of CASES and <tag> f32 or f64:
    act.<c>.<tag>.x, .g, .v    the input, the upstream gradient, the second upstream gradient
    act.<c>.<tag>.y, .gx       the output and the input's gradient for g
    act.<c>.<tag>.ggx          the gradient of sum(gx * v) with respect to x (create_graph)
The inputs: 40 normal values scaled by 3, then -20, -8, -1, 0, 1, 8, 20, as a (6, 8) tensor.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_num_threads(1)
DTYPES = ((torch.float32, "f32"), (torch.float64, "f64"))


def fixed(seed, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def inputs(seed):
    # 54 values: whole vector packets and a tail past them, for every packet width
    x = torch.cat([fixed(seed, 46, scale=3.0), torch.tensor([-20.0, -8, -1, 0, 1, 8, 20, 0.5], dtype=torch.float64)])
    return x.reshape(6, 9)


CASES = [
    ("leaky_relu", lambda x: F.leaky_relu(x)),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2)),
    ("leaky_relu_neg", lambda x: F.leaky_relu(x, -1.5)),
    ("gelu", lambda x: F.gelu(x)),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
    ("silu", lambda x: F.silu(x)),
    ("log_softmax", lambda x: F.log_softmax(x, -1)),
    ("log_softmax_dim0", lambda x: F.log_softmax(x, 0)),
    ("erf", lambda x: torch.erf(x)),
]


def main():
    w = GoldenWriter()
    for ci, (case, fn) in enumerate(CASES):
        x0 = inputs(10 + ci)
        g0 = fixed(100 + ci, 6, 9)
        v0 = fixed(200 + ci, 6, 9)
        for dtype, tag in DTYPES:
            p = f"act.{case}.{tag}"
            x = x0.to(dtype).clone().requires_grad_(True)
            g, v = g0.to(dtype), v0.to(dtype)
            y = fn(x)
            (gx,) = torch.autograd.grad(y, x, g, create_graph=True)
            (ggx,) = torch.autograd.grad(gx, x, v, allow_unused=True)
            if ggx is None:
                ggx = torch.zeros_like(x)
            for name, t in (("x", x), ("g", g), ("v", v), ("y", y), ("gx", gx), ("ggx", ggx)):
                w.add(f"{p}.{name}", t)
    w.write("activation.txt")


if __name__ == "__main__":
    main()
