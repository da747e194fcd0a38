"""Embedding and LayerNorm against PyTorch, in float and double: forward values and the
gradients of the input, weight and bias for a given output gradient, and Embedding's initial
weight after manual_seed (torch's normal_ stream, both its scalar path under 16 values and its
vectorised path from 16 on), and padding_idx. Writes tests/golden/seq_layers.txt; tests/seq_layers_test.cpp
reads it.

Names: <case>.<tag>.<what>, tag f32 or f64.

Run with Debian's python3-torch: /usr/bin/python3 tools/gen_seq_layers_golden.py
"""
import torch

from golden_io import GoldenWriter

w = GoldenWriter()

for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
    # initial weights: manual_seed then the layer, as a user writes it
    for name, (num, dim) in (("emb_init_small", (2, 3)), ("emb_init_large", (10, 3))):
        torch.manual_seed(5)
        emb = torch.nn.Embedding(num, dim, dtype=dtype)
        w.add(f"{name}.{tag}.weight", emb.weight)

    # forward and backward, repeated indices, 1-d and 2-d index tensors
    emb_cases = (
        ("emb_1d", (6, 4), torch.tensor([2., 5, 2, 0, 2])),
        ("emb_2d", (7, 3), torch.tensor([[1., 3, 1], [6, 0, 3]])),
    )
    for i, (name, (num, dim), idx) in enumerate(emb_cases):
        torch.manual_seed(100 + i)
        weight = torch.randn(num, dim, dtype=dtype, requires_grad=True)
        out = torch.nn.functional.embedding(idx.long(), weight)
        gout = torch.randn(out.shape, dtype=dtype)
        out.backward(gout)
        w.add(f"{name}.{tag}.weight", weight)
        w.add(f"{name}.{tag}.index", idx.to(dtype))
        w.add(f"{name}.{tag}.out", out)
        w.add(f"{name}.{tag}.gout", gout)
        w.add(f"{name}.{tag}.grad_weight", weight.grad)

    # padding_idx (negative: counted from the end): its row starts at zero and gets no gradient
    torch.manual_seed(6)
    emb = torch.nn.Embedding(6, 3, padding_idx=-2, dtype=dtype)
    idx = torch.tensor([[4., 1, 4], [0, 4, 1]])
    out = emb(idx.long())
    gout = torch.randn(out.shape, dtype=dtype)
    out.backward(gout)
    w.add(f"emb_pad.{tag}.init_weight", emb.weight)
    w.add(f"emb_pad.{tag}.index", idx.to(dtype))
    w.add(f"emb_pad.{tag}.out", out)
    w.add(f"emb_pad.{tag}.gout", gout)
    w.add(f"emb_pad.{tag}.grad_weight", emb.weight.grad)

    # LayerNorm: 1 and 2 normalized dims, an eps, affine off
    ln_cases = (
        ("ln_1d", (3, 5), [5], 1e-5, True),
        ("ln_2d", (2, 3, 4), [3, 4], 1e-3, True),
        ("ln_noaffine", (4, 6), [6], 1e-5, False),
        ("ln_3d_input_1d", (2, 2, 3), [3], 0.1, True),
    )
    for i, (name, xshape, nshape, eps, affine) in enumerate(ln_cases):
        torch.manual_seed(200 + i)
        x = (torch.randn(xshape, dtype=dtype) * 2 + 0.5).requires_grad_()
        ln = torch.nn.LayerNorm(nshape, eps=eps, elementwise_affine=affine, dtype=dtype)
        if affine:
            with torch.no_grad():  # not the ones and zeros, so their gradients mean something
                ln.weight.copy_(torch.randn(nshape, dtype=dtype))
                ln.bias.copy_(torch.randn(nshape, dtype=dtype))
            w.add(f"{name}.{tag}.weight", ln.weight)
            w.add(f"{name}.{tag}.bias", ln.bias)
        y = ln(x)
        gout = torch.randn(y.shape, dtype=dtype)
        y.backward(gout)
        w.add(f"{name}.{tag}.x", x)
        w.add(f"{name}.{tag}.y", y)
        w.add(f"{name}.{tag}.gout", gout)
        w.add(f"{name}.{tag}.grad_x", x.grad)
        if affine:
            w.add(f"{name}.{tag}.grad_weight", ln.weight.grad)
            w.add(f"{name}.{tag}.grad_bias", ln.bias.grad)

w.write("seq_layers.txt")
