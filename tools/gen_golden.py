#!/usr/bin/python3
"""Writes the PyTorch golden data under tests/golden/ that tapegrad's tests read.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_golden.py

It rewrites tests/golden/rng.txt and tests/golden/core_ops.txt; commit them. The tests never
need PyTorch. The output is deterministic: every random input comes from a fixed seed, and
the inputs are written too, so the C++ side computes on exactly the same numbers.

File format: tools/golden_io.py (what tests/support/helpers.hpp's read_golden reads), named
tensors in row-major order with 17 significant digits.

rng.txt: PyTorch's CPU random streams (see docs/RANDOM_STREAMS.md) for float
and double: randn on both normal paths (n < 16 with the cached scalar Box-Muller, n >= 16
with the 16-wide block and its redrawn tail), rand, uniform_, normal_(mean, std),
bernoulli_, nn.Linear's init, a seed above 2^32 and the default seed.

core_ops.txt: forward values and input gradients of every differentiable op and of a few
composite expressions, in double and in float (the float numbers are computed by torch in
float32 from the same inputs rounded to float). Per case `<case>`:
    <case>.in<i>      input i (double), requires grad
    <case>.const<i>   input i (double), does not require grad
    <case>.gout       the upstream gradient given to backward() (absent: no gradient,
                      the output must not require grad)
    <case>.out.f64 / .out.f32           the op's output (no .f32 for the DOUBLE_ONLY cases)
    <case>.grad<i>.f64 / .grad<i>.f32   the gradient of input i
The composite case `mixed` also writes its intermediates as mixed.<name>.f64 / .f32.
"""
import os
import sys
import zlib

import torch

torch.set_num_threads(1)  # one reduction order, whatever the machine

# golden_io.py sits beside this script; import it from any working directory
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GOLDEN_DIR, GoldenWriter  # noqa: E402


# ---------------------------------------------------------------------------------------
# rng.txt
# ---------------------------------------------------------------------------------------

def write_rng():
    w = GoldenWriter()
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        torch.manual_seed(42)
        w.add(f"seed42.randn_100x10.{tag}", torch.randn(100, 10, dtype=dtype))

        # n < 16 goes through the cached scalar normal, n >= 16 through the 16-wide block
        # (with a redrawn tail when n % 16 != 0); the cache survives block fills.
        torch.manual_seed(3)
        for i, n in enumerate([5, 3, 17, 33, 1, 20, 2, 16]):
            w.add(f"seed3.randn{i}_{n}.{tag}", torch.randn(n, dtype=dtype))

        torch.manual_seed(7)
        w.add(f"seed7.bernoulli_0.8_1000.{tag}", torch.empty(1000, dtype=dtype).bernoulli_(0.8))

        torch.manual_seed(7)
        w.add(f"seed7.uniform_5x3.{tag}", torch.empty(5, 3, dtype=dtype).uniform_(-0.3, 0.3))
        w.add(f"seed7.rand_4x5.{tag}", torch.rand(4, 5, dtype=dtype))

        torch.manual_seed(11)
        w.add(f"seed11.normal0_7.{tag}", torch.empty(7, dtype=dtype).normal_(2.0, 0.5))
        w.add(f"seed11.normal1_4x10.{tag}", torch.empty(4, 10, dtype=dtype).normal_(-1.0, 3.0))
        w.add(f"seed11.normal2_3.{tag}", torch.empty(3, dtype=dtype).normal_(0.5, 2.0))
        w.add(f"seed11.normal3_16.{tag}", torch.empty(16, dtype=dtype).normal_(1.5, 0.25))

        # manual_seed keeps the low 32 bits of the seed
        torch.manual_seed(2**32 + 5)
        w.add(f"seed2^32+5.randn_6.{tag}", torch.randn(6, dtype=dtype))
        torch.manual_seed(5)
        w.add(f"seed5.randn_6.{tag}", torch.randn(6, dtype=dtype))

        # a fresh generator starts from PyTorch's default seed 67280421310721
        g = torch.Generator()
        w.add(f"default_seed.randn_20.{tag}", torch.randn(20, dtype=dtype, generator=g))
        w.add(f"default_seed.rand_3.{tag}", torch.rand(3, dtype=dtype, generator=g))

    torch.manual_seed(42)
    lin = torch.nn.Linear(10, 20)
    w.add("seed42.linear_10_20.weight.f32", lin.weight)
    w.add("seed42.linear_10_20.bias.f32", lin.bias)
    w.write("rng.txt")


