"""The indexing and shape part of the tensor vocabulary against PyTorch 1.13, in float and
double: split (by size and by a list), chunk, select (negative dim and index), index_select
(repeated indices), gather, permute, expand (-1 and new leading dims), contiguous, cat, stack,
narrow and flatten: the inputs, the outputs, an upstream gradient per output, the inputs'
gradients, and the double backward. These ops are linear, so the gradient of <grad_x, v> with
respect to x is zero; the part that is not is its gradient with respect to the upstream
gradients g (the backward's own backward, what create_graph differentiates). Plus arange,
linspace (tapegrad claims PyTorch's values bit for bit) and one_hot values.

Names:
  <case>.<tag>.x<i>, .y<j>, .g<j>, .grad<i>, .v<i>, .gg<j>   tag f32 or f64;
      grad<i> = d<y, g>/dx<i>; gg<j> = d<grad, v>/dg<j> (grad taken with create_graph)
  arange.<i>.<tag>.params [start, end, step], .out
  linspace.<i>.<tag>.params [start, end, steps], .out
  one_hot.<i>.params [num_classes], .index, .out
The case names and their calls are twinned in tests/vocab_indexing_test.cpp.

Run with Debian's python3-torch: /usr/bin/python3 tools/gen_vocab_indexing_golden.py
"""
import torch

from golden_io import GoldenWriter

w = GoldenWriter()
# One thread: above 32768 values torch's range kernels start a vector where each thread's part
# does, so their values depend on the thread count (ops/ranges.hpp reproduces one thread's).
torch.set_num_threads(1)


def idx(values):
    return torch.tensor(values, dtype=torch.int64)


# name: (input shapes, function of the list of inputs returning a list of outputs)
CASES = {
    "split_size": ([(5, 3)], lambda x: list(torch.split(x[0], 2, 0))),
    "split_size_last_dim": ([(2, 7)], lambda x: list(torch.split(x[0], 3, -1))),
    "split_list": ([(3, 6)], lambda x: list(torch.split(x[0], [1, 3, 0, 2], -1))),
    "chunk": ([(4, 7)], lambda x: list(torch.chunk(x[0], 3, 1))),
    "chunk_fewer": ([(6, 2)], lambda x: list(torch.chunk(x[0], 4, 0))),  # pieces of 2: three, not four
    "select_neg_dim": ([(3, 4, 2)], lambda x: [x[0].select(-2, 1)]),
    "select_neg_index": ([(3, 4)], lambda x: [x[0].select(0, -1)]),
    "index_select_repeats": ([(4, 3)], lambda x: [x[0].index_select(0, idx([3, 0, 3, 1, 3]))]),
    "index_select_dim1": ([(2, 3, 2)], lambda x: [x[0].index_select(-2, idx([2, 2, 0]))]),
    "gather_dim1": ([(3, 4)], lambda x: [x[0].gather(1, idx([[3, 3, 0, 1, 3], [1, 1, 1, 2, 0]]))]),
    "gather_dim0": ([(3, 2, 2)], lambda x: [x[0].gather(0, idx([[[2, 0]], [[2, 2]], [[1, 0]], [[0, 2]]]))]),
    "permute": ([(2, 3, 4)], lambda x: [x[0].permute(2, 0, 1)]),
    "permute_neg": ([(2, 3, 4, 1)], lambda x: [x[0].permute(-1, 0, -2, 1)]),
    "expand": ([(3, 1)], lambda x: [x[0].expand(2, -1, 4)]),
    "expand_scalar": ([()], lambda x: [x[0].expand(3, 2)]),
    "contiguous": ([(3, 4)], lambda x: [x[0].contiguous()]),
    "cat_dim0": ([(2, 3), (4, 3), (1, 3)], lambda x: [torch.cat(x, 0)]),
    "cat_neg_dim": ([(2, 1), (2, 3), (2, 0)], lambda x: [torch.cat(x, -1)]),
    "stack_dim1": ([(2, 3), (2, 3), (2, 3)], lambda x: [torch.stack(x, 1)]),
    "stack_last": ([(3,), (3,)], lambda x: [torch.stack(x, -1)]),
    "narrow": ([(4, 5)], lambda x: [x[0].narrow(1, 1, 3)]),
    "narrow_dim0": ([(4, 2)], lambda x: [x[0].narrow(-2, 3, 1)]),
    "flatten": ([(2, 3, 4)], lambda x: [x[0].flatten(1)]),
    "flatten_range": ([(2, 3, 4, 2)], lambda x: [x[0].flatten(0, -2)]),
    "flatten_scalar": ([()], lambda x: [x[0].flatten()]),
}

for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
    for i, (name, (shapes, fn)) in enumerate(CASES.items()):
        torch.manual_seed(1500 + i)
        p = f"{name}.{tag}."
        xs = [torch.randn(s, dtype=dtype, requires_grad=True) for s in shapes]
        ys = fn(xs)
        gs = [torch.randn(y.shape, dtype=dtype, requires_grad=True) for y in ys]
        grads = torch.autograd.grad(ys, xs, gs, create_graph=True)
        vs = [torch.randn(s, dtype=dtype) for s in shapes]
        ggs = torch.autograd.grad(grads, gs, vs)
        for k, t in enumerate(xs):
            w.add(f"{p}x{k}", t)
        for k, t in enumerate(ys):
            w.add(f"{p}y{k}", t)
        for k, t in enumerate(gs):
            w.add(f"{p}g{k}", t)
        for k, t in enumerate(grads):
            w.add(f"{p}grad{k}", t)
        for k, t in enumerate(vs):
            w.add(f"{p}v{k}", t)
        for k, t in enumerate(ggs):
            w.add(f"{p}gg{k}", t)

    # arange: integer-like, fractional and negative steps, runs longer than torch's vectors
    ARANGE = [(0, 10, 1), (0, 100, 1), (-3, 7.5, 0.1), (1, 0, -0.03), (0.5, 100, 0.7), (10, -10, -1.5),
              (0, 1, 0.25), (-1e3, 1e3, 0.37), (0, 2.5, 1 / 3), (5, 5, 1)]
    for i, (a, b, s) in enumerate(ARANGE):
        w.add(f"arange.{i}.{tag}.params", torch.tensor([a, b, s], dtype=torch.float64))
        w.add(f"arange.{i}.{tag}.out", torch.arange(a, b, s, dtype=dtype))

    LINSPACE = [(0, 1, 0), (2.5, 7, 1), (0, 1, 2), (-1, 1, 3), (0, 1, 7), (-3, 7.5, 16), (5, -3, 17),
                (0.1, 0.7, 50), (-10, 10, 101), (1e-3, 1e3, 33), (0, 1, 1000)]
    for i, (a, b, n) in enumerate(LINSPACE):
        w.add(f"linspace.{i}.{tag}.params", torch.tensor([a, b, n], dtype=torch.float64))
        w.add(f"linspace.{i}.{tag}.out", torch.linspace(a, b, n, dtype=dtype))

ONE_HOT = [([0, 2, 1, 2], -1), ([[3, 0], [1, 1]], 5), ([4], -1), ([[0], [0]], 1)]
for i, (index, classes) in enumerate(ONE_HOT):
    t = idx(index)
    w.add(f"one_hot.{i}.params", torch.tensor([classes], dtype=torch.float64))
    w.add(f"one_hot.{i}.index", t.double())
    w.add(f"one_hot.{i}.out", torch.nn.functional.one_hot(t, classes).double())

w.write("vocab_indexing.txt")
