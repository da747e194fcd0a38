"""safetensors written and read by hand, for tools/gen_interop_golden.py and
tools/check_interop_in_torch.py (Debian has no safetensors package).

The format: an 8-byte little-endian header length n, then n bytes of JSON

    {"__metadata__": {"format": "pt"}, "<name>": {"dtype": "F32", "shape": [8, 4],
     "data_offsets": [begin, end]}, ...}

padded with spaces to a multiple of 8, then the tensors' raw little-endian bytes, row-major,
back to back; data_offsets count from the first byte after the header.

`serialize` lays a file out as the safetensors library (its Rust `prepare`) does, so the bytes
are what `safetensors.torch.save_file(tensors, path, metadata)` would write: tensors sorted by
dtype, largest alignment first (the order of the library's Dtype enum, descending), then by
name; the JSON compact (no spaces), "__metadata__" first, then the tensors in file order, each
as dtype, shape, data_offsets. `deserialize` checks what the library's reader checks: a
header of valid UTF-8 JSON, offsets that start at 0, follow one another without gaps, match
shape and dtype, and end at the end of the file.
"""
import json
import struct

import torch

# The library's Dtype enum, in declaration order (increasing alignment): the file sorts
# tensors by it, descending.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
               "F64", "I64", "U64"]

# dtype name -> (torch dtype, bytes per element, struct code or None when decoded by hand)
DTYPES = {
    "F16": (torch.float16, 2, "e"),
    "BF16": (torch.bfloat16, 2, None),
    "F32": (torch.float32, 4, "f"),
    "F64": (torch.float64, 8, "d"),
    "I32": (torch.int32, 4, "i"),
    "I64": (torch.int64, 8, "q"),
}
DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
               torch.float16: "F16"}


def tensor_bytes(t):
    """The tensor's elements, row-major, little-endian."""
    name = DTYPE_NAMES[t.dtype]
    values = t.detach().contiguous().reshape(-1).tolist()
    return struct.pack("<%d%s" % (len(values), DTYPES[name][2]), *values)


def serialize(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` (name -> torch.Tensor)."""
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_ORDER.index(DTYPE_NAMES[kv[1].dtype]), kv[0]))
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, t in items:
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # the library pads so that the data starts 8-aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


class FormatError(ValueError):
    pass


def decode(dtype, raw, count):
    torch_dtype, size, code = DTYPES[dtype]
    if code is not None:
        return torch.tensor(list(struct.unpack("<%d%s" % (count, code), raw)), dtype=torch_dtype)
    # BF16: the high half of a float32
    halves = struct.unpack("<%dH" % count, raw)
    floats = struct.unpack("<%df" % count, struct.pack("<%dI" % count, *[h << 16 for h in halves]))
    return torch.tensor(list(floats), dtype=torch.float32).to(torch.bfloat16)


def deserialize(buf):
    """(tensors in file order as a dict name -> torch.Tensor, metadata or None); FormatError
    says what is wrong with a malformed file."""
    if len(buf) < 8:
        raise FormatError(f"{len(buf)} bytes: shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if 8 + n > len(buf):
        raise FormatError(f"header length {n} runs past the end of the {len(buf)}-byte file")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"header is not UTF-8 JSON: {e}")
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"{name}: expected dtype, shape and data_offsets, got {info!r}")
        if info["dtype"] not in DTYPES:
            raise FormatError(f"{name}: dtype {info['dtype']} not handled here")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise FormatError(f"{name}: shape {shape!r} is not a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise FormatError(f"{name}: data_offsets {offsets!r} are not two integers")
        begin, end = offsets
        entries.append((begin, end, name, info))
    entries.sort(key=lambda e: (e[0], e[1]))
    data = buf[8 + n:]
    position = 0
    tensors = {}
    for begin, end, name, info in entries:
        if begin != position or end < begin:
            raise FormatError(f"{name}: data_offsets [{begin}, {end}] do not follow the previous tensor's end {position}")
        if end > len(data):
            raise FormatError(f"{name}: data_offsets [{begin}, {end}] run past the {len(data)} data bytes")
        count = 1
        for d in info["shape"]:
            count *= d
        if end - begin != count * DTYPES[info["dtype"]][1]:
            raise FormatError(f"{name}: {end - begin} bytes for shape {info['shape']} of {info['dtype']}")
        tensors[name] = decode(info["dtype"], data[begin:end], count).reshape(info["shape"])
        position = end
    if position != len(data):
        raise FormatError(f"the tensors end at data byte {position}, the file at {len(data)}")
    return tensors, metadata


def check_against_library_examples():
    """serialize() reproduces the bytes the safetensors library's own unit tests expect."""
    # no tensors, metadata {"framework": "pt"}: a 40-byte header, padded with five spaces
    empty = serialize({}, {"framework": "pt"})
    assert empty == struct.pack("<Q", 40) + b'{"__metadata__":{"framework":"pt"}}' + b" " * 5, empty
    # one F32 tensor [1, 1, 2, 3] holding 0..5: a 72-byte header, padded with seven spaces
    one = serialize({"attn0": torch.arange(6, dtype=torch.float32).reshape(1, 1, 2, 3)})
    expected_header = b'{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}' + b" " * 7
    assert one == struct.pack("<Q", 72) + expected_header + struct.pack("<6f", 0, 1, 2, 3, 4, 5), one
