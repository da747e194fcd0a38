#!/usr/bin/python3
"""Writes the PyTorch golden data of tapegrad's loss tests (tests/loss_test.cpp) to
tests/golden/loss.txt.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_loss_golden.py

Deterministic (private generators, one thread). Float cases use the double inputs rounded
to float32 and run torch in float32. <tag> is f32 or f64, <red> mean, sum or none.

Every case <c> (its prefix names the loss: ce_ cross_entropy, nll_ nll_loss, bce_
binary_cross_entropy, bcel_ binary_cross_entropy_with_logits, mse_ mse_loss, l1_ l1_loss):
    <c>.<tag>.x, .t           input and target (class indices held as floats, -100 ignored)
    <c>.<tag>.w, .pw          weight and pos_weight, when the case has them
    <c>.cfg                   [ignore_index, label_smoothing, target_requires_grad]
    <c>.<tag>.gout            the upstream gradient of the "none" output (the per-sample shape)
    <c>.<red>.<tag>.loss      the loss
    <c>.<red>.<tag>.gx, .gt   grads of input and (when it requires grad) target, for upstream
                              gradient 0.75 ("mean", "sum") or gout ("none")
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_num_threads(1)
DTYPES = ((torch.float32, "f32"), (torch.float64, "f64"))
REDUCTIONS = ("mean", "sum", "none")


def fixed(seed, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64) * scale


def indices(seed, shape, classes, ignored=None, ignore_value=-100):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, classes, shape, generator=g)
    if ignored is not None:
        t.view(-1)[list(ignored)] = ignore_value
    return t


def probabilities(seed, shape, class_dim):
    return torch.softmax(fixed(seed, *shape), dim=class_dim)


# name -> (loss, x, t, w, pw, ignore_index, label_smoothing, target grad)
CASES = {}


def case(name, loss, x, t, w=None, pw=None, ignore_index=-100, ls=0.0, target_grad=False):
    CASES[name] = (loss, x, t, w, pw, ignore_index, ls, target_grad)


C4 = torch.tensor([0.5, 2.0, 1.0, 0.25], dtype=torch.float64)
case("ce_basic", "ce", fixed(1, 5, 4), indices(2, (5,), 4))
case("ce_weight", "ce", fixed(3, 6, 4), indices(4, (6,), 4), w=C4)
case("ce_ignore", "ce", fixed(5, 6, 4), indices(6, (6,), 4, ignored=[1, 4], ignore_value=1), ignore_index=1)
case("ce_ignore_default", "ce", fixed(7, 5, 4), indices(8, (5,), 4, ignored=[0, 3]))
case("ce_smooth", "ce", fixed(9, 5, 4), indices(10, (5,), 4), ls=0.1)
case("ce_smooth_weight_ignore", "ce", fixed(11, 7, 4), indices(12, (7,), 4, ignored=[2, 5], ignore_value=3),
     w=C4, ignore_index=3, ls=0.2)
case("ce_nd", "ce", fixed(13, 2, 3, 4), indices(14, (2, 4), 3, ignored=[1, 6]), w=C4[:3], ls=0.1)
case("ce_4d", "ce", fixed(15, 2, 3, 2, 2), indices(16, (2, 2, 2), 3))
case("ce_unbatched", "ce", fixed(17, 5), indices(18, (), 5))
case("ce_unbatched_smooth", "ce", fixed(19, 5), indices(20, (), 5), w=torch.arange(1.0, 6.0, dtype=torch.float64), ls=0.3)
case("ce_large", "ce", fixed(21, 4, 3, scale=800.0), indices(22, (4,), 3))
case("ce_full_smooth", "ce", fixed(23, 3, 4), indices(24, (3,), 4), ls=1.0)
case("ce_prob", "ce", fixed(25, 4, 3), probabilities(26, (4, 3), 1), target_grad=True)
case("ce_prob_weight_smooth", "ce", fixed(27, 4, 4), probabilities(28, (4, 4), 1), w=C4, ls=0.15, target_grad=True)
case("ce_prob_nd", "ce", fixed(29, 2, 3, 2), probabilities(30, (2, 3, 2), 1), w=C4[:3], target_grad=True)
case("ce_prob_unbatched", "ce", fixed(31, 4), probabilities(32, (4,), 0), ls=0.05, target_grad=True)
case("nll_basic", "nll", torch.log_softmax(fixed(33, 5, 4), 1), indices(34, (5,), 4))
case("nll_weight_ignore", "nll", torch.log_softmax(fixed(35, 6, 4), 1), indices(36, (6,), 4, ignored=[0, 2], ignore_value=0),
     w=C4, ignore_index=0)
case("nll_nd", "nll", torch.log_softmax(fixed(37, 2, 3, 4), 1), indices(38, (2, 4), 3, ignored=[3]), w=C4[:3])
case("nll_unbatched", "nll", fixed(39, 4), indices(40, (), 4))
g = torch.Generator().manual_seed(41)
P = torch.rand(3, 4, generator=g, dtype=torch.float64) * 0.98 + 0.01
case("bce_weight", "bce", P, torch.rand(3, 4, generator=g, dtype=torch.float64), w=C4, target_grad=True)
case("bce_weight_column", "bce", P, torch.rand(3, 4, generator=g, dtype=torch.float64),
     w=torch.tensor([[2.0], [0.5], [1.5]], dtype=torch.float64), target_grad=True)
case("bce_plain", "bce", P, torch.rand(3, 4, generator=g, dtype=torch.float64), target_grad=True)
X = fixed(42, 3, 4) * 3
X[0, 0], X[0, 1], X[1, 2], X[2, 3] = 60.0, -60.0, 35.0, -500.0
T = torch.rand(3, 4, generator=g, dtype=torch.float64)
case("bcel_plain", "bcel", X, T, target_grad=True)
case("bcel_weight_pos", "bcel", X, T, w=torch.tensor([[2.0], [0.5], [1.5]], dtype=torch.float64), pw=C4 * 3,
     target_grad=True)
case("bcel_pos", "bcel", fixed(43, 2, 3, 4), torch.rand(2, 3, 4, generator=g, dtype=torch.float64), pw=C4 + 0.5,
     target_grad=True)
XM = fixed(44, 3, 5)
TM = fixed(45, 3, 5)
TM[0, 1], TM[2, 4] = XM[0, 1], XM[2, 4]  # equal elements: L1's gradient is 0 there
case("mse_plain", "mse", XM, TM, target_grad=True)
case("l1_plain", "l1", XM, TM, target_grad=True)


def run(loss, x, t, w, pw, ignore_index, ls, red):
    if loss == "ce":
        return F.cross_entropy(x, t, weight=w, ignore_index=ignore_index, reduction=red, label_smoothing=ls)
    if loss == "nll":
        return F.nll_loss(x, t, weight=w, ignore_index=ignore_index, reduction=red)
    if loss == "bce":
        return F.binary_cross_entropy(x, t, weight=w, reduction=red)
    if loss == "bcel":
        return F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=red)
    if loss == "mse":
        return F.mse_loss(x, t, reduction=red)
    return F.l1_loss(x, t, reduction=red)


def main():
    w = GoldenWriter()
    for name, (loss, x0, t0, w0, pw0, ignore_index, ls, target_grad) in CASES.items():
        w.add(f"{name}.cfg", torch.tensor([float(ignore_index), ls, float(target_grad)], dtype=torch.float64))
        for dtype, tag in DTYPES:
            x = x0.to(dtype)
            index_target = loss in ("ce", "nll") and t0.dtype == torch.int64
            t = t0 if index_target else t0.to(dtype)
            wt = None if w0 is None else w0.to(dtype)
            pwt = None if pw0 is None else pw0.to(dtype)
            w.add(f"{name}.{tag}.x", x)
            w.add(f"{name}.{tag}.t", t.to(dtype))
            if wt is not None:
                w.add(f"{name}.{tag}.w", wt)
            if pwt is not None:
                w.add(f"{name}.{tag}.pw", pwt)
            for red in REDUCTIONS:
                xr = x.clone().requires_grad_(True)
                tr = t.clone().requires_grad_(True) if target_grad else t
                out = run(loss, xr, tr, wt, pwt, ignore_index, ls, red)
                if red == "none":
                    gout = fixed(1000 + len(name), *out.shape).to(dtype)
                    w.add(f"{name}.{tag}.gout", gout)
                else:
                    gout = torch.tensor(0.75, dtype=dtype)
                out.backward(gout)
                w.add(f"{name}.{red}.{tag}.loss", out)
                w.add(f"{name}.{red}.{tag}.gx", xr.grad)
                if target_grad:
                    w.add(f"{name}.{red}.{tag}.gt", tr.grad)
    w.write("loss.txt")


if __name__ == "__main__":
    main()
