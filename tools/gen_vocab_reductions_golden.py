"""The reductions and sampling of the tensor vocabulary against PyTorch 1.13, in float and
double: min, argmax, argmin, std, logsumexp and topk (values, indices and the input's gradient
for a given output gradient, ties and NaN included), and randint, multinomial and randperm after
manual_seed (the values, then the next draws, which show how many words each took). Writes
tests/golden/vocab_reductions.txt; tests/vocab_reductions_test.cpp reads it.

Names: <kind>.<i>.<tag>.<what>, tag f32 or f64; <what> "params" holds the call's arguments:
  reduce.<op>.<i>:  params [dim, keepdim, unbiased], dim 99 for the reduction over all elements;
                    x, out, and for min, std, logsumexp gout and grad
  topk.<i>:         params [k, dim, largest, sorted]; x, values, indices, gout, grad
  randint.<i>:      params [seed, low, high]; out (its shape is the call's), next
  multinomial.<i>:  params [seed, num_samples, replacement]; probs, out, next
  randperm.<i>:     params [seed, n]; out, next

Run with Debian's python3-torch: /usr/bin/python3 tools/gen_vocab_reductions_golden.py
"""
import torch

from golden_io import GoldenWriter

w = GoldenWriter()
nan, inf = float("nan"), float("inf")
ALL = 99

# (op, x values or a shape to draw, dim, keepdim, unbiased)
TIES = [[1., -2, 3, -2], [-2, 5, -2, 0], [4, 4, 1, 1]]
reduce_cases = [
    ("min", TIES, ALL, False, True),
    ("min", [[3., 1, 1], [1, 3, 1]], ALL, False, True),  # ties: the gradient shared evenly
    ("min", TIES, 1, False, True),
    ("min", TIES, 0, True, True),
    ("min", (2, 3, 4), 1, False, True),
    ("min", (2, 3, 4), -1, True, True),
    ("min", [[1., nan, 0], [2, 1, nan]], 1, False, True),
    ("min", [[1., nan, 0], [2, 1, nan]], ALL, False, True),
    ("argmax", TIES, 1, False, True),
    ("argmax", TIES, 0, True, True),
    ("argmax", TIES, ALL, False, True),
    ("argmax", (3, 4, 5), 1, False, True),
    ("argmax", [[1., nan, 3, nan], [2, 7, 7, 1]], 1, False, True),
    ("argmax", [1., nan, 3, nan], ALL, False, True),
    ("argmin", TIES, 1, False, True),
    ("argmin", TIES, -2, True, True),
    ("argmin", TIES, ALL, False, True),
    ("argmin", (3, 4, 5), 2, False, True),
    ("argmin", [[1., nan, 0, nan], [2, 0, 0, 1]], 1, False, True),
    ("std", (3, 5), 1, False, True),
    ("std", (3, 5), 0, True, False),
    ("std", (2, 3, 4), 1, False, True),
    ("std", (2, 3, 4), -1, True, False),
    ("std", (4, 5), ALL, False, True),
    ("std", [[1., 1, 1], [1, 2, 4]], 1, False, True),   # a row of zero std: gradient 0 there
    ("std", [[2., 2], [0.5, -1]], 1, False, False),
    ("logsumexp", (3, 5), 1, False, True),
    ("logsumexp", (2, 3, 4), 0, True, True),
    ("logsumexp", (2, 3, 4), -1, False, True),
    ("logsumexp", [[-inf, -inf, -inf], [1, -inf, 2], [inf, 1, 0], [500, 499, -3]], 1, False, True),
]

# (x values or a shape to draw, k, dim, largest, sorted)
topk_cases = [
    ((3, 6), 2, -1, True, True),
    ((3, 6), 2, 0, True, True),
    ((4, 5), 2, 0, False, True),
    ((2, 3, 7), 4, 2, True, False),
    ((2, 7, 3), 3, 1, False, True),
    ((5,), 5, 0, True, True),
    ((5,), 0, 0, True, True),
    ([1., 3, 2, 3, 3, 0, 2], 3, 0, True, True),  # ties: nth_element's order
    ([1., 3, 2, 3, 3, 0, 2], 4, 0, True, False),
    ([1., 3, 2, 3, 3, 0, 2], 3, 0, False, True),
    ([1., nan, 3, 0], 2, 0, True, True),
    ([1., nan, 3, 0], 2, 0, False, True),
    ("ties200", 3, 0, True, True),   # 64 k <= n: partial_sort's order among many ties
    ("ties200", 3, 0, False, True),
    ("ties200", 5, 0, True, False),
    ("ties40", 6, 0, True, True),    # nth_element then sort among many ties
    ("ties40", 6, 0, False, False),
]


def make_x(spec, dtype, seed):
    torch.manual_seed(seed)
    if spec == "ties200":
        return torch.randint(0, 5, (200,)).to(dtype)
    if spec == "ties40":
        return torch.randint(0, 4, (40,)).to(dtype)
    if isinstance(spec, tuple):
        return torch.randn(spec, dtype=dtype) * 2
    return torch.tensor(spec, dtype=dtype)


