#!/usr/bin/python3
"""Writes the PyTorch golden data of tapegrad's nn and optim tests (tests/nn_test.cpp,
tests/optim_test.cpp) under tests/golden/nn_*.txt.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_nn_golden.py

The output is deterministic (fixed seeds, one thread); commit the files it writes. The tests
never need PyTorch. Inputs that are not drawn from the global generator inside a case are
written too, so the C++ side computes on exactly the same numbers. Float cases use the same
inputs rounded to float32 (written as those float values) and run torch in float32.

File format: tools/golden_io.py (what tests/support/helpers.hpp's read_golden reads), named
tensors in row-major order with 17 significant digits. <tag> below is f32 or f64.

nn_linear.txt (case <c> = lin<in>x<out>s<seed>[_nobias]):
    <c>.<tag>.weight, .bias    nn.Linear(in, out, dtype) right after torch.manual_seed(seed)
    <c>.<tag>.x2, .gout2       a (4, in) input and the upstream gradient of its output
    <c>.<tag>.y2, .gx2, .gw2, .gb2    output, grads of input, weight, bias
    <c>.<tag>.x3 ... .gb3      the same for a 3-D (2, 3, in) input
nn_batchnorm.txt (case <c> = bn2d: (8, 3) input, default eps and momentum;
                  bn3d: (4, 3, 5) input, eps 1e-3, momentum 0.25):
    <c>.<tag>.weight, .bias    the affine parameters set before the first call
    <c>.<tag>.x1, .g1          training call 1 and the upstream gradient of its output
    <c>.<tag>.y1, .gx1, .gw1, .gb1
    <c>.<tag>.x2, .y2          training call 2 (no backward)
    <c>.<tag>.running_mean, .running_var, .num_batches_tracked   after the two calls
    <c>.<tag>.xe, .ge, .ye, .gxe, .gwe, .gbe   one eval-mode call and its backward
                               (weight and bias grads cleared before it)
nn_dropout.txt (case <c> = d<seed>_p<p>):
    <c>.<tag>.x                the input
    <c>.<tag>.y1, .y2          F.dropout(x, p, training=True) twice after manual_seed(seed)
    <c>.<tag>.gx1              grad of x for y1.sum()
nn_loss.txt:
    bce.<tag>.p, .t, .loss, .gp, .gt   F.binary_cross_entropy (mean), with p exactly 0 and 1
                                       at some elements (the -100 log clamp), grads for
                                       upstream 1; gt only on bce_interior (PyTorch's target
                                       grad is -logit(p), infinite at p = 0 or 1)
    bce_interior.<tag>.p, .t, .loss, .gp, .gt
    mse.<tag>.x, .t, .loss, .gx, .gt   F.mse_loss (mean)
nn_adam.txt: W (3, 4) and b (4) (double, and float for `custom`), loss =
    sum((x @ W + b - t)^2) with x (5, 3), t (5, 4); 20 steps of torch.optim.Adam.
    adam.x, adam.t, adam.W0, adam.b0   the problem (double; the float run rounds them)
    adam.<cfg>.<tag>.W.<k>, .b.<k>, .loss.<k>   params after step k (1..20) and the loss
                                       computed before step k
    cfgs: custom (lr 0.05, betas (0.8, 0.99), eps 1e-6, weight_decay 0.1, amsgrad true),
          noams (the same, amsgrad false), default (Adam(params), lr 1e-3)
nn_sequential.txt:
    demo42.<key>        named_parameters of the demo's model (examples/bce_training.cpp),
                        built after manual_seed(42) and randn(100, 10)
    demo42.X            that randn(100, 10)
    nested3.<key>       after manual_seed(3): Sequential(Linear(4, 8), Sequential(BatchNorm1d(8),
                        ReLU(), Linear(8, 8)), Linear(8, 2))
    nested3.next_rand   rand(3) drawn right after building it
nn_training.txt: seed 7, X = randn(64, 6), y = (X[:,0] * X[:,1] > 0) as a float column,
    Linear(6,16) BatchNorm1d(16) ReLU Dropout(0.3) Linear(16,8) ReLU Linear(8,1) Sigmoid,
    Adam(lr 0.02, betas (0.85, 0.995), weight_decay 1e-3), the demo's hand-written BCE, 40
    epochs in float32.
    train7.X, train7.y, train7.init.<key>   the data and the initial parameters
    train7.loss         the loss of every epoch (40), before that epoch's step
    train7.final.<key>  parameters and buffers after the 40 steps
    train7.eval_pred    the eval-mode predictions of X[:8] after training
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)  # one reduction order, whatever the machine

# golden_io.py sits beside this script; import it from any working directory
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

DTYPES = ((torch.float32, "f32"), (torch.float64, "f64"))


def fixed(seed, *shape, scale=1.0):
    """A double tensor from a private generator: never touches the global stream."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def leaf(t, dtype):
    return t.detach().to(dtype).clone().requires_grad_(True)


