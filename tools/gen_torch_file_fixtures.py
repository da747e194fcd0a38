#!/usr/bin/python3
"""Writes the torch.save fixtures of tests/io_torch_file_test.cpp under tests/golden/io/.

Run from the repository root with Debian's python3-torch (1.13), which only the system
interpreter sees (the pyenv `python3` first on PATH has no torch):

    /usr/bin/python3 tools/gen_torch_file_fixtures.py

Every file is what torch.save writes (torch 1.13 writes no timestamps, so the output is byte
for byte reproducible), except zip64.pt, which re-packs linear_batchnorm.pt's entries with
zip64 fields everywhere (what torch writes for files past 4 GiB, which are too big to commit),
and is checked to load in torch. Commit the files it writes; the tests never need PyTorch.

torch_file_expected.txt lists, for each file, what tapegrad must read from it:

    file <name>
    tensor <key> <dtype> <rank> <d0> ... <element bits, in hex, row-major>
    refuse <name> <a substring of the error message, to the end of the line>

dtypes with safetensors' names (F32, I64, ...); an element's bits are its little-endian
integer value (a float32 1.0 is 3f800000), so NaN payloads and -0 are compared exactly.
"""
import collections
import io
import os
import struct
import sys
import zipfile
import zlib

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "io")

DTYPES = {
    torch.float64: ("F64", "<Q"), torch.float32: ("F32", "<I"), torch.float16: ("F16", "<H"),
    torch.bfloat16: ("BF16", "<H"), torch.int64: ("I64", "<Q"), torch.int32: ("I32", "<I"),
    torch.int16: ("I16", "<H"), torch.int8: ("I8", "<B"), torch.uint8: ("U8", "<B"), torch.bool: ("BOOL", "<B"),
}


def element_bits(t):
    """The packed row-major bytes of t, as one hex integer per element."""
    name, fmt = DTYPES[t.dtype]
    size = struct.calcsize(fmt)
    flat = t.detach().contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    assert len(raw) == flat.numel() * size
    return name, ["%0*x" % (2 * size, struct.unpack_from(fmt, raw, i * size)[0]) for i in range(flat.numel())]


class Expected:
    def __init__(self):
        self.lines = []

    def state_dict(self, filename, sd):
        self.lines.append(f"file {filename}")
        for key, t in sd.items():
            assert " " not in key
            dtype, bits = element_bits(t)
            self.lines.append(" ".join(["tensor", key, dtype, str(t.dim())] + [str(d) for d in t.shape] + bits))

    def refuse(self, filename, message):
        self.lines.append(f"refuse {filename} {message}")

    def write(self):
        path = os.path.join(OUT, "torch_file_expected.txt")
        with open(path, "w") as f:
            f.write("# Written by tools/gen_torch_file_fixtures.py: what tapegrad reads from each fixture.\n")
            f.write("\n".join(self.lines) + "\n")
        print(f"wrote {path}")


def save(filename, obj, **kwargs):
    path = os.path.join(OUT, filename)
    torch.save(obj, path, **kwargs)
    print(f"wrote {path}: {os.path.getsize(path)} bytes")
    return path


def check_loads(path, sd):
    """torch.load gives back exactly sd (same keys, order, dtypes, shapes and bits)."""
    loaded = torch.load(path)
    assert list(loaded.keys()) == list(sd.keys()), (path, list(loaded.keys()))
    for key in sd:
        a, b = loaded[key], sd[key]
        assert a.dtype == b.dtype and a.shape == b.shape, (path, key)
        assert element_bits(a) == element_bits(b), (path, key)


def repack_zip64(src, dst):
    """src's entries re-packed with every size and offset in zip64 extra fields (local and
    central headers), data descriptors with 8-byte sizes, and a zip64 end record whose plain
    counterpart is all 0xFFFF..."""
    entries = []
    with zipfile.ZipFile(src) as z:
        for info in z.infolist():
            entries.append((info.filename.encode(), z.read(info)))
    out = io.BytesIO()
    central = []
    for name, data in entries:
        offset = out.tell()
        crc = zlib.crc32(data)
        # Local header: bit 3 (sizes in the data descriptor), crc 0, sizes in the zip64 extra (0 here).
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0x0808, 0, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(name), len(extra)))
        out.write(name + extra)
        out.write(data)
        out.write(struct.pack("<IIQQ", 0x08074B50, crc, len(data), len(data)))
        central.append((name, crc, len(data), offset))
    cd_offset = out.tell()
    for name, crc, size, offset in central:
        extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0x0808, 0, 0, 0, crc, 0xFFFFFFFF,
                              0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF))
        out.write(name + extra)
    cd_size = out.tell() - cd_offset
    zip64_end = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(central), len(central), cd_size, cd_offset))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    path = os.path.join(OUT, dst)
    with open(path, "wb") as f:
        f.write(out.getvalue())
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
    print(f"wrote {path}: {os.path.getsize(path)} bytes")
    return path


