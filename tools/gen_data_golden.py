#!/usr/bin/python3
"""Writes tests/golden/data_loader.txt: PyTorch's torch.randperm and torch.utils.data.DataLoader
over a TensorDataset (batch order and contents over three epochs, and where the generators are
left afterwards), for tests/data_test.cpp.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_data_golden.py

The output is deterministic: every seed is fixed, and each case's data comes from a generator
seeded with the case's name (adding a case never changes the others). File format:
tools/golden_io.py (named tensors, row-major, 17 significant digits). A 64-bit integer does not
fit a double exactly, so one is written as its high and low 32 bits.

---- randperm ----
    randperm.seed<s>.n<n>        torch.randperm(n, generator=g) right after g.manual_seed(s)
    randperm.seed<s>.n<n>.next   then torch.rand(2, dtype=float64, generator=g): 4 more words,
                                 which show how many the permutation took
    randperm.default.seed7.n10   torch.manual_seed(7); torch.randperm(10) (the default generator)
    randperm.default.seed7.n10.next   then torch.rand(2, dtype=float64)
    random_int64.seed<s>         [3, 2]: three torch.empty((), dtype=torch.int64).random_(generator=g)
                                 after g.manual_seed(s), each as [value >> 32, value & 0xffffffff]

---- DataLoader ----
A case <c> is DataLoader(TensorDataset(x, y, arange(n)), batch_size, shuffle, drop_last) with
either generator=g (g a torch.Generator seeded with the seed) or no generator after
torch.manual_seed(seed); the arange column gives each batch's indices and changes no draw (the
sampler only sees len(dataset)). Three epochs, each a full `for` loop over the loader.
    <c>.config   [n, batch_size, shuffle, drop_last, explicit_generator, seed >> 32,
                  seed & 0xffffffff, body_draws, epochs, batch_values, first_epoch_batches]
                  (flags 0 or 1; first_epoch_batches > 0: epoch 0's loop breaks out after
                  that many batches, 0: every epoch runs to its end)
    <c>.x, <c>.y                 the dataset (float32 values, exact in float and double), when
                                 batch_values (the large cases check the order only)
    <c>.len                      len(loader)
    <c>.epoch<e>.batches         how many batches epoch e yielded
    <c>.epoch<e>.batch<k>.indices    the rows of batch k
    <c>.epoch<e>.batch<k>.x / .y     batch k's tensors (when batch_values)
    <c>.epoch<e>.batch<k>.draw   when body_draws: torch.rand(1, dtype=float64) from the same
                                 generator (g, or the default one) inside the loop body, which
                                 pins down when the loader's own draws happen
    <c>.next                     after the epochs, torch.rand(4, dtype=float64) from the same
                                 generator: the stream position after every draw of the loader
"""
import os
import sys
import zlib

import torch
from torch.utils.data import DataLoader, TensorDataset

# golden_io.py sits beside this script; import it from any working directory
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GOLDEN_DIR, GoldenWriter  # noqa: E402

EPOCHS = 3


def split64(v):
    return [v >> 32, v & 0xFFFFFFFF]


def write_randperm(w):
    for seed in (0, 42):
        for n in (0, 1, 2, 10, 1000):
            g = torch.Generator()
            g.manual_seed(seed)
            w.add(f"randperm.seed{seed}.n{n}", torch.randperm(n, generator=g).double())
            w.add(f"randperm.seed{seed}.n{n}.next", torch.rand(2, dtype=torch.float64, generator=g))
    torch.manual_seed(7)
    w.add("randperm.default.seed7.n10", torch.randperm(10).double())
    w.add("randperm.default.seed7.n10.next", torch.rand(2, dtype=torch.float64))
    for seed in (0, 42):
        g = torch.Generator()
        g.manual_seed(seed)
        draws = [split64(int(torch.empty((), dtype=torch.int64).random_(generator=g).item())) for _ in range(3)]
        w.add(f"random_int64.seed{seed}", torch.tensor(draws, dtype=torch.float64))


class Case:
    def __init__(self, n, batch_size, shuffle, drop_last, explicit, seed, body=False, values=True,
                 x_shape=(3,), y_shape=(), first_epoch_batches=0):
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.explicit, self.seed, self.body, self.values = explicit, seed, body, values
        self.x_shape, self.y_shape = x_shape, y_shape
        self.first_epoch_batches = first_epoch_batches  # > 0: epoch 0 breaks out after that many

    def name(self):
        parts = [
            "loader",
            "generator" if self.explicit else "default",
            "shuffle" if self.shuffle else "sequential",
            f"n{self.n}", f"b{self.batch_size}",
            "drop_last" if self.drop_last else "keep_last",
            f"seed{self.seed}",
        ]
        if self.body:
            parts.append("body_draws")
        if self.first_epoch_batches:
            parts.append(f"break{self.first_epoch_batches}")
        if len(self.x_shape) != 1:
            parts.append(f"x{len(self.x_shape) + 1}d")
        return ".".join(parts)


