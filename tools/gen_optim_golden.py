#!/usr/bin/python3
"""Writes the PyTorch golden data of tapegrad's SGD, AdamW, learning-rate schedule, gradient
clipping and nn.init tests (tests/optim_sgd_test.cpp, tests/optim_adamw_test.cpp,
tests/optim_clip_test.cpp, tests/init_test.cpp) under tests/golden/optim.txt and init.txt.

Run from the repository root with Debian's python3-torch (1.13):

    /usr/bin/python3 tools/gen_optim_golden.py

Deterministic (fixed seeds, one thread); commit what it writes. <tag> is f32 or f64; float
cases run on the double inputs rounded to float32.

optim.txt. The problem: two parameters W (4, 5) and b (3) in a quadratic bowl, each with the
gradient g = (p - target) * curvature computed by hand (one subtraction and one product per
element, so both sides feed the optimizer the same bits; "maximize" configs feed
(target - p) * curvature):
    prob.W0, prob.b0, prob.tW, prob.tb, prob.cW, prob.cb   start, targets, curvatures (double)
    <opt>.<cfg>.<tag>.W.<k>, .b.<k>   the parameters after step k = 1..20
    <opt>.<cfg>.<tag>.lr.<k>          (scheduled cases) the optimizer's lr after the
                                      scheduler's k-th step, which follows optimizer step k
  sgd.<cfg>: plain (lr 0.1), momentum (lr 0.05, momentum 0.9), dampening (lr 0.05, momentum
      0.9, dampening 0.3), nesterov (lr 0.05, momentum 0.9, nesterov), decay (lr 0.1, momentum
      0.5, weight_decay 0.05), maximize (lr 0.1, momentum 0.9, weight_decay 0.01, maximize)
  sgd.steplr: SGD(lr 0.1, momentum 0.9, nesterov) under StepLR(step_size 5, gamma 0.5)
  adamw.<cfg>: default (AdamW(lr 0.05), weight_decay 1e-2), custom (lr 0.05, betas (0.8,
      0.99), eps 1e-6, weight_decay 0.1, amsgrad), noams (custom without amsgrad)
  adamw.cosine: AdamW(lr 0.05) under CosineAnnealingLR(T_max 7, eta_min 1e-3), 20 steps
  sched.<name>.lr   the lr after each of 3 * T_max + 2 scheduler steps (StepLR: 30 steps) from
      lr 0.1, no optimizer steps: cos<T_max>_<eta_min index> for T_max 1, 2, 3, 7, 10 and
      eta_min 0, 1e-3 (index 0, 1); step3_g03 (StepLR(3, 0.3)), step1_g05 (StepLR(1, 0.5))
  clip.<case>.<tag>.g0, .g1, .g2    the three gradients before clipping: (4, 5), (3), (2, 2, 3)
  clip.<case>.<tag>.total           the returned total norm
  clip.<case>.<tag>.c0, .c1, .c2    the gradients after clip_grad_norm_ (c1 absent in nograd)
      cases: l2_clip (max_norm 1), l2_noclip (max_norm 100), inf (max_norm 0.5, inf), l1
      (max_norm 2, norm 1), l3 (max_norm 1, norm 3), nograd (parameter 1 has no gradient,
      max_norm 1)
optim_sgd_torch.safetensors, optim_adamw_torch.safetensors: torch's own optimizer.state_dict()
    after the first 10 steps of sgd.nesterov.f64 and adamw.custom.f64, in tg::save(optimizer)'s
    layout ("state.<i>.<name>" tensors; metadata "optimizer" the class, "param_groups" the JSON
    of state_dict()["param_groups"], foreach as null): a tapegrad optimizer loading it over the
    parameters after step 10 continues to steps 11..20
init.txt:
    gain.<name>                 calculate_gain(name) (leaky_relu also with param 0.2: gain.leaky_relu_0.2)
    <fn>.<case>.<tag>           the tensor after torch.manual_seed(seed); fn(tensor, ...),
                                cases listed in CASES below
    seq.<tag>.a, .b, .c         after manual_seed(7): xavier_uniform_(a (4, 5)), kaiming_normal_(b
                                (3, 17)), uniform_(c (6), -1, 1), in that order (one stream)
"""
import json
import math
import os

import torch