# ---------------------------------------------------------------------------------------
# core_ops.txt
# ---------------------------------------------------------------------------------------

# Input specs: (kind, shape[, extra]); every input is made in double from a generator seeded
# with the case name, so adding a case never changes the others.
def make_input(spec, gen):
    kind, shape = spec[0], spec[1]
    d = torch.float64
    if kind == "randn":  # standard normal
        return torch.randn(shape, generator=gen, dtype=d)
    if kind == "pos":  # bounded away from 0: log, sqrt, fractional powers, divisors
        return torch.rand(shape, generator=gen, dtype=d) * 2 + 0.25
    if kind == "int":  # small integers, so comparisons and max have ties
        return torch.round(torch.randn(shape, generator=gen, dtype=d) * 1.5)
    if kind == "values":  # explicit values
        return torch.tensor(spec[2], dtype=d).reshape(shape)
    if kind == "onehot":  # rows of a one-hot matrix (no gradient)
        n, c = shape
        idx = torch.randint(0, c, (n,), generator=gen)
        return torch.nn.functional.one_hot(idx, c).to(d)
    raise ValueError(kind)


def R(*shape):
    return ("randn", shape)


def P(*shape):
    return ("pos", shape)


def I(*shape):
    return ("int", shape)


def V(values, *shape):
    return ("values", shape, values)


def C(spec):
    """Marks an input as a constant: it does not require grad."""
    return ("const", spec)


nan, inf = float("nan"), float("inf")

