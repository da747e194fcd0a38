#!/usr/bin/python3
"""Writes tests/golden/higher_order.txt: PyTorch's first, second and third derivatives of every
differentiable op, and torch.autograd.functional's jacobian, hessian, vjp and hvp, for
tests/higher_order_test.cpp.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_higher_order_golden.py

Everything is double. The output is deterministic: every random tensor comes from a generator
seeded with the case's name (adding a case never changes the others), torch runs on one
thread, and the inputs are written too, so the C++ side computes on exactly the same numbers.
File format: tools/golden_io.py (named tensors, row-major, 17 significant digits).

---- Per-op cases (CASES below; tests/higher_order_test.cpp has a twin of each function) ----
A case `<c>` has inputs x_0..x_n, some requiring grad and some constants, and a function
y = f(x). With fixed random tensors w (shaped like y) and u_i, r_i (shaped like each
differentiable x_i), PyTorch computes

    L   = (y * w).sum()
    g_i = autograd.grad(L, x_i, create_graph=True, allow_unused=True)       first derivatives
    s   = sum_i (g_i * u_i).sum()
    h_i = autograd.grad(s, x_i, create_graph=True, allow_unused=True)       Hessian-vector products
    t   = sum_i (h_i * r_i).sum()
    k_i = autograd.grad(t, x_i, allow_unused=True)                          third derivatives

(one grad call per level, over all differentiable inputs at once; a sum skips the terms whose
g_i or h_i is None). When the scalar (L, s or t) does not require grad, PyTorch would raise
instead of differentiating it, so the call is not made and every result of that level is None:
that happens where the previous level's results are constants of x (e.g. a linear op's g, a
quadratic's h, and relu's, abs's and max's g do not depend on x smoothly).

Names (i is the input's position in f's argument list, constants included):
    <c>.in<i>     input i, requires grad          <c>.const<i>  input i, a constant
    <c>.w         the weight of L, shaped like y
    <c>.u<i>      the weight of g_i in s          <c>.r<i>      the weight of h_i in t
    <c>.y         f(x)
    <c>.g<i>, <c>.h<i>, <c>.k<i>   the first, second and third derivatives; where PyTorch gave
                  None (or made no call), zeros of x_i's shape. The C++ side must treat an
                  undefined result as zeros, and must skip (results all zeros) a level whose
                  scalar does not require grad.
    <c>.status    shape (3, n_inputs), per level (g, h, k) and input, what PyTorch returned:
                  2 = a tensor that requires grad, 1 = a tensor that does not, 0 = None (or no
                  call made), -1 = a constant input (no gradient asked). Informational: the
                  numbers, with None read as zeros, are the contract, not where PyTorch
                  happens to return None rather than zeros. (abs's h is 1: PyTorch returns
                  an "efficient zero tensor" there, written as zeros.)

Two safeguards run on every case. A finite-difference check (torch.autograd.gradgradcheck of
x -> g(x)) confirms PyTorch's second and third derivatives. It caught PyTorch 1.13's fused
batch norm in training: its third derivative is wrong (pytorch/pytorch#186256, the double
backward treats the saved batch mean and invstd as constants), so the k of the nn.batch_norm_
train* cases comes from the same function built from primitive ops (bn_train_decomposed),
which agrees with the fused op's y, g and h to 1e-13 (checked) and passes gradgradcheck. And
a conditioning check moves every input by a few ulps and requires the results to move by far
less than the C++ test's tolerance (1e-10 relative + 1e-12 absolute).

---- torch.autograd.functional (FUNCTIONS below) ----
One input tensor x each; the constants the function closes over are written, so the C++
lambda uses the same numbers. Per function `<f>` (names start with `fn.`):
    <f>.x                       the point
    <f>.c<j>                    constant j of the function (see its definition below)
    <f>.y                       f(x)
    <f>.jacobian                jacobian(f, x), shape y.shape + x.shape
    <f>.vjp_v, <f>.vjp          vjp(f, x, v) = (f(x), v^T J): v and the product (vector f)
    <f>.hessian                 hessian(f, x), shape x.shape + x.shape (scalar f)
    <f>.hvp_v, <f>.hvp          hvp(f, x, v) = (f(x), H v): v and the product (scalar f)
The functions, with c0, c1, ... their constants:
    fn.tanh_layer(x)   x (4):   tanh(c0 @ x + c1), c0 (3, 4), c1 (3)                  vector
    fn.log_softmax(x)  x (2,3): log_softmax(x @ c0, -1), c0 (3, 3)                    vector
    fn.pow_ratio(x)    x (5) > 0: x^2.5 / (1 + x) * sigmoid(x)                         vector
    fn.cubic_pairs(x)  x (4):   x.pow(3).sum() + tanh(x[:, None] * x[None, :]).sum()    scalar
                       (also its jacobian: the gradient, shape (4))
    fn.mlp_weight(x)   x (2,3): mse_loss(linear(tanh(linear(c0, x, c1)), c2), c3),
                       c0 (4, 3), c1 (2), c2 (1, 2), c3 (4, 1)                         scalar
    fn.xent_var(x)     x (2,3): -(log_softmax(x, 1) * c0).sum() + x.var(0).sum()
                       + sqrt(x.pow(2).sum(1) + 1).sum(), c0 (2, 3) one-hot rows       scalar
"""
import os
import sys
import zlib

