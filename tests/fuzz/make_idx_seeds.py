#!/usr/bin/env python3
"""Writes idx_fuzzer's starting seeds into a directory (tests/fuzz/corpus_idx/ holds them and
what fuzzing added): small IDX files of every type, raw; the same gzipped (gzip module, so a
real gzip header with a name and mtime 0); 'G' + flag + IDX inputs, which the harness gzips
itself (flag bit 0: in two members; bit 1: junk after them); a 2-image MNIST-shaped file and
labels; a few broken ones (junk after a member, a stream over the harness's inflate cap, a
truncated stream, trailing bytes, overflowing sizes).
No dependency beyond the standard library.

    python3 tests/fuzz/make_idx_seeds.py tests/fuzz/corpus_idx
"""
import gzip
import io
import os
import struct
import sys

TYPES = {0x08: "B", 0x09: "b", 0x0B: ">h", 0x0C: ">i", 0x0D: ">f", 0x0E: ">d"}


def idx(code, sizes, values):
    fmt = TYPES[code]
    body = b"".join(struct.pack(fmt if fmt.startswith(">") else ">" + fmt, v) for v in values)
    return bytes([0, 0, code, len(sizes)]) + b"".join(struct.pack(">I", s) for s in sizes) + body


def gz(data, name="seed.idx"):
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {}
    samples = {0x08: [0, 1, 255, 7, 9, 3], 0x09: [-128, -1, 0, 1, 127, 5], 0x0B: [-32768, -1, 0, 1, 32767, 258],
               0x0C: [-2**31, -1, 0, 1, 2**31 - 1, 65536], 0x0D: [1.5, -0.0, 3e38, 1e-45, float("inf"), float("nan")],
               0x0E: [0.1, -2.5, 1e300, 5e-324, float("-inf"), float("nan")]}
    for code, values in samples.items():
        f = idx(code, [2, 3], values)
        seeds[f"seed_raw_{code:02x}"] = f
        seeds[f"seed_gz_{code:02x}"] = gz(f)
        seeds[f"seed_G_{code:02x}"] = b"G\x00" + f
    seeds["seed_raw_3d"] = idx(0x08, [2, 2, 2], range(8))
    seeds["seed_raw_8d"] = idx(0x08, [1, 2, 1, 1, 1, 1, 1, 2], range(4))
    seeds["seed_raw_zero_dim"] = idx(0x0C, [3, 0], [])
    seeds["seed_G_two_members"] = b"G\x01" + idx(0x0B, [4], [1, 2, 3, 4])
    images = idx(0x08, [2, 28, 28], [(i * 31) % 256 for i in range(2 * 784)])
    seeds["seed_gz_mnist_images"] = gz(images)
    seeds["seed_G_mnist_labels"] = b"G\x00" + idx(0x08, [2], [3, 9])
    seeds["seed_gz_concatenated"] = gz(idx(0x08, [4], [1, 2, 3, 4])[:6]) + gz(idx(0x08, [4], [1, 2, 3, 4])[6:])
    seeds["seed_G_junk_after"] = b"G\x02" + idx(0x08, [2], [1, 2])
    seeds["seed_bad_gz_over_cap"] = gz(bytes(2 << 20))  # 2 MB of zeros: over the harness's 1 MB cap
    seeds["seed_bad_trailing"] = idx(0x08, [2], [1, 2]) + b"\x00"
    seeds["seed_bad_overflow"] = bytes([0, 0, 0x0E, 3]) + b"\xff\xff\xff\xff" * 3
    seeds["seed_bad_gz_truncated"] = gz(idx(0x08, [2, 3], range(6)))[:-5]
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus_idx")
