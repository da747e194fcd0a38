#!/usr/bin/python3
"""Writes the goldens of tests/data_mnist_test.cpp, each read independently of tapegrad:

tests/golden/fashion_mnist.txt: Debian's dataset-fashion-mnist files
(/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz) read with Python's gzip and struct as the
IDX format defines it (big-endian magic 0x00000803 / 0x00000801, then big-endian uint32 sizes,
then the bytes), for the train and t10k sets <s>:
    <s>.count            [N]
    <s>.label_counts     (10): how many examples of each class
    <s>.labels_first20   the first 20 labels
    <s>.image_sums       (3): the byte sums of images 0, 1, 2
    <s>.image0_row14     (28): row 14 of image 0, bytes 0..255
    <s>.image_last_row14 (28): row 14 of the last image
    <s>.pixel_sum        [sum of every byte of every image]
(the test compares the images scaled to [0, 1] as byte / 255 in float, and back).

tests/golden/digits.txt: scikit-learn's load_digits() (python3-sklearn 1.2.1), the reference
for examples/common/digits.hpp on examples/data/digits.csv.gz:
    digits.shape         [n_samples, 8, 8] of load_digits().images
    digits.image0        (64): images[0] / 16, row-major
    digits.image_last    (64): images[-1] / 16
    digits.target_counts (10)
    digits.targets_first20
    digits.pixel_sum     [images.sum() / 16]

Run from anywhere with the system interpreter (tools/golden_io.py imports torch, which only it has):
    /usr/bin/python3 tools/gen_data_idx_golden.py
"""
import gzip
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def float64(values):
    """A list of Python floats becomes float32 in torch.as_tensor; sums need float64."""
    import torch
    return torch.tensor([float(v) for v in values], dtype=torch.float64)


def read_idx_u8(path, ndims):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    assert magic == 0x0800 | ndims, f"{path}: magic {magic:#x}"
    sizes = struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims])
    body = data[4 + 4 * ndims:]
    n = 1
    for s in sizes:
        n *= s
    assert len(body) == n, f"{path}: {len(body)} data bytes for sizes {sizes}"
    return sizes, body


def fashion(w):
    for split in ("train", "t10k"):
        (n, rows, cols), images = read_idx_u8(f"{FASHION}/{split}-images-idx3-ubyte.gz", 3)
        (m,), labels = read_idx_u8(f"{FASHION}/{split}-labels-idx1-ubyte.gz", 1)
        assert (rows, cols) == (28, 28) and n == m
        px = rows * cols
        w.add(f"{split}.count", [n])
        w.add(f"{split}.label_counts", [sum(1 for v in labels if v == c) for c in range(10)])
        w.add(f"{split}.labels_first20", list(labels[:20]))
        w.add(f"{split}.image_sums", [sum(images[i * px:(i + 1) * px]) for i in range(3)])
        w.add(f"{split}.image0_row14", list(images[14 * 28:15 * 28]))
        last = (n - 1) * px
        w.add(f"{split}.image_last_row14", list(images[last + 14 * 28:last + 15 * 28]))
        w.add(f"{split}.pixel_sum", float64([sum(images)]))
    w.write("fashion_mnist.txt")


def digits(w):
    from sklearn.datasets import load_digits
    d = load_digits()
    images = d.images / 16.0
    w.add("digits.shape", list(d.images.shape))
    w.add("digits.image0", images[0].reshape(-1).tolist())
    w.add("digits.image_last", images[-1].reshape(-1).tolist())
    w.add("digits.target_counts", [int((d.target == c).sum()) for c in range(10)])
    w.add("digits.targets_first20", d.target[:20].tolist())
    w.add("digits.pixel_sum", float64([images.sum()]))
    w.write("digits.txt")


if __name__ == "__main__":
    fashion(GoldenWriter())
    digits(GoldenWriter())