# ---------------------------------------------------------------------------------------
# nn_linear.txt
# ---------------------------------------------------------------------------------------

def write_linear():
    w = GoldenWriter()
    for seed, fin, fout, bias in ((0, 5, 3, True), (3, 7, 4, True), (11, 6, 2, False)):
        case = f"lin{fin}x{fout}s{seed}" + ("" if bias else "_nobias")
        for dtype, tag in DTYPES:
            torch.manual_seed(seed)
            lin = nn.Linear(fin, fout, bias=bias, dtype=dtype)
            p = f"{case}.{tag}"
            w.add(f"{p}.weight", lin.weight)
            if bias:
                w.add(f"{p}.bias", lin.bias)
            for k, shape in (("2", (4, fin)), ("3", (2, 3, fin))):
                x = leaf(fixed(100 + seed + len(shape), *shape), dtype)
                gout = fixed(200 + seed + len(shape), *shape[:-1], fout).to(dtype)
                lin.zero_grad(set_to_none=True)
                y = lin(x)
                y.backward(gout)
                w.add(f"{p}.x{k}", x)
                w.add(f"{p}.gout{k}", gout)
                w.add(f"{p}.y{k}", y)
                w.add(f"{p}.gx{k}", x.grad)
                w.add(f"{p}.gw{k}", lin.weight.grad)
                if bias:
                    w.add(f"{p}.gb{k}", lin.bias.grad)
    w.write("nn_linear.txt")


# ---------------------------------------------------------------------------------------
# nn_batchnorm.txt
# ---------------------------------------------------------------------------------------

def add_call_and_backward(w, p, k, bn, x0, g0, dtype):
    """Calls bn on x0 and backpropagates g0, both as dtype; writes <p>.x<k>, the upstream
    gradient <p>.g<k>, the output <p>.y<k> and the gradients <p>.gx<k>, .gw<k>, .gb<k>."""
    x = leaf(x0, dtype)
    y = bn(x)
    y.backward(g0.to(dtype))
    w.add(f"{p}.x{k}", x)
    w.add(f"{p}.g{k}", g0.to(dtype))
    w.add(f"{p}.y{k}", y)
    w.add(f"{p}.gx{k}", x.grad)
    w.add(f"{p}.gw{k}", bn.weight.grad)
    w.add(f"{p}.gb{k}", bn.bias.grad)


def write_batchnorm():
    w = GoldenWriter()
    cases = (("bn2d", (8, 3), {}), ("bn3d", (4, 3, 5), {"eps": 1e-3, "momentum": 0.25}))
    for ci, (case, shape, kwargs) in enumerate(cases):
        C = shape[1]
        base = 300 + 10 * ci
        weight0 = 1 + 0.5 * fixed(base, C)
        bias0 = 0.3 * fixed(base + 1, C)
        # shifted and scaled inputs: the statistics are far from (0, 1)
        x1 = fixed(base + 2, *shape) * 2.0 + 0.7
        g1 = fixed(base + 3, *shape)
        x2 = fixed(base + 4, *shape) * 0.5 - 1.3
        xe = fixed(base + 5, *shape)
        ge = fixed(base + 6, *shape)
        for dtype, tag in DTYPES:
            p = f"{case}.{tag}"
            bn = nn.BatchNorm1d(C, dtype=dtype, **kwargs)
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
            bn.zero_grad(set_to_none=True)
            add_call_and_backward(w, p, "e", bn, xe, ge, dtype)
    w.write("nn_batchnorm.txt")


# ---------------------------------------------------------------------------------------
# nn_dropout.txt
# ---------------------------------------------------------------------------------------

def write_dropout():
    w = GoldenWriter()
    for seed, p_drop, shape in ((0, 0.3, (4, 5)), (5, 0.5, (37,)), (9, 0.2, (2, 3, 7)), (1, 0.0, (6,)),
                                (2, 1.0, (6,))):
        case = f"d{seed}_p{p_drop}"
        x0 = fixed(400 + seed, *shape)
        for dtype, tag in DTYPES:
            p = f"{case}.{tag}"
            x = leaf(x0, dtype)
            torch.manual_seed(seed)
            y1 = F.dropout(x, p_drop, training=True)
            y2 = F.dropout(x, p_drop, training=True)
            y1.sum().backward()
            w.add(f"{p}.x", x)
            w.add(f"{p}.y1", y1)
            w.add(f"{p}.y2", y2)
            w.add(f"{p}.gx1", x.grad)
    w.write("nn_dropout.txt")


# ---------------------------------------------------------------------------------------
# nn_loss.txt
# ---------------------------------------------------------------------------------------

