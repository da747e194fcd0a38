#!/usr/bin/python3
"""Writes tests/golden/distributed_sampler.txt: torch.utils.data.DistributedSampler's indices
(PyTorch 1.13) for tests/data_test.cpp, which checks data::DistributedSampler against them.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_distributed_sampler_golden.py

A case <c> is DistributedSampler(range(n), num_replicas, rank, shuffle, seed, drop_last):
    <c>.config                 [n, num_replicas, shuffle, seed, drop_last] (flags 0 or 1)
    <c>.rank<r>.epoch<e>       list(sampler) after set_epoch(e), for every rank r and e in 0, 1, 2
    <c>.len                    len(sampler) (the same on every rank)
File format: tools/golden_io.py.
"""
import torch
from torch.utils.data import DistributedSampler

from golden_io import GoldenWriter

# (name, n, num_replicas, shuffle, seed, drop_last): even and uneven splits, padding that wraps
# the list more than once (n < num_replicas), drop_last cutting the tail, a large seed.
CASES = (
    ("even", 10, 2, True, 0, False),
    ("uneven", 11, 3, True, 0, False),
    ("uneven_drop_last", 11, 3, True, 0, True),
    ("seed_large", 25, 4, True, 123456789012, False),
    ("wraps", 2, 5, True, 7, False),
    ("no_shuffle", 7, 3, False, 0, False),
    ("no_shuffle_drop_last", 7, 3, False, 0, True),
    ("single", 6, 1, True, 3, False),
    ("long", 1000, 2, True, 42, False),
)


def main():
    w = GoldenWriter()
    for name, n, replicas, shuffle, seed, drop_last in CASES:
        # float64: a list of floats would become float32, which does not hold the large seed
        w.add(f"{name}.config", torch.tensor([n, replicas, shuffle, seed, drop_last], dtype=torch.float64))
        for r in range(replicas):
            s = DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=shuffle, seed=seed,
                                   drop_last=drop_last)
            if r == 0:
                w.add(f"{name}.len", torch.tensor([len(s)], dtype=torch.float64))
            for e in range(3):
                s.set_epoch(e)
                w.add(f"{name}.rank{r}.epoch{e}", torch.tensor(list(s), dtype=torch.float64))
    w.write("distributed_sampler.txt")
    print(f"  {len(CASES)} sampler cases")


if __name__ == "__main__":
    main()
