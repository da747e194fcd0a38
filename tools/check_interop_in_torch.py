#!/usr/bin/python3
"""Checks in PyTorch a safetensors file that tapegrad wrote: it must load, strict, into the
model of tools/gen_interop_golden.py and give that model's eval-mode outputs.

    /usr/bin/python3 tools/check_interop_in_torch.py model.safetensors [outputs.txt]

The file is parsed by hand (tools/safetensors_io.py checks what the safetensors library's
reader checks). Its float tensors decide the case: F32 -> a float32 model, compared with
output.f32; F64 -> float64, output.f64. Every key must be the model's (load_state_dict with
strict=True), of the dtype and shape PyTorch's own state_dict has (num_batches_tracked I64).
The outputs on input.<dtype> of outputs.txt (default tests/golden/interop/outputs.txt) must
agree to 1e-6, absolute below 1 and relative above. Prints PASS or FAIL and a reason, and
exits 0 or 1.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from gen_interop_golden import build_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUTS = os.path.join(ROOT, "tests", "golden", "interop", "outputs.txt")
TOLERANCE = 1e-6


def read_blocks(path):
    """outputs.txt's blocks: name -> tensor (double), skipping # comment lines."""
    tokens = []
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                tokens += line.split()
    blocks, i = {}, 0
    while i < len(tokens):
        name, rank = tokens[i], int(tokens[i + 1])
        shape = [int(d) for d in tokens[i + 2:i + 2 + rank]]
        i += 2 + rank
        count = 1
        for d in shape:
            count *= d
        blocks[name] = torch.tensor([float(v) for v in tokens[i:i + count]], dtype=torch.float64).reshape(shape)
        i += count
    return blocks


def check(path, outputs_path):
    """None when the file passes, else why it fails."""
    with open(path, "rb") as f:
        buf = f.read()
    try:
        tensors, metadata = safetensors_io.deserialize(buf)
    except safetensors_io.FormatError as e:
        return f"not a valid safetensors file: {e}"
    float_dtypes = {t.dtype for t in tensors.values() if t.is_floating_point()}
    if len(float_dtypes) != 1 or next(iter(float_dtypes)) not in (torch.float32, torch.float64):
        return f"expected all float tensors F32 or all F64, got {sorted(str(d) for d in float_dtypes)}"
    dtype = next(iter(float_dtypes))
    tag = "f32" if dtype == torch.float32 else "f64"

    model = build_model().to(dtype)
    expected_entries = model.state_dict()
    for name, t in tensors.items():
        if name in expected_entries:
            want = expected_entries[name]
            if t.dtype != want.dtype or list(t.shape) != list(want.shape):
                return f"{name}: {t.dtype} {list(t.shape)}, PyTorch's state_dict has {want.dtype} {list(want.shape)}"
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        return f"load_state_dict(strict=True) refused it: {e}"
    model.eval()

    blocks = read_blocks(outputs_path)
    inputs, expected = blocks[f"input.{tag}"].to(dtype), blocks[f"output.{tag}"]
    with torch.no_grad():
        actual = model(inputs).double()
    if actual.shape != expected.shape:
        return f"output shape {list(actual.shape)}, expected {list(expected.shape)}"
    scaled = ((actual - expected).abs() / expected.abs().clamp(min=1.0)).max().item()
    print(f"{path}: {len(tensors)} tensors, {tag}, metadata {metadata}, largest scaled output error {scaled:.3g}")
    if not scaled <= TOLERANCE:
        return f"outputs differ by {scaled:.3g} (scaled), more than {TOLERANCE}"
    return None


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    outputs_path = sys.argv[2] if len(sys.argv) == 3 else DEFAULT_OUTPUTS
    reason = check(sys.argv[1], outputs_path)
    if reason is None:
        print("PASS")
        sys.exit(0)
    print(f"FAIL: {reason}")
    sys.exit(1)


if __name__ == "__main__":
    main()
