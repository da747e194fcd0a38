#!/usr/bin/python3
"""Writes tests/golden/interop/: a small trained PyTorch model's state_dict as safetensors and
as torch.save writes it, in float32 and float64, and its eval-mode outputs, for tapegrad's
loaders (tg::load of .safetensors and .pt) and for tools/check_interop_in_torch.py.

Run with Debian's python3-torch (1.13), which only the system interpreter sees:

    /usr/bin/python3 tools/gen_interop_golden.py

and commit the files; the tests never need PyTorch. The output is deterministic.

The model and its training, all in float32 on the default generator:

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(16, 4); y = torch.randn(16, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    5 times: opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
    model.eval(); inputs = torch.randn(8, 4)

so BatchNorm's running_mean and running_var have moved and num_batches_tracked is 5.

Files:
    model.safetensors      model.state_dict(), F32 (num_batches_tracked I64), laid out as the
                           safetensors library lays it out (tools/safetensors_io.py), with
                           "__metadata__": {"format": "pt"}
    model.pt               torch.save(model.state_dict(), path)
    model_f64.safetensors  the same model after model.double(): F64 (num_batches_tracked I64)
    model_f64.pt           torch.save of that
    outputs.txt            inputs and eval-mode outputs, float32 and float64 (its header says how)
"""
import copy
import hashlib
import io
import os
import sys
import tempfile
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

torch.set_num_threads(1)  # one reduction order, whatever the machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "golden", "interop")
TRAIN_STEPS = 5

OUTPUTS_HEADER = """\
# tests/golden/interop/outputs.txt, written by tools/gen_interop_golden.py (torch {version}):
# the eval-mode outputs of the model in model.safetensors / model.pt (float32) and
# model_f64.safetensors / model_f64.pt (the same weights widened to float64),
#   nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)),
# on 8 fixed input rows. Lines starting with # are comments. Then blocks, as in the other golden
# files (tools/golden_io.py):
#   <name> <rank> <d0> <d1> ...
#   <values, row-major, eight to a line, 17 significant digits: exact for float and double>
# Blocks: input.f32 [8, 4] and output.f32 [8, 3] (model(input) in float32), input.f64 and
# output.f64 (the float64 model on the same inputs, widened to double).
"""


def build_model():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def train():
    torch.manual_seed(0)
    model = build_model()
    x = torch.randn(16, 4)
    y = torch.randn(16, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(TRAIN_STEPS):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    model.eval()
    inputs = torch.randn(8, 4)
    return model, inputs


def fmt(v):
    return "%.17g" % v


def block(name, t):
    values = [float(v) for v in t.reshape(-1).tolist()]
    lines = [" ".join([name, str(t.dim())] + [str(d) for d in t.shape])]
    lines += [" ".join(fmt(v) for v in values[i:i + 8]) for i in range(0, len(values), 8)]
    return "\n".join(lines) + "\n"


def write(name, data):
    path = os.path.join(OUT_DIR, name)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: the golden data was made with torch 1.13, this is {torch.__version__}", file=sys.stderr)
    safetensors_io.check_against_library_examples()
    os.makedirs(OUT_DIR, exist_ok=True)

    model, inputs = train()
    model64 = copy.deepcopy(model).double()
    sd32, sd64 = model.state_dict(), model64.state_dict()
    assert int(sd32["1.num_batches_tracked"]) == TRAIN_STEPS and sd64["1.num_batches_tracked"].dtype == torch.int64
    assert not torch.equal(sd32["1.running_mean"], torch.zeros(8))

    with torch.no_grad():
        out32 = model(inputs)
        out64 = model64(inputs.double())

    for suffix, sd in (("", sd32), ("_f64", sd64)):
        st = safetensors_io.serialize(sd, {"format": "pt"})
        back, metadata = safetensors_io.deserialize(st)
        assert metadata == {"format": "pt"} and set(back) == set(sd)
        assert all(torch.equal(back[k], sd[k]) and back[k].dtype == sd[k].dtype for k in sd)
        write(f"model{suffix}.safetensors", st)

        # torch.save to the path, as users call it: torch 1.13 names the zip's top folder after
        # the file ("model/data.pkl", ...), where a buffer would get "archive/"
        pt_path = os.path.join(OUT_DIR, f"model{suffix}.pt")
        torch.save(sd, pt_path)
        with open(pt_path, "rb") as f:
            pt = f.read()
        with tempfile.TemporaryDirectory() as scratch:
            again = os.path.join(scratch, f"model{suffix}.pt")
            torch.save(sd, again)
            with open(again, "rb") as f:
                assert f.read() == pt, "torch.save is not deterministic"
        loaded = torch.load(pt_path)
        assert list(loaded) == list(sd) and all(torch.equal(loaded[k], sd[k]) for k in sd)
        print(f"wrote {pt_path}: {len(pt)} bytes, sha256 {hashlib.sha256(pt).hexdigest()[:16]}")
        names = zipfile.ZipFile(io.BytesIO(pt)).namelist()
        print(f"  model{suffix}.pt holds {names}")

    text = OUTPUTS_HEADER.format(version=torch.__version__)
    text += block("input.f32", inputs) + block("output.f32", out32)
    text += block("input.f64", inputs.double()) + block("output.f64", out64)
    path = os.path.join(OUT_DIR, "outputs.txt")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