import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # one reduction order, whatever the machine

# golden_io.py sits beside this script; import it from any working directory
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GOLDEN_DIR, GoldenWriter  # noqa: E402

D = torch.float64
OUTPUT = "higher_order.txt"


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------

def make_input(spec, gen):
    kind, shape = spec[0], spec[1]
    if kind == "randn":  # standard normal
        return torch.randn(shape, generator=gen, dtype=D)
    if kind == "pos":  # in [0.5, 2): log, sqrt, fractional and negative powers, divisors
        return torch.rand(shape, generator=gen, dtype=D) * 1.5 + 0.5
    if kind == "kinkless":  # |x| in [0.3, 1.5), random sign: away from abs's and relu's kink
        mag = torch.rand(shape, generator=gen, dtype=D) * 1.2 + 0.3
        sign = torch.where(torch.rand(shape, generator=gen, dtype=D) < 0.5, -1.0, 1.0).to(D)
        return mag * sign
    if kind == "prob":  # probabilities in [0.05, 0.95)
        return torch.rand(shape, generator=gen, dtype=D) * 0.9 + 0.05
    if kind == "unit":  # targets in [0, 1)
        return torch.rand(shape, generator=gen, dtype=D)
    if kind == "onehot":  # rows of a one-hot matrix
        n, c = shape
        idx = torch.randint(0, c, (n,), generator=gen)
        return F.one_hot(idx, c).to(D)
    if kind == "values":  # explicit values
        return torch.tensor(spec[2], dtype=D).reshape(shape)
    raise ValueError(kind)


def R(*shape):
    return ("randn", shape)


def P(*shape):
    return ("pos", shape)


def K(*shape):
    return ("kinkless", shape)


def PR(*shape):
    return ("prob", shape)


def U(*shape):
    return ("unit", shape)


def OH(*shape):
    return ("onehot", shape)


def V(values, *shape):
    return ("values", shape, values)


def C(spec):
    """Marks an input as a constant: it does not require grad."""
    return ("const", spec)


def bn_train(x, w, b, rm, rv):
    return F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)


def bn_eval(x, w, b, rm, rv):
    return F.batch_norm(x, rm, rv, w, b, training=False, momentum=0.1, eps=1e-5)