# name -> (function of the input list, input specs). The C++ test (tests/golden_test.cpp)
# has a lambda of the same name computing the same thing with tapegrad.
CASES = {
    # ---- arithmetic with broadcasting ----
    "arith.add_same": (lambda x: x[0] + x[1], [R(3, 4), R(3, 4)]),
    "arith.add_row_bias": (lambda x: x[0] + x[1], [R(5, 4), R(4)]),
    "arith.add_general": (lambda x: x[0] + x[1], [R(2, 1, 4), R(3, 1)]),
    "arith.add_0d": (lambda x: x[0] + x[1], [R(3, 4), R(*())]),
    "arith.add_self": (lambda x: x[0] + x[0], [R(2, 3)]),
    "arith.sub_outer": (lambda x: x[0] - x[1], [R(4, 1), R(1, 3)]),
    "arith.sub_leading": (lambda x: x[0] - x[1], [R(3), R(2, 3)]),
    "arith.mul_same": (lambda x: x[0] * x[1], [R(3, 4), R(3, 4)]),
    "arith.mul_bcast": (lambda x: x[0] * x[1], [R(2, 3, 4), R(3, 1)]),
    "arith.mul_self": (lambda x: x[0] * x[0], [R(3, 3)]),
    "arith.mul_const": (lambda x: x[0] * x[1], [R(3, 4), C(R(4))]),
    "arith.div_same": (lambda x: x[0] / x[1], [R(3, 4), P(3, 4)]),
    "arith.div_row": (lambda x: x[0] / x[1], [R(3, 4), P(4)]),
    "arith.div_col": (lambda x: x[0] / x[1], [R(4), P(3, 1)]),
    "arith.div_0d": (lambda x: x[0] / x[1], [R(2, 3), P(*())]),
    "arith.neg": (lambda x: -x[0], [R(3, 4)]),
    "arith.scalar_chain": (lambda x: ((x[0] + 2) * 3 - 1.5) / 4, [R(3, 4)]),
    "arith.scalar_left": (lambda x: 1 - (2.5 * x[0] + 0.5), [R(3, 4)]),
    "arith.rdiv": (lambda x: 2 / x[0], [P(3, 4)]),
    "arith.reciprocal": (lambda x: torch.reciprocal(x[0]), [P(3, 4)]),
    # ---- elementwise functions ----
    "unary.exp": (lambda x: torch.exp(x[0]), [R(3, 4)]),
    "unary.log": (lambda x: torch.log(x[0]), [P(3, 4)]),
    "unary.sqrt": (lambda x: torch.sqrt(x[0]), [P(3, 4)]),
    "unary.abs": (lambda x: torch.abs(x[0]), [V([-2.0, -0.5, 0.0, 0.25, 3.0, -0.0], 2, 3)]),
    "unary.abs_randn": (lambda x: torch.abs(x[0]), [R(3, 4)]),
    "unary.tanh": (lambda x: torch.tanh(x[0]), [R(3, 4)]),
    "unary.sigmoid": (lambda x: torch.sigmoid(x[0]), [R(3, 4)]),
    "unary.sigmoid_extreme": (lambda x: torch.sigmoid(x[0]),
                              [V([-1000.0, -50.0, -20.0, 0.0, 20.0, 50.0, 1000.0], 7)]),
    "unary.relu": (lambda x: torch.relu(x[0]), [V([-1.5, -0.0, 0.0, 0.5, 2.0, -3.0], 2, 3)]),
    "unary.relu_randn": (lambda x: torch.relu(x[0]), [R(3, 4)]),
    "unary.pow_2": (lambda x: torch.pow(x[0], 2), [R(3, 4)]),
    "unary.pow_3": (lambda x: torch.pow(x[0], 3), [R(3, 4)]),
    "unary.pow_0": (lambda x: torch.pow(x[0], 0), [R(3, 4)]),
    "unary.pow_1": (lambda x: torch.pow(x[0], 1), [R(3, 4)]),
    "unary.pow_half": (lambda x: torch.pow(x[0], 0.5), [P(3, 4)]),
    "unary.pow_neg_half": (lambda x: torch.pow(x[0], -0.5), [P(3, 4)]),
    "unary.pow_neg1": (lambda x: torch.pow(x[0], -1), [P(3, 4)]),
    "unary.pow_neg2": (lambda x: torch.pow(x[0], -2), [P(3, 4)]),
    "unary.pow_neg3": (lambda x: torch.pow(x[0], -3), [P(3, 4)]),
    "unary.pow_1.5": (lambda x: torch.pow(x[0], 1.5), [P(3, 4)]),
    "unary.pow_2.5": (lambda x: torch.pow(x[0], 2.5), [P(3, 4)]),
    "unary.pow_4": (lambda x: torch.pow(x[0], 4), [R(3, 4)]),
    # log(0) = -inf with an infinite gradient; sqrt(0) = 0 with an infinite gradient;
    # sqrt(-1) = nan; relu lets nan through.
    "edge.log_zero": (lambda x: torch.log(x[0]), [V([0.0, 1.0, 2.0], 3)]),
    "edge.sqrt_zero": (lambda x: torch.sqrt(x[0]), [V([0.0, 4.0, -1.0], 3)]),
    "edge.relu_nan": (lambda x: torch.relu(x[0]), [V([-1.0, nan, 2.0], 3)]),
    # exp under- and overflow, 16 values so vectorized code paths see them too
    "edge.exp_large": (lambda x: torch.exp(x[0]),
                       [V([-1000.0, -745.2, -720.0, -709.8, -104.0, -100.0, -88.8, -88.5,
                          -50.0, 0.0, 1.0, 80.0, 89.0, 709.0, 710.0, 800.0], 16)]),
    # ---- softmax ----
    "softmax.dim1": (lambda x: torch.softmax(x[0], 1), [R(4, 5)]),
    "softmax.dim0": (lambda x: torch.softmax(x[0], 0), [R(4, 5)]),
    "softmax.dim_neg2": (lambda x: torch.softmax(x[0], -2), [R(2, 3, 4)]),
    "softmax.dim_neg1": (lambda x: torch.softmax(x[0], -1), [R(2, 3, 4)]),
    "softmax.large": (lambda x: torch.softmax(x[0] * 1000, 1), [R(3, 4)]),
    "softmax.1d": (lambda x: torch.softmax(x[0], 0), [R(6)]),
    "log_softmax.dim1": (lambda x: torch.log_softmax(x[0], 1), [R(4, 5)]),
    "log_softmax.dim0": (lambda x: torch.log_softmax(x[0], 0), [R(4, 5)]),
    "log_softmax.dim_neg2": (lambda x: torch.log_softmax(x[0], -2), [R(2, 3, 4)]),
    "log_softmax.large": (lambda x: torch.log_softmax(x[0] * 1000, -1), [R(3, 4)]),
    "log_softmax.neg_inf": (lambda x: torch.log_softmax(x[0], 1),
                            [V([-inf, 0.0, 1.0, 2.0, -inf, 0.5], 2, 3)]),
    # ---- reductions ----
    "reduce.sum_all": (lambda x: x[0].sum(), [R(3, 4)]),
    "reduce.sum_dim0": (lambda x: x[0].sum(0), [R(3, 4)]),
    "reduce.sum_dim1_keepdim": (lambda x: x[0].sum(1, keepdim=True), [R(3, 4)]),
    "reduce.sum_middle": (lambda x: x[0].sum(1), [R(2, 3, 4)]),
    "reduce.sum_neg1": (lambda x: x[0].sum(-1), [R(2, 3, 4)]),
    "reduce.sum_neg3_keepdim": (lambda x: x[0].sum(-3, keepdim=True), [R(2, 3, 4)]),
    "reduce.mean_all": (lambda x: x[0].mean(), [R(3, 4)]),
    "reduce.mean_dim0": (lambda x: x[0].mean(0), [R(3, 4)]),
    "reduce.mean_neg1_keepdim": (lambda x: x[0].mean(-1, keepdim=True), [R(2, 3, 4)]),
    "reduce.mean_middle": (lambda x: x[0].mean(1), [R(2, 3, 4)]),
    "reduce.var_all": (lambda x: x[0].var(), [R(3, 4)]),
    "reduce.var_dim0": (lambda x: x[0].var(0), [R(5, 3)]),
    "reduce.var_dim1_biased_keepdim": (lambda x: x[0].var(1, unbiased=False, keepdim=True), [R(3, 5)]),
    "reduce.var_neg2": (lambda x: x[0].var(-2), [R(2, 3, 4)]),
    "reduce.var_offset": (lambda x: x[0].var(1), [("offset", (3, 6))]),
    "reduce.max_all": (lambda x: x[0].max(), [R(3, 4)]),
    "reduce.max_all_ties": (lambda x: x[0].max(), [V([1.0, 3.0, 3.0, 0.0, 3.0, -1.0], 2, 3)]),
    "reduce.max_dim1": (lambda x: x[0].max(1).values, [R(3, 4)]),
    "reduce.max_dim0_keepdim": (lambda x: x[0].max(0, keepdim=True).values, [R(3, 4)]),
    "reduce.max_neg1": (lambda x: x[0].max(-1).values, [R(2, 3, 4)]),
    "reduce.max_middle": (lambda x: x[0].max(1).values, [R(2, 3, 4)]),
    "reduce.max_dim_ties": (lambda x: x[0].max(1).values, [V([2.0, 5.0, 5.0, 1.0, 7.0, 7.0, 7.0, 0.0], 2, 4)]),
    # ---- matmul ----
    "matmul.mm": (lambda x: x[0] @ x[1], [R(3, 4), R(4, 5)]),
    "matmul.nd_2d": (lambda x: x[0] @ x[1], [R(2, 3, 4), R(4, 5)]),
    "matmul.batched": (lambda x: x[0] @ x[1], [R(2, 3, 4), R(2, 4, 5)]),
    "matmul.bcast_batch": (lambda x: x[0] @ x[1], [R(2, 1, 3, 4), R(3, 4, 2)]),
    "matmul.bcast_left": (lambda x: x[0] @ x[1], [R(3, 4), R(2, 4, 5)]),
    "matmul.vec_mat": (lambda x: x[0] @ x[1], [R(4), R(4, 5)]),
    "matmul.mat_vec": (lambda x: x[0] @ x[1], [R(3, 4), R(4)]),
    "matmul.vec_vec": (lambda x: x[0] @ x[1], [R(4), R(4)]),
    "matmul.nd_vec": (lambda x: x[0] @ x[1], [R(2, 3, 4), R(4)]),
    "matmul.vec_nd": (lambda x: x[0] @ x[1], [R(4), R(2, 4, 5)]),
    "matmul.const_rhs": (lambda x: x[0] @ x[1], [R(3, 4), C(R(4, 2))]),
    "matmul.same": (lambda x: x[0] @ x[0], [R(4, 4)]),
    # ---- shape ops ----
    "shape.reshape": (lambda x: x[0].reshape(2, 6), [R(3, 4)]),
    "shape.reshape_infer": (lambda x: x[0].reshape(-1, 4), [R(2, 3, 4)]),
    "shape.view_flatten": (lambda x: x[0].flatten(), [R(2, 3, 4)]),
    "shape.unsqueeze1": (lambda x: x[0].unsqueeze(1), [R(3, 4)]),
    "shape.unsqueeze_neg1": (lambda x: x[0].unsqueeze(-1), [R(3, 4)]),
    "shape.squeeze_all": (lambda x: x[0].squeeze(), [R(1, 3, 1, 4)]),
    "shape.squeeze0": (lambda x: x[0].squeeze(0), [R(1, 3, 4)]),
    "shape.squeeze_noop": (lambda x: x[0].squeeze(-1), [R(3, 4)]),
    "shape.t": (lambda x: x[0].t(), [R(3, 4)]),
    "shape.transpose02": (lambda x: x[0].transpose(0, 2), [R(2, 3, 4)]),
    "shape.transpose_neg": (lambda x: x[0].transpose(-1, -2), [R(2, 3, 4)]),
    "shape.narrow": (lambda x: x[0].narrow(1, 1, 3), [R(4, 5)]),
    "shape.narrow_neg": (lambda x: x[0].narrow(-2, 1, 2), [R(2, 4, 3)]),
    # ---- comparisons: 0/1 values, no gradient ----
    "cmp.gt_bcast": (lambda x: (x[0] > x[1]).double(), [I(3, 4), I(4)]),
    "cmp.lt_scalar": (lambda x: (x[0] < 0.5).double(), [I(3, 4)]),
    "cmp.ge_scalar_left": (lambda x: (0 >= x[0]).double(), [I(3, 4)]),
    "cmp.le_same": (lambda x: (x[0] <= x[1]).double(), [I(3, 4), I(3, 4)]),
    "cmp.eq_bcast": (lambda x: (x[0] == x[1]).double(), [I(3, 1), I(1, 4)]),
    "cmp.ne_scalar": (lambda x: (x[0] != 1).double(), [I(3, 4)]),
    # ---- composites: gradients meeting from several paths ----
    "composite.diamond": (lambda x: torch.exp(x[0] * 0.5) + (x[0] * 2) * (x[0] * 2) + torch.tanh(x[0]),
                          [R(3, 4)]),
    "composite.bce": (lambda x: -torch.mean(x[2] * torch.log(torch.sigmoid(x[0] @ x[1]) + 1e-8)
                                            + (1 - x[2]) * torch.log(1 - torch.sigmoid(x[0] @ x[1]) + 1e-8)),
                      [R(6, 3), R(3, 1), C(("binary", (6, 1)))]),
    "composite.layer": (lambda x: torch.relu(x[0] @ x[1].t() + x[2]).sum(1, keepdim=True)
                        / (x[0].var(1, keepdim=True) + 1),
                        [R(5, 3), R(4, 3), R(4)]),
    "composite.normalize": (lambda x: (x[0] - x[0].mean(0)) / torch.sqrt(x[0].var(0, unbiased=False) + 1e-5),
                            [R(6, 3)]),
}


