#!/usr/bin/python3
"""Writes tests/golden/rng_state.txt: torch.get_rng_state()'s bytes in chosen situations and
the draws that follow them, which tests/rng_state_test.cpp checks Generator::get_state and
Generator::set_state against.

Run from anywhere with Debian's python3-torch (1.13), which only the system interpreter sees:

    /usr/bin/python3 tools/gen_rng_state_golden.py

and commit the file; the tests never need PyTorch. The output is deterministic.

File format (lines; `#` starts a comment line):

    state <case> <hex>                      the generator state's bytes, two hex digits each
    draw <case> <call> <n> <v0> ... <vn-1>  what <call> gives after set_rng_state(state)

<call> is rand.f32 or rand.f64 (n = 5), randn.f32 or randn.f64 (n = 3: the scalar normal path,
so a cached normal comes first) or randn17.f32 (the block path and its redrawn tail); values
have 17 significant digits, and every draw starts again from the case's state. Cases:

    seed0               torch.manual_seed(0)
    seed42_randn5_x10   manual_seed(42), then 10 x torch.randn(5): 50 normals, an even number,
                        so no normal is cached
    seed42_randn5_x11   the same with 11: one normal cached
    seed7_rand1000      manual_seed(7), torch.rand(1000): mid-block (left 249, next 376)
    seed1_rand624       manual_seed(1), torch.rand(624): a block spent (left 1, next 624)
    seed42_randn3_f64   manual_seed(42), torch.randn(3, dtype=float64): a cached double normal
    seed_2pow40_plus5   manual_seed(2**40 + 5): the initial seed keeps all 64 bits
    default_seed        torch.Generator(), seed 67280421310721 (what a new tg::Generator holds;
                        the process-wide torch generator starts from a random seed instead)
    import_float_cached seed0's bytes with a float normal (0.5) marked valid: torch keeps it
                        (its CPU normals never use it); the state is torch's get_rng_state()
                        after set_rng_state of those bytes
    import_legacy       the legacy 5048-byte layout: seed 5's first 5048 bytes with
                        normal_x 0.3, normal_rho 1.25 and normal_is_valid 1; torch takes the
                        cached normal to be 1.25 * sin(2 pi 0.3)
    import_legacy.after torch.get_rng_state() after set_rng_state(import_legacy's bytes)

The `import_` cases only go from PyTorch to tapegrad; the others tapegrad also reaches by
itself (tests/rng_state_test.cpp repeats each recipe) and must give the same bytes.
"""
import math
import os
import struct
import sys

import torch

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "rng_state.txt")

DRAWS = [("rand.f32", torch.rand, torch.float32, 5),
         ("rand.f64", torch.rand, torch.float64, 5),
         ("randn.f32", torch.randn, torch.float32, 3),  # the scalar path, so the cache counts
         ("randn.f64", torch.randn, torch.float64, 3),
         ("randn17.f32", torch.randn, torch.float32, 17)]  # the block path and its redrawn tail

# CPUGeneratorImplState's byte offsets (see include/tapegrad/core/generator.hpp)
LEFT, SEEDED, NEXT, NORMAL_X, NORMAL_Y, NORMAL_RHO, NORMAL_IS_VALID = 8, 12, 16, 5016, 5024, 5032, 5040
FLOAT_NORMAL, FLOAT_NORMAL_IS_VALID, LEGACY_SIZE, SIZE = 5048, 5052, 5048, 5056
PADDING = list(range(5044, 5048)) + list(range(5053, 5056))


def state_bytes():
    return bytes(torch.get_rng_state().tolist())


def set_state(b):
    torch.set_rng_state(torch.tensor(list(b), dtype=torch.uint8))


def fmt(v):
    return "%.17g" % v


def draws_after(b):
    """Each call in DRAWS from the state b."""
    out = []
    for name, fn, dtype, n in DRAWS:
        set_state(b)
        out.append((name, fn(n, dtype=dtype).tolist()))
    return out


def recipe_states():
    """The situations tapegrad reproduces, in the order the docstring lists them."""
    cases = []

    def take(name):
        cases.append((name, state_bytes()))

    torch.manual_seed(0)
    take("seed0")
    for count in (10, 11):
        torch.manual_seed(42)
        for _ in range(count):
            torch.randn(5)
        take(f"seed42_randn5_x{count}")
    torch.manual_seed(7)
    torch.rand(1000)
    take("seed7_rand1000")
    torch.manual_seed(1)
    torch.rand(624)
    take("seed1_rand624")
    torch.manual_seed(42)
    torch.randn(3, dtype=torch.float64)
    take("seed42_randn3_f64")
    torch.manual_seed(2**40 + 5)
    take("seed_2pow40_plus5")
    cases.append(("default_seed", bytes(torch.Generator().get_state().tolist())))
    return cases