from golden_io import GOLDEN_DIR, GoldenWriter
from safetensors_io import serialize

torch.set_num_threads(1)
DTYPES = ((torch.float64, "f64"), (torch.float32, "f32"))
STEPS = 20


def fixed(seed, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def problem():
    g = torch.Generator().manual_seed(700)
    curv = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64) * 1.5 + 0.5
    return dict(W0=fixed(701, 4, 5), b0=fixed(702, 3), tW=fixed(703, 4, 5), tb=fixed(704, 3), cW=curv(4, 5), cb=curv(3))


def run(w, name, make_opt, dtype, tag, maximize=False, make_sched=None, checkpoint=None):
    pb = problem()
    W = pb["W0"].to(dtype).clone().requires_grad_()
    b = pb["b0"].to(dtype).clone().requires_grad_()
    targets = [pb["tW"].to(dtype), pb["tb"].to(dtype)]
    curvs = [pb["cW"].to(dtype), pb["cb"].to(dtype)]
    opt = make_opt([W, b])
    sched = make_sched(opt) if make_sched else None
    for k in range(1, STEPS + 1):
        with torch.no_grad():
            for p, t, c in zip((W, b), targets, curvs):
                p.grad = (t - p) * c if maximize else (p - t) * c
        opt.step()
        w.add(f"{name}.{tag}.W.{k}", W)
        w.add(f"{name}.{tag}.b.{k}", b)
        if sched:
            sched.step()
            w.add(f"{name}.{tag}.lr.{k}", torch.tensor(opt.param_groups[0]["lr"], dtype=torch.float64))
        if checkpoint and k == 10:
            write_checkpoint(opt, checkpoint)


def write_checkpoint(opt, filename):
    sd = opt.state_dict()
    tensors = {f"state.{i}.{name}": t for i, s in sd["state"].items() for name, t in s.items() if t is not None}
    meta = {"optimizer": type(opt).__name__, "param_groups": json.dumps(sd["param_groups"], separators=(",", ":"))}
    path = os.path.join(GOLDEN_DIR, filename)
    with open(path, "wb") as f:
        f.write(serialize(tensors, meta))
    print(f"wrote {path}: {sorted(tensors)} {meta}")


def write_optim():
    w = GoldenWriter()
    for key, value in problem().items():
        w.add(f"prob.{key}", value)
    S = torch.optim.SGD
    sgd = {
        "plain": (lambda p: S(p, lr=0.1), False),
        "momentum": (lambda p: S(p, lr=0.05, momentum=0.9), False),
        "dampening": (lambda p: S(p, lr=0.05, momentum=0.9, dampening=0.3), False),
        "nesterov": (lambda p: S(p, lr=0.05, momentum=0.9, nesterov=True), False),
        "decay": (lambda p: S(p, lr=0.1, momentum=0.5, weight_decay=0.05), False),
        "maximize": (lambda p: S(p, lr=0.1, momentum=0.9, weight_decay=0.01, maximize=True), True),
    }
    A = torch.optim.AdamW
    adamw = {
        "default": lambda p: A(p, lr=0.05),
        "custom": lambda p: A(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True),
        "noams": lambda p: A(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=False),
    }
    for dtype, tag in DTYPES:
        for cfg, (make, maximize) in sgd.items():
            checkpoint = "optim_sgd_torch.safetensors" if (cfg, tag) == ("nesterov", "f64") else None
            run(w, f"sgd.{cfg}", make, dtype, tag, maximize, checkpoint=checkpoint)
        for cfg, make in adamw.items():
            checkpoint = "optim_adamw_torch.safetensors" if (cfg, tag) == ("custom", "f64") else None
            run(w, f"adamw.{cfg}", make, dtype, tag, checkpoint=checkpoint)
        run(w, "sgd.steplr", lambda p: S(p, lr=0.1, momentum=0.9, nesterov=True), dtype, tag,
            make_sched=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5))
        run(w, "adamw.cosine", lambda p: A(p, lr=0.05), dtype, tag,
            make_sched=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=1e-3))

    def lrs(make_sched, steps):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = make_sched(opt)
        out = []
        for _ in range(steps):
            sched.step()
            out.append(sched.get_last_lr()[0])
        return torch.tensor(out, dtype=torch.float64)

    C = torch.optim.lr_scheduler.CosineAnnealingLR
    for T in (1, 2, 3, 7, 10):
        for i, eta in enumerate((0.0, 1e-3)):
            w.add(f"sched.cos{T}_{i}.lr", lrs(lambda o: C(o, T_max=T, eta_min=eta), 3 * T + 2))
    St = torch.optim.lr_scheduler.StepLR
    w.add("sched.step3_g03.lr", lrs(lambda o: St(o, step_size=3, gamma=0.3), 30))
    w.add("sched.step1_g05.lr", lrs(lambda o: St(o, step_size=1, gamma=0.5), 30))

    clip_cases = {"l2_clip": (1.0, 2.0), "l2_noclip": (100.0, 2.0), "inf": (0.5, math.inf),
                  "l1": (2.0, 1.0), "l3": (1.0, 3.0), "nograd": (1.0, 2.0)}
    shapes = ((4, 5), (3,), (2, 2, 3))
    for case, (max_norm, norm_type) in clip_cases.items():
        for dtype, tag in DTYPES:
            grads = [fixed(710 + i, *s, scale=0.4).to(dtype) for i, s in enumerate(shapes)]
            params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in shapes]
            for i, (p, g) in enumerate(zip(params, grads)):
                w.add(f"clip.{case}.{tag}.g{i}", g)
                if not (case == "nograd" and i == 1):
                    p.grad = g.clone()
            total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
            w.add(f"clip.{case}.{tag}.total", total.double())
            for i, p in enumerate(params):
                if p.grad is not None:
                    w.add(f"clip.{case}.{tag}.c{i}", p.grad)
    w.write("optim.txt")