# Cases checked in double only: their float results are ill-conditioned, so float32 PyTorch and
# float32 tapegrad differ by far more than 1e-5 for reasons of summation order alone.
# reduce.var_offset: the gradient 2 (x - mean) / (n - 1) with x ~ 1000 and x - mean ~ 1 loses
# three digits to cancellation; one float ulp of the mean (6e-5) moves it by ~1e-4 relative.
DOUBLE_ONLY = {"reduce.var_offset"}


def make_case_input(spec, gen):
    if spec[0] == "offset":  # values far from zero: var's two-pass accuracy matters
        return torch.randn(spec[1], generator=gen, dtype=torch.float64) + 1000.0
    if spec[0] == "binary":
        return (torch.rand(spec[1], generator=gen, dtype=torch.float64) > 0.5).double()
    return make_input(spec, gen)


def run(fn, inputs, requires, dtype, gout):
    xs = [x.detach().clone().to(dtype).requires_grad_(r) for x, r in zip(inputs, requires)]
    out = fn(xs)
    grads = [None] * len(xs)
    if gout is not None:
        out.backward(gout.to(dtype))
        grads = [x.grad if r else None for x, r in zip(xs, requires)]
    return out.detach(), grads


def mixed(X, W, bias, onehot):
    """The mixed expression: matmul + broadcast bias, sigmoid * softmax, keepdim reductions,
    cross-entropy through log_softmax with a one-hot mask, the unary zoo, broadcast division,
    var and max over a dim. Returns the loss and the intermediates by name."""
    z = X @ W + bias                                        # (8, 4)
    s = torch.sigmoid(z) * torch.softmax(z, 1)              # (8, 4)
    r = s.sum(1, keepdim=True) / s.mean(0, keepdim=True)    # (8, 1) / (1, 4) -> (8, 4)
    ce = -(onehot * torch.log_softmax(z, 1)).sum()          # ()
    u = (torch.exp(-torch.abs(z)) + torch.log(1 + z * z) + torch.sqrt(s)
         + torch.pow(torch.tanh(z), 2) + torch.relu(z) + torch.pow(s + 0.1, 1.5))  # (8, 4)
    q = u / (1 + torch.abs(bias))                           # (8, 4) / (4)
    v = q.var(0)                                            # (4)
    m = r.max(1).values                                     # (8)
    mx = q.max(-1, keepdim=True).values                     # (8, 1)
    loss = ce + v.sum() + 0.5 * m.mean() - torch.pow(mx - q.mean(1, keepdim=True), 2).mean() / r.mean()
    return loss, dict(z=z, s=s, r=r, ce=ce, u=u, q=q, v=v, m=m, mx=mx, loss=loss)


