#!/usr/bin/env python3
"""Writes the hand-made starting seeds of op_program_fuzzer into the directory given.

The byte layout is the one decode() in op_program_fuzzer.cpp reads:
  head (inputs - 1 in head % 3, float when (head >> 2) % 16 == 5)
  per input: rank, one byte per dim (kSizes[b % 8]), mode (requires grad unless mode % 4 == 3,
             fill (mode >> 2) % 4), seed, stride, [fill 2: one byte per element, up to 8]
  n_steps, then per step: kind, sel0, sel1, p0, p1, p2, flags (no_grad when flags % 8 == 7)
  root_sel, reduce, mode, grad_byte, post
"""
import os
import sys

KINDS = ("add sub mul div neg scalar_arith compare compare_scalar pow exp log sqrt abs tanh sigmoid relu "
         "reciprocal sum_all sum_dim mean_all mean_dim var_all var_dim max_all max_dim softmax log_softmax "
         "matmul matmul_fresh reshape transpose t unsqueeze squeeze narrow detach clone requires_grad "
         "linear_fresh linear_operands linear_module mse bce batch_norm batch_norm_module dropout factory "
         "factory_like in_place_clone in_place_alias sequential activation_module broadcast_fresh query "
         "mid_backward set_grad grad_value edge_shapes").split()
SIZE = {1: 0, 2: 1, 3: 2, 0: 3, 4: 4, 5: 5}  # size -> byte


def inp(shape, grad=True, fill=0, seed=0, stride=0, elems=()):
    out = [len(shape)] + [SIZE[d] for d in shape]
    out += [(fill << 2) | (0 if grad else 3), seed, stride] + list(elems)
    return out


def step(kind, sel0=0, sel1=1, p0=0, p1=0, p2=0, no_grad=False):
    return [KINDS.index(kind), sel0, sel1, p0, p1, p2, 7 if no_grad else 0]


def program(inputs, steps, tail=(1, 0, 0, 0, 0), float_mode=False):
    head = next(h for h in range(256) if h % 3 == len(inputs) - 1 and ((h >> 2) % 16 == 5) == float_mode)
    out = [head]
    for i in inputs:
        out += i
    out.append(len(steps))
    for s in steps:
        out += s
    return bytes(out + list(tail))


SEEDS = {
    "tanh_sum": program([inp([2, 3])], [step("tanh"), step("sum_dim", p0=1)]),
    "matmul_softmax": program([inp([2, 3], seed=1), inp([3, 4], seed=5)],
                              [step("matmul", 1, 0), step("softmax", p0=1), step("log")], tail=(1, 2, 2, 3, 0)),
    "nasty_unary": program([inp([3], fill=2, elems=[16, 18, 20])],
                           [step("exp"), step("log"), step("sqrt"), step("abs")], tail=(1, 0, 5, 0, 3)),
    "broadcast": program([inp([2, 1, 3]), inp([4, 3], seed=3), inp([3], seed=7)],
                         [step("add", 2, 1), step("mul", 0, 1), step("div", 0, 3), step("var_dim", p0=2, p1=1)],
                         tail=(1, 2, 9, 0, 0)),
    "losses": program([inp([4, 3], seed=2), inp([4, 2], grad=False, seed=9)],
                      [step("linear_fresh", p0=1, p1=3, p2=4), step("sigmoid"), step("bce"),
                       step("mse", 2, 1, p0=1)], tail=(1, 0, 0, 0, 3)),
    "edges": program([inp([1])], [step("edge_shapes", p0=k, p1=k * 9) for k in range(5)]),
    "narrow_extreme": program([inp([3, 2])], [step("narrow", p0=0, p1=5, p2=240), step("narrow", p0=1, p1=240, p2=3),
                                              step("narrow", p0=1, p1=5, p2=1)]),
    "shapes": program([inp([2, 3, 4], seed=4)],
                      [step("reshape", p0=1), step("transpose", p0=0, p1=1), step("narrow", p0=1, p1=5, p2=1),
                       step("unsqueeze", p0=1), step("squeeze", p1=0), step("t"), step("mean_all")],
                      tail=(1, 0, 4, 0, 0)),
    "float_mix": program([inp([3, 2], seed=6), inp([2], seed=1)],
                         [step("matmul", 1, 0), step("relu"), step("max_dim", p0=1), step("pow", p0=4)],
                         tail=(1, 3, 6, 0, 0), float_mode=True),
    "modules": program([inp([4, 3], seed=8)],
                       [step("sequential", p0=9, p1=1), step("batch_norm_module", p0=1), step("dropout", p0=1, p1=1),
                        step("activation_module", p0=2, p1=3), step("query")], tail=(1, 0, 1, 0, 7)),
    "misuse": program([inp([2, 2]), inp([2], seed=3)],
                      [step("mid_backward", p0=1), step("set_grad", p0=1, p1=2), step("requires_grad", p0=0),
                       step("grad_value"), step("in_place_clone", p0=0x72), step("factory", p0=0x40, p1=2),
                       step("matmul_fresh", p0=2, p1=9)], tail=(1, 0, 3, 1, 0)),
}

if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, "seed_" + name), "wb") as f:
            f.write(data)