def bn_train_decomposed(x, w, b, rm, rv):
    """bn_train from primitive ops (the running statistics, which the output does not depend
    on, are left alone). PyTorch 1.13's fused batch norm gets the third derivative wrong in
    training (pytorch/pytorch#186256: its double backward treats the saved mean and invstd as
    constants); the k of the training cases comes from this instead, see DECOMPOSED."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) * (x - mean)).mean(dims, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w.reshape(shape) + b.reshape(shape)


def mlp_loss(X, W1, b1, W2, b2, T):
    return F.mse_loss(F.linear(torch.tanh(F.linear(X, W1, b1)), W2, b2), T)


def gradient_penalty(x, W):
    """WGAN-GP style: the norm of d(critic)/dx, pushed towards 1. The inner grad has
    create_graph=True, so y already holds first derivatives and the h, k of the case are
    third and fourth derivatives of tanh."""
    critic = torch.tanh(x @ W).sum()
    gx = torch.autograd.grad(critic, x, create_graph=True)[0]
    return (gx.pow(2).sum(1).sqrt() - 1).pow(2).mean()


# name -> (f, input specs); f takes the inputs as separate arguments. tests/higher_order_test.cpp
# has a lambda of the same name computing the same thing with tapegrad. Linear ops are mostly
# wrapped in a nonlinearity (pow(3), tanh, softmax) so that their backward runs on a gradient
# that carries a graph and their double backward is reached; a few stay bare.
CASES = {
    # ---- + - * / between tensors, with broadcasting ----
    "arith.add": (lambda a, b: a + b, [R(3, 4), R(4)]),
    "arith.add_tanh": (lambda a, b: torch.tanh(a + b), [R(3, 4), R(4)]),
    "arith.add_3d": (lambda a, b: (a + b).pow(3), [R(2, 1, 3), R(4, 3)]),
    "arith.sub_3d": (lambda a, b: (a - b).pow(3), [R(2, 1, 3), R(4, 3)]),
    "arith.sub_row": (lambda a, b: torch.tanh(a - b), [R(4), R(3, 4)]),
    "arith.mul_row": (lambda a, b: a * b, [R(3, 4), R(4)]),
    "arith.mul_3d": (lambda a, b: torch.tanh(a * b), [R(2, 1, 3), R(4, 3)]),
    "arith.mul_self": (lambda a: a * a * a, [R(3, 4)]),
    "arith.mul_const": (lambda a, c: torch.tanh(a * c), [R(3, 4), C(R(4))]),
    "arith.div_row": (lambda a, b: a / b, [R(3, 4), P(4)]),
    "arith.div_3d": (lambda a, b: a / b, [R(2, 1, 3), P(4, 3)]),
    "arith.div_self": (lambda a: (a + 1) / a, [P(3, 4)]),
    "arith.neg": (lambda a: -a, [R(3, 4)]),
    "arith.neg_cubed": (lambda a: (-a).pow(3), [R(3, 4)]),
    # ---- tensor-scalar forms ----
    "scalar.add": (lambda a: a + 2, [R(2, 3)]),
    "scalar.add_cubed": (lambda a: (a + 2).pow(3), [R(2, 3)]),
    "scalar.radd_cubed": (lambda a: (2 + a).pow(3), [R(2, 3)]),
    "scalar.rsub_cubed": (lambda a: (2 - a).pow(3), [R(2, 3)]),
    "scalar.sub_tanh": (lambda a: torch.tanh(a - 0.5), [R(2, 3)]),
    "scalar.mul_tanh": (lambda a: torch.tanh(a * 3), [R(2, 3)]),
    "scalar.rmul_cubed": (lambda a: (2.5 * a).pow(3), [R(2, 3)]),
    "scalar.div_cubed": (lambda a: (a / 3).pow(3), [R(2, 3)]),
    "scalar.rdiv": (lambda a: 3 / a, [P(2, 3)]),
    "scalar.chain": (lambda a: (((a + 2) * 3 - 1.5) / 4).pow(3), [R(2, 3)]),
    # ---- elementwise functions ----
    "unary.exp": (lambda a: torch.exp(a), [R(2, 3)]),
    "unary.log": (lambda a: torch.log(a), [P(2, 3)]),
    "unary.sqrt": (lambda a: torch.sqrt(a), [P(2, 3)]),
    "unary.abs": (lambda a: torch.abs(a), [K(2, 3)]),
    "unary.abs_cubed": (lambda a: torch.abs(a).pow(3), [K(2, 3)]),
    "unary.tanh": (lambda a: torch.tanh(a), [R(2, 3)]),
    "unary.sigmoid": (lambda a: torch.sigmoid(a), [R(2, 3)]),
    "unary.relu": (lambda a: torch.relu(a), [K(2, 3)]),
    "unary.relu_cubed": (lambda a: torch.relu(a).pow(3), [K(2, 3)]),
    "unary.relu_times_x": (lambda a: torch.relu(a) * a, [K(2, 3)]),
    "unary.reciprocal": (lambda a: torch.reciprocal(a), [P(2, 3)]),
    "unary.exp_log": (lambda a: torch.log(torch.exp(a) + a * a), [R(2, 3)]),
    # ---- pow with a scalar exponent ----
    "pow.2": (lambda a: torch.pow(a, 2), [R(2, 3)]),
    "pow.3": (lambda a: torch.pow(a, 3), [R(2, 3)]),
    "pow.0.5": (lambda a: torch.pow(a, 0.5), [P(2, 3)]),
    "pow.-1": (lambda a: torch.pow(a, -1), [P(2, 3)]),
    "pow.-0.5": (lambda a: torch.pow(a, -0.5), [P(2, 3)]),
    "pow.2.5": (lambda a: torch.pow(a, 2.5), [P(2, 3)]),
    "pow.0": (lambda a: torch.pow(a, 0), [R(2, 3)]),
    "pow.2_of_tanh": (lambda a: torch.pow(torch.tanh(a), 2), [R(2, 3)]),
    # ---- matmul in every form ----
    "matmul.dot": (lambda a, b: a @ b, [R(4), R(4)]),
    "matmul.mat_vec": (lambda a, b: a @ b, [R(3, 4), R(4)]),
    "matmul.vec_mat": (lambda a, b: a @ b, [R(4), R(4, 3)]),
    "matmul.mm": (lambda a, b: a @ b, [R(3, 4), R(4, 2)]),
    "matmul.nd_2d": (lambda a, b: a @ b, [R(2, 3, 4), R(4, 2)]),
    "matmul.batched": (lambda a, b: a @ b, [R(2, 3, 4), R(2, 4, 2)]),
    "matmul.bcast_batch": (lambda a, b: a @ b, [R(2, 1, 3, 4), R(3, 4, 5)]),
    "matmul.dot_tanh": (lambda a, b: torch.tanh(a @ b), [R(4), R(4)]),
    "matmul.mat_vec_tanh": (lambda a, b: torch.tanh(a @ b), [R(3, 4), R(4)]),
    "matmul.vec_mat_tanh": (lambda a, b: torch.tanh(a @ b), [R(4), R(4, 3)]),
    "matmul.mm_tanh": (lambda a, b: torch.tanh(a @ b), [R(3, 4), R(4, 2)]),
    "matmul.nd_2d_tanh": (lambda a, b: torch.tanh(a @ b), [R(2, 3, 4), R(4, 2)]),
    "matmul.batched_tanh": (lambda a, b: torch.tanh(a @ b), [R(2, 3, 4), R(2, 4, 2)]),
    "matmul.bcast_batch_tanh": (lambda a, b: torch.tanh(a @ b), [R(2, 1, 2, 3), R(3, 3, 2)]),
    "matmul.self": (lambda a: torch.tanh(a @ a), [R(3, 3)]),
    "matmul.const_rhs": (lambda a, c: torch.tanh(a @ c), [R(3, 4), C(R(4, 2))]),
    # ---- reductions ----
    "reduce.sum_all": (lambda a: a.sum(), [R(3, 4)]),
    "reduce.sum_all_cubed": (lambda a: a.sum().pow(3), [R(3, 4)]),
    "reduce.sum_dim": (lambda a: a.sum(1).pow(3), [R(3, 4)]),
    "reduce.sum_dim_keepdim": (lambda a: torch.tanh(a.sum(0, keepdim=True)), [R(3, 4)]),
    "reduce.sum_neg_dim": (lambda a: a.sum(-2).pow(3), [R(2, 3, 4)]),
    "reduce.mean_all": (lambda a: torch.tanh(a.mean()), [R(3, 4)]),
    "reduce.mean_dim": (lambda a: a.mean(-1).pow(3), [R(2, 3, 4)]),
    "reduce.mean_dim_keepdim": (lambda a: (a - a.mean(1, keepdim=True)).pow(3), [R(3, 4)]),
    "reduce.var_unbiased": (lambda a: a.var(1), [R(3, 4)]),
    "reduce.var_biased_keepdim": (lambda a: a.var(0, unbiased=False, keepdim=True), [R(4, 3)]),
    "reduce.var_unbiased_keepdim_sqrt": (lambda a: torch.sqrt(a.var(-1, keepdim=True) + 0.1), [R(2, 3, 4)]),
    "reduce.var_biased_tanh": (lambda a: torch.tanh(a.var(1, unbiased=False)), [R(3, 4)]),
    "reduce.max_all": (lambda a: a.max(), [R(3, 4)]),
    "reduce.max_all_cubed": (lambda a: a.max().pow(3), [R(3, 4)]),
    "reduce.max_dim": (lambda a: a.max(1).values, [R(3, 4)]),
    "reduce.max_dim_keepdim_cubed": (lambda a: a.max(0, keepdim=True).values.pow(3), [R(3, 4)]),
    "reduce.max_neg_dim_tanh": (lambda a: torch.tanh(a.max(-1).values * 2), [R(2, 3, 4)]),
    # ---- softmax, log_softmax ----
    "softmax.dim0": (lambda a: torch.softmax(a, 0), [R(3, 4)]),
    "softmax.dim1": (lambda a: torch.softmax(a, 1), [R(3, 4)]),
    "softmax.dim_neg1": (lambda a: torch.softmax(a, -1), [R(2, 3, 4)]),
    "log_softmax.dim0": (lambda a: torch.log_softmax(a, 0), [R(3, 4)]),
    "log_softmax.dim1": (lambda a: torch.log_softmax(a, 1), [R(3, 4)]),
    "log_softmax.dim_neg1": (lambda a: torch.log_softmax(a, -1), [R(2, 3, 4)]),
    # ---- shape ops ----
    "shape.reshape": (lambda a: a.reshape(-1), [R(3, 4)]),
    "shape.reshape_softmax": (lambda a: torch.softmax(a.reshape(4, 3), 1), [R(3, 4)]),
    "shape.unsqueeze_outer": (lambda a: torch.tanh(a.unsqueeze(1) * a.unsqueeze(0)), [R(4)]),
    "shape.squeeze_dim": (lambda a: a.squeeze(1).pow(3), [R(3, 1, 4)]),
    "shape.squeeze_all": (lambda a: torch.softmax(a.squeeze(), 0), [R(1, 3, 1, 2)]),
    "shape.transpose": (lambda a: torch.softmax(a.transpose(0, 2), -1), [R(2, 3, 4)]),
    "shape.transpose_neg": (lambda a: a.transpose(-1, -2).pow(3), [R(2, 3, 2)]),
    "shape.t": (lambda a: torch.tanh(a.t() @ a), [R(3, 2)]),
    "shape.narrow": (lambda a: a.narrow(1, 1, 2).pow(3), [R(3, 4)]),
    "shape.narrow_neg": (lambda a: torch.log_softmax(a.narrow(-2, 0, 2), 0), [R(3, 4)]),
    # ---- nn.functional ----
    "nn.linear": (lambda x, w, b: F.linear(x, w, b), [R(4, 3), R(2, 3), R(2)]),
    "nn.linear_tanh": (lambda x, w, b: torch.tanh(F.linear(x, w, b)), [R(4, 3), R(2, 3), R(2)]),
    "nn.linear_nobias_tanh": (lambda x, w: torch.tanh(F.linear(x, w)), [R(4, 3), R(2, 3)]),
    "nn.linear_3d_tanh": (lambda x, w, b: torch.tanh(F.linear(x, w, b)), [R(2, 2, 3), R(2, 3), R(2)]),
    "nn.batch_norm_train_2d": (bn_train, [R(4, 3), P(3), R(3), C(R(3)), C(P(3))]),
    "nn.batch_norm_train_3d": (bn_train, [R(3, 2, 4), P(2), R(2), C(R(2)), C(P(2))]),
    "nn.batch_norm_train_tanh": (lambda x, w, b, rm, rv: torch.tanh(bn_train(x, w, b, rm, rv)),
                                 [R(5, 2), P(2), R(2), C(R(2)), C(P(2))]),
    "nn.batch_norm_eval_2d": (bn_eval, [R(4, 3), P(3), R(3), C(R(3)), C(P(3))]),
    "nn.batch_norm_eval_3d_tanh": (lambda x, w, b, rm, rv: torch.tanh(bn_eval(x, w, b, rm, rv)),
                                   [R(3, 2, 2), P(2), R(2), C(R(2)), C(P(2))]),
    "nn.bce": (lambda p, t: F.binary_cross_entropy(p, t), [PR(3, 4), U(3, 4)]),
    "nn.bce_const_target": (lambda p, t: F.binary_cross_entropy(p, t), [PR(6), C(U(6))]),
    "nn.bce_sigmoid": (lambda z, t: F.binary_cross_entropy(torch.sigmoid(z), t), [R(2, 3), U(2, 3)]),
    "nn.mse": (lambda x, t: F.mse_loss(x, t), [R(3, 4), R(3, 4)]),
    "nn.mse_tanh": (lambda x, t: F.mse_loss(torch.tanh(x), t), [R(3, 4), C(R(3, 4))]),
    # ---- cat and stack (three inputs) ----
    "join.cat_dim0": (lambda a, b, c: torch.cat([a, b, c], 0), [R(2, 3), R(1, 3), R(3, 3)]),
    "join.cat_dim0_cubed": (lambda a, b, c: torch.cat([a, b, c], 0).pow(3), [R(2, 3), R(1, 3), R(3, 3)]),
    "join.cat_dim1_softmax": (lambda a, b, c: torch.softmax(torch.cat([a, b, c], 1), 1),
                              [R(2, 2), R(2, 1), R(2, 3)]),
    "join.cat_neg_dim_const": (lambda a, b, c: torch.tanh(torch.cat([a, b, c], -1)), [R(2, 2), C(R(2, 1)), R(2, 3)]),
    "join.stack_dim0": (lambda a, b, c: torch.stack([a, b, c], 0), [R(2, 3), R(2, 3), R(2, 3)]),
    "join.stack_dim0_cubed": (lambda a, b, c: torch.stack([a, b, c], 0).pow(3), [R(2, 3), R(2, 3), R(2, 3)]),
    "join.stack_dim1_softmax": (lambda a, b, c: torch.softmax(torch.stack([a, b, c], 1), 1),
                                [R(2, 3), R(2, 3), R(2, 3)]),
    "join.stack_same": (lambda a, b: torch.tanh(torch.stack([a, b * a, a], -1)), [R(3), R(3)]),
    # ---- composites ----
    "composite.api_example": (lambda x: (torch.tanh(x) * x).sum(), [V([0.3, -1.2], 2)]),
    "composite.mlp": (mlp_loss, [C(R(4, 3)), R(3, 3), R(3), R(1, 3), R(1), C(R(4, 1))]),
    "composite.gradient_penalty": (gradient_penalty, [R(3, 2), R(2, 3)]),
    "composite.diamond": (lambda a: torch.exp(a * 0.5) + (a * 2) * (a * 2) + torch.tanh(a), [R(3, 4)]),
    "composite.xent": (lambda X, W, b, onehot: -(onehot * torch.log_softmax(X @ W + b, 1)).sum(1).mean(),
                       [C(R(4, 3)), R(3, 3), R(3), C(OH(4, 3))]),
    "composite.normalize": (lambda a: (a - a.mean(0)) / torch.sqrt(a.var(0, unbiased=False) + 1e-5), [R(4, 3)]),
}

# Cases whose k comes from a mathematically identical function made of primitive ops, because
# PyTorch's own third derivative is wrong there (bn_train_decomposed). Their y, g and h are
# the fused op's, and the generator checks that the decomposition agrees with them.
DECOMPOSED = {
    "nn.batch_norm_train_2d": bn_train_decomposed,
    "nn.batch_norm_train_3d": bn_train_decomposed,
    "nn.batch_norm_train_tanh": lambda x, w, b, rm, rv: torch.tanh(bn_train_decomposed(x, w, b, rm, rv)),
}


# ---------------------------------------------------------------------------------------
# the nested grads
# ---------------------------------------------------------------------------------------

def weighted_sum(results, weights):
    """sum_i (results_i * weights_i).sum() over the results that are not None; None if none is."""
    terms = [(g * wt).sum() for g, wt in zip(results, weights) if g is not None]
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def grad_level(scalar, xs, create_graph):
    """autograd.grad(scalar, xs, allow_unused=True); all None when the scalar does not require
    grad (PyTorch would raise)."""
    if scalar is None or not scalar.requires_grad:
        return [None] * len(xs)
    return list(torch.autograd.grad(scalar, xs, create_graph=create_graph, allow_unused=True))


def nested_grads(fn, inputs, requires, w, us, rs):
    """Runs the case on fresh copies of its inputs. Returns y, the three levels of results
    (lists over the differentiable inputs, None kept) and the status matrix."""
    xs = [x.detach().clone().requires_grad_(r) for x, r in zip(inputs, requires)]
    diff = [x for x, r in zip(xs, requires) if r]
    y = fn(*xs)
    L = (y * w).sum()
    g = grad_level(L, diff, True)
    h = grad_level(weighted_sum(g, us), diff, True)
    k = grad_level(weighted_sum(h, rs), diff, False)
    status = torch.full((3, len(xs)), -1.0, dtype=D)
    for level, results in enumerate((g, h, k)):
        j = 0
        for i, r in enumerate(requires):
            if r:
                res = results[j]
                status[level, i] = 0 if res is None else (2 if res.requires_grad else 1)
                j += 1
    return y.detach(), (g, h, k), status


def zeros_if_none(t, like):
    # abs's double backward (through sgn) hands out an "efficient zero tensor", which has no
    # storage to read: written as the zeros it stands for
    if t is None or t._is_zerotensor():
        return torch.zeros_like(like)
    return t.detach()


def sensitivity(fn, inputs, requires, w, us, rs, reference, gen):
    """How far the results move when every input moves by a few ulps (relative 2^-50):
    the largest |change| / (1e-12 + 1e-10 |value|), the C++ test's tolerance. Well under 1
    means a faithful implementation's rounding cannot fail the test."""
    worst = 0.0
    for _ in range(2):
        bumped = [x * (1 + (torch.rand(x.shape, generator=gen, dtype=D) * 2 - 1) * 2.0 ** -50) for x in inputs]
        y, levels, _ = nested_grads(fn, bumped, requires, w, us, rs)
        diff = [x for x, r in zip(inputs, requires) if r]
        new = [y] + [zeros_if_none(t, x) for level in levels for t, x in zip(level, diff)]
        for a, e in zip(new, reference):
            ratio = ((a - e).abs() / (1e-12 + 1e-10 * e.abs())).max().item() if e.numel() else 0.0
            worst = max(worst, ratio)
    return worst