# fn name -> list of (case, seed, shape, kwargs)
CASES = {
    "uniform_": [("a", 11, (4, 5), dict(a=-2.0, b=3.0)), ("d", 12, (3, 17), dict())],
    "normal_": [("a", 13, (4, 5), dict(mean=1.0, std=0.5)), ("d", 14, (3, 17), dict())],
    "xavier_uniform_": [("a", 15, (4, 5), dict()), ("conv", 16, (6, 3, 3, 3), dict(gain=2.0))],
    "xavier_normal_": [("a", 17, (4, 5), dict()), ("conv", 18, (6, 3, 3, 3), dict(gain=0.5))],
    "kaiming_uniform_": [("a", 19, (4, 5), dict()), ("sqrt5", 20, (6, 3, 3, 3), dict(a=math.sqrt(5))),
                         ("out_relu", 21, (3, 17), dict(mode="fan_out", nonlinearity="relu"))],
    "kaiming_normal_": [("a", 22, (4, 5), dict()), ("conv", 23, (6, 3, 3, 3), dict(a=0.1)),
                        ("out_relu", 24, (3, 17), dict(mode="fan_out", nonlinearity="relu")),
                        ("tanh", 25, (5, 4, 2), dict(nonlinearity="tanh"))],
}


def write_init():
    w = GoldenWriter()
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        w.add(f"gain.{name}", torch.tensor(torch.nn.init.calculate_gain(name), dtype=torch.float64))
    w.add("gain.leaky_relu_0.2", torch.tensor(torch.nn.init.calculate_gain("leaky_relu", 0.2), dtype=torch.float64))
    for fn, cases in CASES.items():
        for case, seed, shape, kwargs in cases:
            for dtype, tag in DTYPES:
                t = torch.empty(shape, dtype=dtype)
                torch.manual_seed(seed)
                getattr(torch.nn.init, fn)(t, **kwargs)
                w.add(f"{fn}.{case}.{tag}", t)
    for dtype, tag in DTYPES:
        a, b, c = torch.empty(4, 5, dtype=dtype), torch.empty(3, 17, dtype=dtype), torch.empty(6, dtype=dtype)
        torch.manual_seed(7)
        torch.nn.init.xavier_uniform_(a)
        torch.nn.init.kaiming_normal_(b)
        torch.nn.init.uniform_(c, -1, 1)
        w.add(f"seq.{tag}.a", a)
        w.add(f"seq.{tag}.b", b)
        w.add(f"seq.{tag}.c", c)
    w.write("init.txt")


if __name__ == "__main__":
    write_optim()
    write_init()