CASES = [
    # shuffle=True, generator=g
    Case(10, 3, True, False, True, 0),
    Case(10, 3, True, True, True, 0),
    Case(10, 5, True, False, True, 7),   # batches divide n: the sampler ends after the last batch
    Case(10, 5, True, True, True, 7),
    Case(12, 4, True, False, True, 42),
    Case(10, 1, True, False, True, 1),
    Case(7, 10, True, False, True, 3),   # one partial batch
    Case(7, 10, True, True, True, 3),    # no batch at all
    Case(1, 1, True, False, True, 5),
    Case(1, 2, True, True, True, 5),
    Case(6, 4, True, False, True, 11, x_shape=(2, 2), y_shape=(1,)),
    Case(10, 3, True, False, True, 2**32 + 7),  # Generator.manual_seed keeps the low 32 bits
    Case(1000, 64, True, False, True, 2024, values=False),
    # shuffle=True, no generator: the sampler's generator is seeded from the default one
    Case(10, 3, True, False, False, 42),
    Case(10, 4, True, True, False, 42),
    Case(1000, 100, True, True, False, 9, values=False),
    # shuffle=False: only the base seed is drawn, from g or the default generator
    Case(10, 4, False, False, False, 42),
    Case(10, 4, False, True, True, 42),
    Case(0, 3, False, False, False, 42),
    Case(0, 3, False, False, True, 42),
    # draws in the loop body, from the loader's generator: when does the loader draw?
    Case(10, 3, True, False, True, 13, body=True),   # the sampler ends inside the last fetch
    Case(10, 5, True, False, True, 13, body=True),   # ... after the last batch
    Case(10, 3, True, True, True, 13, body=True),
    Case(12, 4, True, True, True, 13, body=True),
    Case(10, 3, True, False, False, 13, body=True),
    Case(10, 4, False, False, True, 13, body=True),
    # epoch 0 left early (a break): its remaining draws never happen
    Case(10, 3, True, False, True, 17, body=True, first_epoch_batches=2),
    Case(10, 3, True, False, False, 17, body=True, first_epoch_batches=1),
]


def write_loader(w, case):
    c = case.name()
    data = torch.Generator()
    data.manual_seed(zlib.crc32(c.encode()))
    x = torch.randn((case.n,) + case.x_shape, generator=data)
    y = torch.randn((case.n,) + case.y_shape, generator=data)
    w.add(f"{c}.config", torch.tensor([case.n, case.batch_size, case.shuffle, case.drop_last, case.explicit]
                                      + split64(case.seed) + [case.body, EPOCHS, case.values, case.first_epoch_batches],
                                      dtype=torch.float64))
    if case.values:
        w.add(f"{c}.x", x)
        w.add(f"{c}.y", y)
    dataset = TensorDataset(x, y, torch.arange(case.n))
    if case.explicit:
        g = torch.Generator()
        g.manual_seed(case.seed)
        loader = DataLoader(dataset, batch_size=case.batch_size, shuffle=case.shuffle, drop_last=case.drop_last,
                            generator=g)
    else:
        g = None  # torch's draws with generator=None come from the default generator
        torch.manual_seed(case.seed)
        loader = DataLoader(dataset, batch_size=case.batch_size, shuffle=case.shuffle, drop_last=case.drop_last)
    w.add(f"{c}.len", torch.tensor(float(len(loader))))
    for e in range(EPOCHS):
        k = 0
        for bx, by, rows in loader:
            w.add(f"{c}.epoch{e}.batch{k}.indices", rows.double())
            if case.values:
                w.add(f"{c}.epoch{e}.batch{k}.x", bx)
                w.add(f"{c}.epoch{e}.batch{k}.y", by)
            if case.body:
                w.add(f"{c}.epoch{e}.batch{k}.draw", torch.rand(1, dtype=torch.float64, generator=g))
            k += 1
            if e == 0 and k == case.first_epoch_batches:
                break  # the iterator is dropped: no further draw of that epoch happens
        w.add(f"{c}.epoch{e}.batches", torch.tensor(float(k)))
    w.add(f"{c}.next", torch.rand(4, dtype=torch.float64, generator=g))


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: the golden data was made with torch 1.13, this is {torch.__version__}",
              file=sys.stderr)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    w = GoldenWriter()
    write_randperm(w)
    for case in CASES:
        write_loader(w, case)
    w.write("data_loader.txt")
    print(f"  {len(CASES)} loader cases")


if __name__ == "__main__":
    main()