class Evil:
    """Pickles as a call of os.system: what a malicious .pt holds (never loaded here)."""

    def __reduce__(self):
        return (os.system, ("echo this file runs a shell command when torch.load opens it",))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    expected = Expected()

    def state_dict_file(filename, sd, **kwargs):
        path = save(filename, sd, **kwargs)
        check_loads(path, sd)
        expected.state_dict(filename, sd)
        return path

    # A Linear + BatchNorm1d state dict after three training steps (running stats moved,
    # num_batches_tracked = 3, an int64).
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 3)).pow(2).mean().backward()
        opt.step()
    lbn = state_dict_file("linear_batchnorm.pt", model.state_dict())
    expected.lines.append("file zip64.pt")
    expected.lines.extend(expected.lines[expected.lines.index("file linear_batchnorm.pt") + 1:-1])
    check_loads(repack_zip64(lbn, "zip64.pt"), model.state_dict())

    # The same state dict with protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL),
    # and as keep_vars=True Parameters (_rebuild_parameter).
    state_dict_file("protocol4.pt", model.state_dict(), pickle_protocol=4)
    params = model.state_dict(keep_vars=True)
    path = save("parameters.pt", params)
    check_loads(path, model.state_dict())
    expected.state_dict("parameters.pt", model.state_dict())

    special = [0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 1e-40, 3.0e38, 65504.0, 6e-8, 1 / 3]
    state_dict_file("float64.pt", collections.OrderedDict(
        [("a", torch.randn(2, 3, dtype=torch.float64)), ("special", torch.tensor(special, dtype=torch.float64))]))
    state_dict_file("float16.pt", collections.OrderedDict(
        [("h", torch.randn(3, 2).half()), ("special", torch.tensor(special, dtype=torch.float16))]))
    state_dict_file("bfloat16.pt", collections.OrderedDict(
        [("b", torch.randn(2, 2, 2).bfloat16()), ("special", torch.tensor(special, dtype=torch.bfloat16))]))
    state_dict_file("integers.pt", collections.OrderedDict([
        ("i64", torch.tensor([-(2 ** 63), 2 ** 63 - 1, 0, -1])),
        ("i32", torch.tensor([[-(2 ** 31), 7], [2 ** 31 - 1, -7]], dtype=torch.int32)),
        ("i16", torch.tensor([-32768, 32767, 5], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255, 17], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
    ]))

    # Non-contiguous tensors: torch.save keeps the whole storage and the view's stride and
    # offset. A transpose, a column (stride 4, offset 1), a stride-0 expansion, a 3-d permute.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state_dict_file("noncontiguous.pt", collections.OrderedDict([
        ("transposed", base.t()),
        ("column", torch.arange(12, dtype=torch.float32).reshape(3, 4)[:, 1]),
        ("expanded", torch.tensor([1.5, -2.0, 4.0]).expand(2, 3)),
        ("permuted", torch.randn(2, 3, 4).permute(2, 0, 1)),
    ]))
    # Two tensors sharing one storage, at different offsets (one storage entry in the file).
    shared = torch.arange(10, dtype=torch.float64) * 0.5
    path = state_dict_file("shared_storage.pt", collections.OrderedDict(
        [("first", shared[2:5]), ("second", shared[4:].view(2, 3)), ("whole", shared)]))
    with zipfile.ZipFile(path) as z:
        assert sum(1 for n in z.namelist() if "/data/" in n) == 1, z.namelist()
    state_dict_file("empty.pt", collections.OrderedDict(
        [("empty", torch.empty(0, 3)), ("empty_1d", torch.zeros(0, dtype=torch.int64))]))
    state_dict_file("scalar.pt", collections.OrderedDict(
        [("zero_d", torch.tensor(3.25)), ("zero_d_long", torch.tensor(-7))]))
    # A plain dict (not an OrderedDict) of tensors, as torch.save({...}) writes it.
    state_dict_file("plain_dict.pt", {"x": torch.tensor([1.0, 2.0]), "y": torch.tensor([[3]], dtype=torch.int32)})

    # What must be refused.
    save("list.pt", [torch.ones(2), torch.zeros(3)])
    expected.refuse("list.pt", "the pickle holds a list, not a state dict")
    save("non_tensor_value.pt", collections.OrderedDict([("w", torch.ones(2)), ("epoch", 3)]))
    expected.refuse("non_tensor_value.pt", "state dict entry 'epoch' is an int, not a tensor")
    save("nested.pt", {"model": model.state_dict(), "step": 3})
    expected.refuse("nested.pt", "state dict entry 'model' is a dict, not a tensor")
    save("forbidden_global.pt", collections.OrderedDict([("w", torch.ones(2)), ("payload", Evil())]))
    expected.refuse("forbidden_global.pt", "pickle opcode 'c' global 'posix system' is not allowed")
    save("legacy.pt", collections.OrderedDict([("w", torch.ones(2))]), _use_new_zipfile_serialization=False)
    expected.refuse("legacy.pt", "torch.save's legacy format")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 1)), os.path.join(OUT, "torchscript.pt"))
    expected.refuse("torchscript.pt", "a TorchScript archive")

    expected.write()


if __name__ == "__main__":
    sys.exit(main())
