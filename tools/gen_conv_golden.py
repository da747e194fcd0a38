#!/usr/bin/python3
"""Writes the PyTorch golden data of tapegrad's convolution tests (tests/conv_test.cpp) to
tests/golden/conv.txt.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees:

    /usr/bin/python3 tools/gen_conv_golden.py

Deterministic (fixed seeds, one thread); commit the file it writes. Inputs are drawn in double
from a private generator and written, so the C++ side computes on the same numbers; the f32
cases round them to float32 and run torch in float32. Format: tools/golden_io.py. <tag> is
f32 or f64.

    <c>.params       stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, has_bias,
                     padding mode (0: numbers, 1: "same", 2: "valid")
    <c>.<tag>.x, .w, .b, .gout   input, weight, bias (when has_bias), output gradient
    <c>.<tag>.y, .gx, .gw, .gb   F.conv2d's output and the gradients of sum(y * gout)
    init.<m>.params  in, out, kh, kw, stride, padding, groups, has_bias, seed
    init.<m>.<tag>.weight, .bias   torch.nn.Conv2d(..., dtype) right after torch.manual_seed(seed)
"""
import torch
import torch.nn.functional as F

from golden_io import GoldenWriter

torch.set_num_threads(1)

# name: (x shape, weight shape, has_bias, stride, padding, dilation, groups)
CASES = {
    "basic": ((2, 3, 7, 6), (4, 3, 3, 3), True, (1, 1), (0, 0), (1, 1), 1),
    "pad1": ((2, 3, 6, 6), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    "stride2": ((2, 3, 9, 8), (5, 3, 3, 3), True, (2, 2), (1, 1), (1, 1), 1),
    "nonsquare": ((2, 2, 8, 7), (3, 2, 2, 3), True, (2, 1), (1, 0), (1, 1), 1),
    "dilation2": ((1, 2, 9, 9), (3, 2, 3, 3), True, (1, 1), (2, 2), (2, 2), 1),
    "dilation_mixed": ((2, 2, 7, 10), (2, 2, 3, 2), True, (1, 3), (0, 2), (1, 2), 1),
    "groups2": ((2, 4, 6, 5), (6, 2, 3, 3), True, (1, 1), (1, 1), (1, 1), 2),
    "depthwise": ((2, 4, 6, 6), (8, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 4),
    "depthwise_stride": ((1, 3, 7, 7), (3, 1, 3, 3), False, (2, 2), (0, 0), (1, 1), 3),
    "pointwise": ((2, 5, 4, 3), (3, 5, 1, 1), True, (1, 1), (0, 0), (1, 1), 1),
    "pointwise_groups": ((2, 4, 3, 3), (6, 2, 1, 1), True, (1, 1), (0, 0), (1, 1), 2),
    "pointwise_stride": ((2, 3, 5, 5), (2, 3, 1, 1), True, (2, 2), (0, 0), (1, 1), 1),
    "pointwise_pad": ((1, 2, 3, 3), (2, 2, 1, 1), True, (1, 1), (1, 1), (1, 1), 1),
    "nobias": ((2, 3, 5, 5), (4, 3, 3, 3), False, (1, 1), (1, 1), (1, 1), 1),
    "unbatched": ((3, 6, 5), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    "unbatched_nobias": ((2, 5, 5), (2, 2, 2, 2), False, (2, 2), (0, 0), (1, 1), 1),
    "big_padding": ((1, 1, 3, 3), (2, 1, 3, 3), True, (2, 2), (3, 3), (1, 1), 1),
    "kernel_is_input": ((2, 2, 4, 3), (3, 2, 4, 3), True, (1, 1), (0, 0), (1, 1), 1),
    "batch_one_channel": ((3, 1, 8, 8), (4, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    "same_even": ((2, 2, 6, 5), (3, 2, 4, 2), True, (1, 1), "same", (1, 1), 1),
    "same_dilated": ((1, 2, 7, 7), (2, 2, 3, 3), True, (1, 1), "same", (2, 1), 1),
    "valid": ((2, 2, 6, 5), (3, 2, 3, 2), True, (1, 1), "valid", (1, 1), 1),
    # filters of 32 values or more (K = C / groups * kh * kw) take the packed GEMM
    "long_filter": ((2, 4, 6, 7), (5, 4, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    "long_filter_groups": ((2, 8, 5, 5), (6, 4, 3, 3), True, (2, 1), (1, 2), (1, 2), 2),
    # horizontal stride 1, filters of 32 values or more and rows of 12 to 16: the direct kernels
    "direct_pad1": ((2, 4, 6, 14), (6, 4, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    "direct_stride_h": ((2, 4, 9, 14), (5, 4, 3, 3), True, (2, 1), (1, 1), (1, 1), 1),
    "direct_dilated": ((1, 4, 9, 16), (3, 4, 3, 3), True, (1, 1), (2, 2), (2, 2), 1),
    "direct_groups": ((2, 8, 5, 12), (8, 4, 3, 3), True, (1, 1), (1, 1), (1, 1), 2),
    "direct_same_even": ((2, 4, 6, 14), (4, 4, 4, 2), False, (1, 1), "same", (1, 1), 1),
    "direct_nonsquare": ((2, 4, 7, 15), (4, 4, 2, 5), True, (1, 1), (1, 2), (1, 1), 1),
}

# name: (in, out, k, stride, padding, groups, has_bias, seed)
INIT = {
    "c1_16_3": (1, 16, (3, 3), 1, 1, 1, True, 0),
    "c16_32_3": (16, 32, (3, 3), 1, 1, 1, True, 42),
    "c3_8_2x3": (3, 8, (2, 3), 2, 0, 1, True, 7),
    "c4_8_g2": (4, 8, (3, 3), 1, 1, 2, True, 123),
    "c6_6_dw_nobias": (6, 6, (5, 5), 1, 2, 6, False, 5),
}


def mode_code(padding):
    return {"same": 1, "valid": 2}.get(padding, 0) if isinstance(padding, str) else 0


def main():
    w = GoldenWriter()
    gen = torch.Generator().manual_seed(2024)
    for name, (xs, ws, has_bias, stride, padding, dilation, groups) in CASES.items():
        pad = (0, 0) if isinstance(padding, str) else padding
        w.add(f"{name}.params", torch.tensor([*stride, *pad, *dilation, groups, int(has_bias), mode_code(padding)],
                                             dtype=torch.float64))
        x64 = torch.randn(xs, generator=gen, dtype=torch.float64)
        w64 = torch.randn(ws, generator=gen, dtype=torch.float64)
        b64 = torch.randn(ws[0], generator=gen, dtype=torch.float64)
        y_shape = F.conv2d(x64, w64, None, stride, padding, dilation, groups).shape
        g64 = torch.randn(y_shape, generator=gen, dtype=torch.float64)
        for tag, dtype in (("f64", torch.float64), ("f32", torch.float32)):
            x = x64.to(dtype).clone().requires_grad_()
            wt = w64.to(dtype).clone().requires_grad_()
            b = b64.to(dtype).clone().requires_grad_() if has_bias else None
            gout = g64.to(dtype)
            y = F.conv2d(x, wt, b, stride, padding, dilation, groups)
            (y * gout).sum().backward()
            w.add(f"{name}.{tag}.x", x)
            w.add(f"{name}.{tag}.w", wt)
            if has_bias:
                w.add(f"{name}.{tag}.b", b)
            w.add(f"{name}.{tag}.gout", gout)
            w.add(f"{name}.{tag}.y", y)
            w.add(f"{name}.{tag}.gx", x.grad)
            w.add(f"{name}.{tag}.gw", wt.grad)
            if has_bias:
                w.add(f"{name}.{tag}.gb", b.grad)
    for name, (cin, cout, k, stride, padding, groups, has_bias, seed) in INIT.items():
        w.add(f"init.{name}.params", torch.tensor([cin, cout, k[0], k[1], stride, padding, groups, int(has_bias), seed],
                                                  dtype=torch.float64))
        for tag, dtype in (("f64", torch.float64), ("f32", torch.float32)):
            torch.manual_seed(seed)
            m = torch.nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=has_bias, dtype=dtype)
            w.add(f"init.{name}.{tag}.weight", m.weight)
            if has_bias:
                w.add(f"init.{name}.{tag}.bias", m.bias)
    w.write("conv.txt")


if __name__ == "__main__":
    main()