def check_third_order(fn, inputs, requires, w):
    """Finite-difference check of PyTorch's second and third derivatives: gradgradcheck of
    x -> grad((f(x) * w).sum(), x, create_graph=True), whose first and second derivatives are
    f's second and third. Skipped where that gradient is a constant of x (nothing to check:
    the second and third derivatives are 0, which the linear cases' zeros already say)."""
    diff0 = [x for x, r in zip(inputs, requires) if r]

    def first_derivatives(*diff):
        it = iter(diff)
        xs = [next(it) if r else x.clone() for x, r in zip(inputs, requires)]
        L = (fn(*xs) * w).sum()
        gs = torch.autograd.grad(L, diff, create_graph=True, allow_unused=True)
        return tuple(torch.zeros_like(x) if g is None else g for g, x in zip(gs, diff))

    probe = first_derivatives(*[x.clone().requires_grad_() for x in diff0])
    if not any(g.requires_grad for g in probe):
        return
    ok = torch.autograd.gradgradcheck(first_derivatives, [x.clone().requires_grad_() for x in diff0],
                                      check_undefined_grad=False, raise_exception=False)
    assert ok, "PyTorch's second or third derivative fails gradgradcheck"


def agree(a, b):
    return (a - b).abs().max().item() <= 1e-13 * (1 + b.abs().max().item()) if b.numel() else True


