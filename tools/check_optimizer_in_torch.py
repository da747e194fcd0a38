#!/usr/bin/python3
"""Loads a tapegrad optimizer checkpoint (tg::save(optimizer, path)) into torch.optim.

usage: /usr/bin/python3 tools/check_optimizer_in_torch.py <model.safetensors> <optim.safetensors>

Builds torch's state_dict from the file (state.<i>.<name> tensors, param_groups from the
metadata), loads it with the class's load_state_dict (Adam, AdamW or SGD) over the model's
parameters, checks that every per-parameter tensor and option came through unchanged, and takes one step to show torch runs
with it. Prints PASS or FAIL. (The model file is only used for the parameters' shapes.)
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "U8": torch.uint8}


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {k: torch.frombuffer(bytearray(data[v["data_offsets"][0]:v["data_offsets"][1]]),
                                   dtype=DTYPES[v["dtype"]]).reshape(v["shape"]).clone()
               for k, v in header.items()}
    return tensors, meta


def main():
    model_tensors, _ = read_safetensors(sys.argv[1])
    state_tensors, meta = read_safetensors(sys.argv[2])
    assert meta["optimizer"] in ("Adam", "AdamW", "SGD"), meta
    groups = json.loads(meta["param_groups"])
    params = [torch.nn.Parameter(t.clone()) for k, t in model_tensors.items()
              if t.dtype.is_floating_point and not k.endswith(("running_mean", "running_var"))]
    state = {}
    for key, t in state_tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = t
    optimizer = getattr(torch.optim, meta["optimizer"])(params, lr=123.0)
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    loaded = optimizer.state_dict()
    ok = True
    for i, s in state.items():
        for name, t in s.items():
            if not torch.equal(loaded["state"][i][name].to(t.dtype), t):
                print(f"state {i}.{name} differs")
                ok = False
    for name, value in groups[0].items():
        got = loaded["param_groups"][0][name]
        if (list(got) if isinstance(got, tuple) else got) != value:
            print(f"option {name}: {got} != {value}")
            ok = False
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    print(f"{sys.argv[2]}: {len(state)} parameters' state, options {groups[0]}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