for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
    for i, (op, spec, dim, keepdim, unbiased) in enumerate(reduce_cases):
        x = make_x(spec, dtype, 300 + i).requires_grad_(op in ("min", "std", "logsumexp"))
        if op == "min":
            out = x.min() if dim == ALL else x.min(dim, keepdim)[0]
        elif op == "argmax":
            out = x.argmax() if dim == ALL else x.argmax(dim, keepdim)
        elif op == "argmin":
            out = x.argmin() if dim == ALL else x.argmin(dim, keepdim)
        elif op == "std":
            out = x.std() if dim == ALL else x.std(dim, unbiased, keepdim)
        else:
            out = torch.logsumexp(x, dim, keepdim)
        p = f"reduce.{op}.{i}.{tag}."
        w.add(p + "params", torch.tensor([dim, int(keepdim), int(unbiased)], dtype=dtype))
        w.add(p + "x", x)
        w.add(p + "out", out.to(dtype))
        if x.requires_grad:
            gout = torch.randn(out.shape, dtype=dtype)
            out.backward(gout)
            w.add(p + "gout", gout)
            w.add(p + "grad", x.grad)

    for i, (spec, k, dim, largest, sorted_) in enumerate(topk_cases):
        x = make_x(spec, dtype, 400 + i).requires_grad_()
        values, indices = x.topk(k, dim, largest, sorted_)
        gout = torch.randn(values.shape, dtype=dtype)
        values.backward(gout)
        p = f"topk.{i}.{tag}."
        w.add(p + "params", torch.tensor([k, dim, int(largest), int(sorted_)], dtype=dtype))
        w.add(p + "x", x)
        w.add(p + "values", values)
        w.add(p + "indices", indices.to(dtype))
        w.add(p + "gout", gout)
        w.add(p + "grad", x.grad)

    # randint: the 32-bit path below a range of 2^32, random64 from there (double only)
    randint_cases = [(1, 0, 10, (7,)), (2, -5, 7, (3, 4)), (3, 0, 2, (20,)), (4, -(2**24), 2**24 + 1, (5,))]
    if dtype == torch.float64:
        randint_cases += [(5, 0, 2**32, (6,)), (6, -(2**40), 2**40, (2, 3)), (7, 3, 2**32 + 5, (4,))]
    for i, (seed, low, high, shape) in enumerate(randint_cases):
        torch.manual_seed(seed)
        out = torch.randint(low, high, shape, dtype=dtype)
        p = f"randint.{i}.{tag}."
        w.add(p + "params", torch.tensor([seed, low, high], dtype=torch.float64))
        w.add(p + "out", out)
        w.add(p + "next", torch.rand(3, dtype=dtype))

    # multinomial: 1-d and 2-d, one sample and several, both modes, zero-probability categories
    multinomial_cases = [
        (11, [0.1, 0.2, 0.3, 0.4], 1, False),
        (12, [0.1, 0.2, 0.3, 0.4], 3, False),
        (13, [0.1, 0.2, 0.3, 0.4], 4, False),
        (14, [0.1, 0.2, 0.3, 0.4], 10, True),
        (15, [[1., 0, 3, 2, 5], [0.5, 0.5, 0, 0, 1]], 2, False),
        (16, [[1., 0, 3, 2, 5], [0.5, 0.5, 0, 0, 1]], 1, False),
        (17, [[1., 0, 3, 2, 5], [0.5, 0.5, 0, 0, 1]], 7, True),
        (18, [0., 2, 0, 1], 3, False),  # more samples than nonzero categories: the zeros come last
        (19, "rand30x3", 5, False),
        (20, "rand30x3", 12, True),
        (21, "rand200", 4, False),     # 64 k <= n: partial_sort
        (22, "rand200", 50, True),
    ]
    for i, (seed, spec, num_samples, replacement) in enumerate(multinomial_cases):
        torch.manual_seed(1000 + i)
        if spec == "rand30x3":
            probs = torch.rand(3, 30, dtype=dtype)
        elif spec == "rand200":
            probs = torch.rand(200, dtype=dtype)
        else:
            probs = torch.tensor(spec, dtype=dtype)
        torch.manual_seed(seed)
        out = torch.multinomial(probs, num_samples, replacement)
        p = f"multinomial.{i}.{tag}."
        w.add(p + "params", torch.tensor([seed, num_samples, int(replacement)], dtype=dtype))
        w.add(p + "probs", probs)
        w.add(p + "out", out.to(dtype))
        w.add(p + "next", torch.rand(3, dtype=dtype))

    for i, (seed, n) in enumerate(((31, 10), (32, 1), (33, 100))):
        torch.manual_seed(seed)
        out = torch.randperm(n, dtype=dtype)
        p = f"randperm.{i}.{tag}."
        w.add(p + "params", torch.tensor([seed, n], dtype=dtype))
        w.add(p + "out", out)
        w.add(p + "next", torch.rand(3, dtype=dtype))

w.write("vocab_reductions.txt")
