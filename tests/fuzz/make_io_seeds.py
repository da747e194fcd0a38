#!/usr/bin/env python3
"""Writes the starting seeds of the file-reader fuzzers (any python3, no torch needed):

    python3 tests/fuzz/make_io_seeds.py tests/fuzz/corpus_torch_file tests/fuzz/corpus_safetensors

corpus_torch_file/ (torch_file_fuzzer.cpp):
    file_<fixture>       every .pt of tests/golden/io/, as the file (it starts with "PK\\3\\4");
                         file_byteorder_*: newer torch's byteorder and .data/ entries
    entries_<fixture>    its data.pkl and storages joined by "TGSEP": the harness packs them
                         into an archive with the right CRCs, so mutations reach the unpickler
    cut_<n>_<fixture>    truncated copies; crc_<fixture>: a flipped data byte
    pickle_<what>        hand-made pickles (entries form): a forbidden global, views outside
                         their storage, a stride-0 expansion, a big memo, protocol 4 opcodes
corpus_safetensors/ (safetensors_fuzzer.cpp):
    valid_<what>         every dtype, 0-d and empty tensors, metadata, header padding
    bad_<what>           a truncated header, overlapping and gapped spans, a repeated key, ...
"""
import io
import json
import os
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "golden", "io")
SEP = b"TGSEP"


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def entries_form(path):
    """data.pkl, then the storages in key order 0, 1, ... (None if the keys are not that)."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        prefix = names[0].split("/")[0]
        storages = sorted((n for n in names if n.startswith(prefix + "/data/")), key=lambda n: int(n.rsplit("/", 1)[1]))
        if [n.rsplit("/", 1)[1] for n in storages] != [str(i) for i in range(len(storages))]:
            return None
        if any(z.getinfo(n).compress_type != 0 for n in names):
            return None
        return SEP.join([z.read(prefix + "/data.pkl")] + [z.read(n) for n in storages])


def X(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def ints(values):
    return b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"


def tensor(cls, key, numel, offset, size, stride, rest=b"\x89ccollections\nOrderedDict\n)R"):
    return (b"ctorch._utils\n_rebuild_tensor_v2\n((" + X("storage") + b"ctorch\n" + cls.encode() + b"\n" + X(key) +
            X("cpu") + b"K" + bytes([numel]) + b"tQK" + bytes([offset]) + ints(size) + ints(stride) + rest + b"tR")


def state_dict(*items):
    return b"\x80\x02ccollections\nOrderedDict\n)R(" + b"".join(X(k) + v for k, v in items) + b"u."


def torch_seeds(out):
    os.makedirs(out, exist_ok=True)
    six = struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    for name in sorted(os.listdir(FIXTURES)):
        if not name.endswith(".pt"):
            continue
        path = os.path.join(FIXTURES, name)
        data = open(path, "rb").read()
        write(out, "file_" + name, data)
        form = entries_form(path) if zipfile.is_zipfile(path) else None
        if form is not None and not form.startswith(b"PK"):
            write(out, "entries_" + name, form)
    lbn = open(os.path.join(FIXTURES, "linear_batchnorm.pt"), "rb").read()
    for cut in (30, 700, 1500, len(lbn) - 100, len(lbn) - 30, len(lbn) - 10):
        write(out, f"cut_{cut}_linear_batchnorm.pt", lbn[:cut])
    flipped = bytearray(lbn)
    flipped[lbn.index(b"ZZZZ", 800) + 40] ^= 1
    write(out, "crc_linear_batchnorm.pt", bytes(flipped))
    write(out, "pickle_forbidden_global", b"\x80\x02cos\nsystem\n" + X("ls") + b"\x85R.")
    write(out, "pickle_views", state_dict(
        ("t", tensor("FloatStorage", "0", 6, 0, [3, 2], [1, 3])), ("o", tensor("FloatStorage", "0", 6, 1, [2, 2], [3, 1])),
        ("e", tensor("FloatStorage", "0", 6, 2, [4, 2], [0, 1])), ("z", tensor("FloatStorage", "0", 6, 5, [], []))) +
          SEP + six)
    write(out, "pickle_expansion", state_dict(("w", tensor("FloatStorage", "0", 1, 0, [255, 255], [0, 0]))) + SEP +
          struct.pack("<f", 1))
    write(out, "pickle_two_classes", state_dict(("a", tensor("FloatStorage", "0", 6, 0, [6], [1])),
                                                ("b", tensor("IntStorage", "0", 6, 0, [6], [1]))) + SEP + six)
    memo = b"\x80\x02}(" + b"".join(X(f"k{i}") + b"r" + struct.pack("<I", i) + b"N" for i in range(300)) + b"u."
    write(out, "pickle_memo", memo)
    proto4 = (b"\x80\x04\x95" + struct.pack("<Q", 20) + b"}\x94\x8c\x01w\x94\x8c\x0bcollections\x94\x8c\x0bOrderedDict"
              b"\x93)R\x94s.")
    write(out, "pickle_protocol4", proto4)
    for order in ("little", "big"):  # newer torch's entries, in a zip Python writes (no data descriptors)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", state_dict(("w", tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1]))))
            z.writestr("archive/byteorder", order)
            z.writestr("archive/data/0", six)
            z.writestr("archive/version", "3\n")
            z.writestr("archive/.data/serialization_id", "1234567890")
        write(out, f"file_byteorder_{order}", buffer.getvalue())
    write(out, "pickle_metadata", state_dict(("w", tensor("FloatStorage", "0", 6, 0, [6], [1],
                                                          rest=b"\x88}}" + X("conj") + b"\x88s"))) + SEP + six)


def safetensors(tensors, metadata=None, pad=True, order=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds(out):
    os.makedirs(out, exist_ok=True)
    every = [("f64", "F64", [2], struct.pack("<2d", 1.5, -2)), ("f32", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
             ("f16", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x0001)), ("bf16", "BF16", [1], b"\x80\x3f"),
             ("i64", "I64", [], struct.pack("<q", -7)), ("i32", "I32", [1, 1], struct.pack("<i", 3)),
             ("i16", "I16", [2], struct.pack("<2h", -1, 1)), ("i8", "I8", [1], b"\x80"), ("u8", "U8", [2], b"\x00\xff"),
             ("bool", "BOOL", [2], b"\x01\x00"), ("empty", "F32", [0, 3], b"")]
    write(out, "valid_every_dtype", safetensors(every, {"format": "pt", "note": "seed"}))
    write(out, "valid_unpadded", safetensors(every[:2], pad=False))
    write(out, "valid_empty", safetensors([]))
    write(out, "valid_scalar", safetensors([("s", "F32", [], struct.pack("<f", 3.25))]))
    good = safetensors(every[:3])
    write(out, "bad_truncated", good[:-3])
    write(out, "bad_header_length", struct.pack("<Q", 1 << 40) + good[8:])
    write(out, "bad_short", good[:6])
    header = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    write(out, "bad_overlap", struct.pack("<Q", len(header)) + header + b"\0" * 8)
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    write(out, "bad_gap", struct.pack("<Q", len(header)) + header + b"\0" * 8)
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    write(out, "bad_repeated", struct.pack("<Q", len(header)) + header + b"\0" * 8)
    header = b'{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}'
    write(out, "bad_dtype", struct.pack("<Q", len(header)) + header + b"\0" * 8)
    header = b'{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]},"__metadata__":{"k":1}}'
    write(out, "bad_shape_metadata", struct.pack("<Q", len(header)) + header + b"\0" * 4)
    header = b'{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}'
    write(out, "bad_overflow", struct.pack("<Q", len(header)) + header)
    header = b'{"a":[[[[[[1]]]]]]}'
    write(out, "bad_nested", struct.pack("<Q", len(header)) + header)


def main():
    torch_dir, safetensors_dir = sys.argv[1:3]
    torch_seeds(torch_dir)
    safetensors_seeds(safetensors_dir)
    print(f"{len(os.listdir(torch_dir))} seeds in {torch_dir}, {len(os.listdir(safetensors_dir))} in {safetensors_dir}")


if __name__ == "__main__":
    main()