def write_core_ops():
    w = GoldenWriter()
    # ---- the mixed expression ----
    gen = torch.Generator().manual_seed(20240601)
    X = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    W = torch.randn(5, 4, generator=gen, dtype=torch.float64) * 0.7
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    onehot = make_input(("onehot", (8, 4)), gen)
    for name, t in (("X", X), ("W", W), ("bias", bias), ("onehot", onehot)):
        w.add(f"mixed.{name}", t)
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        Xd, Wd, bd = (t.detach().clone().to(dtype).requires_grad_() for t in (X, W, bias))
        loss, parts = mixed(Xd, Wd, bd, onehot.to(dtype))
        loss.backward()
        for name, t in parts.items():
            w.add(f"mixed.{name}.{tag}", t)
        w.add(f"mixed.grad_X.{tag}", Xd.grad)
        w.add(f"mixed.grad_W.{tag}", Wd.grad)
        w.add(f"mixed.grad_bias.{tag}", bd.grad)

    # ---- one case per op ----
    for case, (fn, specs) in CASES.items():
        gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))
        inputs, requires = [], []
        for i, spec in enumerate(specs):
            const = spec[0] == "const"
            x = make_case_input(spec[1] if const else spec, gen)
            inputs.append(x)
            requires.append(not const)
            w.add(f"{case}.{'const' if const else 'in'}{i}", x)
        probe, _ = run(fn, inputs, requires, torch.float64, None)
        differentiable = probe.dtype.is_floating_point and not case.startswith("cmp.")
        gout = torch.randn(probe.shape, generator=gen, dtype=torch.float64) if differentiable else None
        if gout is not None:
            w.add(f"{case}.gout", gout)
        for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
            if dtype == torch.float32 and case in DOUBLE_ONLY:
                continue
            out, grads = run(fn, inputs, requires, dtype, gout)
            w.add(f"{case}.out.{tag}", out)
            for i, g in enumerate(grads):
                if g is not None:
                    w.add(f"{case}.grad{i}.{tag}", g)
    w.write("core_ops.txt")
    print(f"  {len(CASES)} op cases + the mixed expression")


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: the golden data was made with torch 1.13, this is {torch.__version__}",
              file=sys.stderr)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    write_rng()
    write_core_ops()


if __name__ == "__main__":
    main()