def write_cases(wr):
    worst_case, worst = None, 0.0
    for case, (fn, specs) in CASES.items():
        gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))
        inputs, requires = [], []
        for i, spec in enumerate(specs):
            const = spec[0] == "const"
            x = make_input(spec[1] if const else spec, gen)
            inputs.append(x)
            requires.append(not const)
            wr.add(f"{case}.{'const' if const else 'in'}{i}", x)
        probe = fn(*[x.clone().requires_grad_(r) for x, r in zip(inputs, requires)])
        w = torch.randn(probe.shape, generator=gen, dtype=D)
        wr.add(f"{case}.w", w)
        us, rs = [], []
        for i, (x, r) in enumerate(zip(inputs, requires)):
            if r:
                us.append(torch.randn(x.shape, generator=gen, dtype=D))
                rs.append(torch.randn(x.shape, generator=gen, dtype=D))
                wr.add(f"{case}.u{i}", us[-1])
                wr.add(f"{case}.r{i}", rs[-1])
        diff = [x for x, r in zip(inputs, requires) if r]
        y, levels, status = nested_grads(fn, inputs, requires, w, us, rs)
        levels = [[zeros_if_none(t, x) for t, x in zip(level, diff)] for level in levels]
        checked_fn = fn
        if case in DECOMPOSED:
            checked_fn = DECOMPOSED[case]
            y2, levels2, _ = nested_grads(checked_fn, inputs, requires, w, us, rs)
            levels2 = [[zeros_if_none(t, x) for t, x in zip(level, diff)] for level in levels2]
            assert agree(y2, y), case
            for a, b in zip(levels2[0] + levels2[1], levels[0] + levels[1]):
                assert agree(a, b), f"{case}: the decomposition's g or h differs from PyTorch's"
            levels[2] = levels2[2]  # PyTorch's own k is wrong here (see bn_train_decomposed)
        check_third_order(checked_fn, inputs, requires, w)
        wr.add(f"{case}.y", y)
        reference = [y]
        for letter, level in zip("ghk", levels):
            for t, i in zip(level, [i for i, r in enumerate(requires) if r]):
                wr.add(f"{case}.{letter}{i}", t)
                reference.append(t)
        wr.add(f"{case}.status", status)
        s = sensitivity(checked_fn, inputs, requires, w, us, rs, reference, gen)
        if s > worst:
            worst_case, worst = case, s
        if s > 0.01:
            print(f"warning: {case} is ill-conditioned for the C++ tolerance (sensitivity {s:.3g})",
                  file=sys.stderr)
    print(f"  {len(CASES)} op cases; largest sensitivity {worst:.3g} (in {worst_case})")