def check_expectations(cases):
    """What the docstring and docs/RANDOM_STREAMS.md say about these states, checked."""
    fields = {name: struct.unpack_from("<iiQ", b, LEFT) for name, b in cases}  # left, seeded, next
    assert fields["seed0"] == (1, 1, 0), fields["seed0"]
    assert fields["seed7_rand1000"] == (249, 1, 376), fields["seed7_rand1000"]
    assert fields["seed1_rand624"] == (1, 1, 624), fields["seed1_rand624"]
    valid = {name: struct.unpack_from("<i", b, NORMAL_IS_VALID)[0] for name, b in cases}
    assert valid["seed42_randn5_x10"] == 0 and valid["seed42_randn5_x11"] == 1
    assert valid["seed42_randn3_f64"] == 1
    assert struct.unpack_from("<Q", dict(cases)["seed_2pow40_plus5"], 0)[0] == 2**40 + 5
    assert struct.unpack_from("<Q", dict(cases)["default_seed"], 0)[0] == 67280421310721
    for name, b in cases:
        assert len(b) == SIZE
        assert all(b[i] == 0 for i in PADDING), f"{name}: nonzero padding"
        assert struct.unpack_from("<dd", b, NORMAL_X)[0] == 0.0 and struct.unpack_from("<d", b, NORMAL_RHO)[0] == 0.0
        left, _, nxt = fields[name]
        assert (left, nxt) == (1, 0) or left + nxt == 625, f"{name}: left {left}, next {nxt}"

    # What torch itself refuses (tapegrad refuses these and a few more; see set_state).
    base = dict(cases)["seed0"]
    for offset, fmt_, value in [(LEFT, "<i", 0), (LEFT, "<i", 625), (NEXT, "<Q", 625), (SEEDED, "<i", 0)]:
        edited = bytearray(base)
        struct.pack_into(fmt_, edited, offset, value)
        try:
            set_state(edited)
        except RuntimeError as e:
            assert "Invalid mt19937 state" in str(e)
        else:
            raise AssertionError(f"torch took field {offset} = {value}")
    try:
        set_state(base[:100])
    except RuntimeError as e:
        assert "5048" in str(e) and "5056" in str(e)
    else:
        raise AssertionError("torch took 100 bytes")


def import_states(cases):
    base = dict(cases)["seed0"]
    with_float = bytearray(base)
    struct.pack_into("<f", with_float, FLOAT_NORMAL, 0.5)
    with_float[FLOAT_NORMAL_IS_VALID] = 1
    set_state(with_float)
    after = state_bytes()
    assert after == bytes(with_float), "torch changed a state with a float normal"

    torch.manual_seed(5)
    legacy = bytearray(state_bytes()[:LEGACY_SIZE])
    struct.pack_into("<d", legacy, NORMAL_X, 0.3)
    struct.pack_into("<d", legacy, NORMAL_RHO, 1.25)
    struct.pack_into("<i", legacy, NORMAL_IS_VALID, 1)
    set_state(legacy)
    legacy_after = state_bytes()
    cached = struct.unpack_from("<d", legacy_after, NORMAL_Y)[0]
    assert cached == 1.25 * math.sin(2.0 * math.pi * 0.3), cached
    return [("import_float_cached", after), ("import_legacy", bytes(legacy)), ("import_legacy.after", legacy_after)]


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: the golden data was made with torch 1.13, this is {torch.__version__}", file=sys.stderr)
    cases = recipe_states()
    check_expectations(cases)
    cases += import_states(cases)
    with open(OUT, "w") as f:
        f.write("# torch.get_rng_state() bytes and the draws after them, from tools/gen_rng_state_golden.py\n"
                f"# (torch {torch.__version__}); its docstring describes the format and the cases.\n")
        for name, b in cases:
            f.write(f"state {name} {b.hex()}\n")
            if name.endswith(".after"):
                continue  # the same stream as the state it came from
            for call, values in draws_after(b):
                f.write(f"draw {name} {call} {len(values)} {' '.join(fmt(v) for v in values)}\n")
    print(f"wrote {OUT}: {len(cases)} states")


if __name__ == "__main__":
    main()
