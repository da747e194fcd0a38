"""Golden-file writing shared by tools/gen_golden.py and tools/gen_nn_golden.py.

File format (what tests/support/helpers.hpp's read_golden reads): blocks of

    name <rank> <d0> <d1> ...
    v0 v1 v2 ...

values in row-major order, eight to a line, each printed with 17 significant digits (exact
for float and double), nan and inf spelled `nan`, `inf`, `-inf`. A 0-d tensor has rank 0
and one value; a bool tensor is written as 0 and 1.
"""
import math
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_DIR = os.path.join(ROOT, "tests", "golden")


class GoldenWriter:
    """Collects named tensors and writes them in read_golden's format."""

    def __init__(self):
        self.blocks = []
        self.names = set()

    def add(self, name, t):
        assert name not in self.names, f"duplicate golden name {name}"
        assert name and not any(c.isspace() for c in name), f"bad golden name {name!r}"
        self.names.add(name)
        t = torch.as_tensor(t).detach()
        if t.dtype == torch.bool:
            t = t.double()
        values = [float(v) for v in t.reshape(-1).tolist()]
        self.blocks.append((name, list(t.shape), values))

    @staticmethod
    def fmt(v):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return "%.17g" % v

    def write(self, filename):
        path = os.path.join(GOLDEN_DIR, filename)
        with open(path, "w") as f:
            for name, shape, values in self.blocks:
                f.write(" ".join([name, str(len(shape))] + [str(d) for d in shape]) + "\n")
                for i in range(0, len(values), 8):
                    f.write(" ".join(self.fmt(v) for v in values[i:i + 8]) + "\n")
        print(f"wrote {path}: {len(self.blocks)} tensors")