# ---------------------------------------------------------------------------------------
# torch.autograd.functional
# ---------------------------------------------------------------------------------------

# name -> (f(x, consts), x spec, constant specs, kind): kind "vector" gets jacobian and vjp,
# "scalar" hessian and hvp (and jacobian when listed in SCALAR_JACOBIAN). The docstring
# above spells the definitions out.
FUNCTIONS = {
    "fn.tanh_layer": (lambda x, c: torch.tanh(c[0] @ x + c[1]), R(4), [R(3, 4), R(3)], "vector"),
    "fn.log_softmax": (lambda x, c: torch.log_softmax(x @ c[0], -1), R(2, 3), [R(3, 3)], "vector"),
    "fn.pow_ratio": (lambda x, c: x.pow(2.5) / (1 + x) * torch.sigmoid(x), P(5), [], "vector"),
    "fn.cubic_pairs": (lambda x, c: x.pow(3).sum() + torch.tanh(x.unsqueeze(1) * x.unsqueeze(0)).sum(),
                       R(4), [], "scalar"),
    "fn.mlp_weight": (lambda x, c: F.mse_loss(F.linear(torch.tanh(F.linear(c[0], x, c[1])), c[2]), c[3]),
                      R(2, 3), [R(4, 3), R(2), R(1, 2), R(4, 1)], "scalar"),
    "fn.xent_var": (lambda x, c: -(torch.log_softmax(x, 1) * c[0]).sum() + x.var(0).sum()
                    + torch.sqrt(x.pow(2).sum(1) + 1).sum(), R(2, 3), [OH(2, 3)], "scalar"),
}
SCALAR_JACOBIAN = {"fn.cubic_pairs"}