def write_loss():
    w = GoldenWriter()
    g = torch.Generator().manual_seed(500)
    p_mid = torch.rand(3, 4, generator=g, dtype=torch.float64) * 0.98 + 0.01
    t_mid = torch.rand(3, 4, generator=g, dtype=torch.float64)
    # p exactly 0 and 1 against hard and soft targets: log(0) is clamped at -100
    p_edge = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    t_edge = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3, 0.6, 1.0, 0.0], dtype=torch.float64)
    p_all = torch.cat([p_mid.reshape(-1), p_edge]).reshape(4, 5)
    t_all = torch.cat([t_mid.reshape(-1), t_edge]).reshape(4, 5)
    for dtype, tag in DTYPES:
        for case, p0, t0, with_gt in (("bce", p_all, t_all, False), ("bce_interior", p_mid, t_mid, True)):
            pr = leaf(p0, dtype)
            tr = leaf(t0, dtype) if with_gt else t0.to(dtype)
            loss = F.binary_cross_entropy(pr, tr)
            loss.backward()
            w.add(f"{case}.{tag}.p", pr)
            w.add(f"{case}.{tag}.t", tr)
            w.add(f"{case}.{tag}.loss", loss)
            w.add(f"{case}.{tag}.gp", pr.grad)
            if with_gt:
                w.add(f"{case}.{tag}.gt", tr.grad)
        x = leaf(fixed(510, 3, 4), dtype)
        t = leaf(fixed(511, 3, 4), dtype)
        loss = F.mse_loss(x, t)
        loss.backward()
        w.add(f"mse.{tag}.x", x)
        w.add(f"mse.{tag}.t", t)
        w.add(f"mse.{tag}.loss", loss)
        w.add(f"mse.{tag}.gx", x.grad)
        w.add(f"mse.{tag}.gt", t.grad)
    w.write("nn_loss.txt")


# ---------------------------------------------------------------------------------------
# nn_adam.txt
# ---------------------------------------------------------------------------------------

def write_adam():
    w = GoldenWriter()
    x0, t0, W0, b0 = fixed(600, 5, 3), fixed(601, 5, 4), fixed(602, 3, 4), fixed(603, 4)
    w.add("adam.x", x0)
    w.add("adam.t", t0)
    w.add("adam.W0", W0)
    w.add("adam.b0", b0)
    configs = {
        "custom": dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True),
        "noams": dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=False),
        "default": dict(),
    }
    for cfg, kwargs in configs.items():
        dtypes = DTYPES if cfg == "custom" else ((torch.float64, "f64"),)
        for dtype, tag in dtypes:
            x, t = x0.to(dtype), t0.to(dtype)
            W, b = leaf(W0, dtype), leaf(b0, dtype)
            opt = torch.optim.Adam([W, b], **kwargs)
            for k in range(1, 21):
                loss = ((x @ W + b - t) ** 2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                w.add(f"adam.{cfg}.{tag}.loss.{k}", loss)
                w.add(f"adam.{cfg}.{tag}.W.{k}", W)
                w.add(f"adam.{cfg}.{tag}.b.{k}", b)
    w.write("nn_adam.txt")


# ---------------------------------------------------------------------------------------
# nn_sequential.txt
# ---------------------------------------------------------------------------------------

def write_sequential():
    w = GoldenWriter()
    torch.manual_seed(42)
    X = torch.randn(100, 10)
    model = nn.Sequential(nn.Linear(10, 20), nn.BatchNorm1d(20), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(20, 1), nn.Sigmoid())
    w.add("demo42.X", X)
    for key, value in model.named_parameters():
        w.add(f"demo42.{key}", value)
    # nested: the inner Sequential's Linear draws between the outer two
    torch.manual_seed(3)
    nested = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8)),
                           nn.Linear(8, 2))
    for key, value in nested.named_parameters():
        w.add(f"nested3.{key}", value)
    w.add("nested3.next_rand", torch.rand(3))
    w.write("nn_sequential.txt")


# ---------------------------------------------------------------------------------------
# nn_training.txt
# ---------------------------------------------------------------------------------------

def write_training():
    w = GoldenWriter()
    torch.manual_seed(7)
    X = torch.randn(64, 6)
    y = (X[:, 0] * X[:, 1] > 0).float().unsqueeze(1)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=0.02, betas=(0.85, 0.995), weight_decay=1e-3)
    w.add("train7.X", X)
    w.add("train7.y", y)
    for key, value in model.named_parameters():
        w.add(f"train7.init.{key}", value)
    losses = []
    model.train()
    for _ in range(40):
        p = model(X)
        loss = -torch.mean(y * torch.log(p + 1e-8) + (1 - y) * torch.log(1 - p + 1e-8))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    w.add("train7.loss", torch.tensor(losses, dtype=torch.float32))
    for key, value in model.state_dict().items():
        w.add(f"train7.final.{key}", value)
    model.eval()
    with torch.no_grad():
        w.add("train7.eval_pred", model(X[:8]))
    w.write("nn_training.txt")


if __name__ == "__main__":
    write_linear()
    write_batchnorm()
    write_dropout()
    write_loss()
    write_adam()
    write_sequential()
    write_training()