def write_functions(wr):
    AF = torch.autograd.functional
    for name, (fn, xspec, cspecs, kind) in FUNCTIONS.items():
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        x = make_input(xspec, gen)
        consts = [make_input(s, gen) for s in cspecs]
        wr.add(f"{name}.x", x)
        for j, c in enumerate(consts):
            wr.add(f"{name}.c{j}", c)

        def f(t):
            return fn(t, consts)

        y = f(x)
        wr.add(f"{name}.y", y)
        if kind == "vector" or name in SCALAR_JACOBIAN:
            wr.add(f"{name}.jacobian", AF.jacobian(f, x))
        if kind == "vector":
            v = torch.randn(y.shape, generator=gen, dtype=D)
            value, product = AF.vjp(f, x, v)
            assert torch.equal(value, y)
            wr.add(f"{name}.vjp_v", v)
            wr.add(f"{name}.vjp", product)
        else:
            wr.add(f"{name}.hessian", AF.hessian(f, x))
            v = torch.randn(x.shape, generator=gen, dtype=D)
            value, product = AF.hvp(f, x, v)
            assert torch.equal(value, y)
            wr.add(f"{name}.hvp_v", v)
            wr.add(f"{name}.hvp", product)
    print(f"  {len(FUNCTIONS)} autograd.functional cases")


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: the golden data was made with torch 1.13, this is {torch.__version__}",
              file=sys.stderr)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    wr = GoldenWriter()
    write_cases(wr)
    write_functions(wr)
    wr.write(OUTPUT)


if __name__ == "__main__":
    main()
