"""IDX/MNIST reader on the real files and on corrupt copies; the bundled digits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from snnfunc.app.data import (
    Dataset,
    batches,
    load_dataset,
    load_digits,
    load_mnist,
    read_idx,
)


def _idx_bytes(data: bytes, shape: tuple[int, ...], type_byte: int = 0x08) -> bytes:
    return (
        bytes([0, 0, type_byte, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + data
    )


def test_real_mnist_test_split(mnist: Path) -> None:
    data = load_mnist(mnist, "test")
    assert data.images.shape == (10_000, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    assert data.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # SOURCE.md
    counts = torch.bincount(data.labels, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert 0.0 == data.images.min() and data.images.max() == 1.0
    assert data.images.mean().item() == pytest.approx(0.132515, abs=1e-5)


def test_read_idx_gz_and_raw_agree(tmp_path: Path, mnist: Path) -> None:
    gz = mnist / "t10k-labels-idx1-ubyte.gz"
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    a, b = read_idx(gz), read_idx(raw)
    assert a.shape == (10_000,) and a.dtype == torch.uint8
    assert torch.equal(a, b)


def test_load_mnist_from_uncompressed_copies(tmp_path: Path, mnist: Path) -> None:
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((mnist / f"{name}.gz").read_bytes()))
    got, want = load_mnist(tmp_path, "test"), load_mnist(mnist, "test")
    assert torch.equal(got.images, want.images) and torch.equal(got.labels, want.labels)


def test_corrupt_mnist_copies(tmp_path: Path, mnist: Path) -> None:
    src = (mnist / "t10k-labels-idx1-ubyte.gz").read_bytes()
    raw = gzip.decompress(src)
    truncated_gz = tmp_path / "trunc.gz"
    truncated_gz.write_bytes(src[: len(src) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        read_idx(truncated_gz)
    truncated = tmp_path / "trunc"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match=r"truncated: header \(10000,\) needs 10008 bytes"):
        read_idx(truncated)
    bad_magic = tmp_path / "magic"
    bad_magic.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(ValueError, match="bad magic number 0x1234"):
        read_idx(bad_magic)
    longer = tmp_path / "longer"
    longer.write_bytes(raw + b"\x00")
    with pytest.raises(ValueError, match="longer than its header"):
        read_idx(longer)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="data directory not found"):
        load_mnist(tmp_path / "nodir")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, "train")


def test_images_labels_count_mismatch(tmp_path: Path) -> None:
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(bytes(3 * 4), (3, 2, 2)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(bytes(2), (2,)))
    with pytest.raises(ValueError, match="has 3 images but .* has 2 labels"):
        load_mnist(tmp_path, "test")


def test_read_idx_big_endian_types(tmp_path: Path) -> None:
    values = [1, -2, 70_000, 5, 6, -7]
    path = tmp_path / "ints"
    path.write_bytes(_idx_bytes(struct.pack(">6i", *values), (2, 3), 0x0C))
    assert read_idx(path).tolist() == [values[:3], values[3:]]
    floats = tmp_path / "floats"
    floats.write_bytes(_idx_bytes(struct.pack(">2d", 0.5, -1.25), (2,), 0x0E))
    got = read_idx(floats)
    assert got.dtype == torch.float64 and got.tolist() == [0.5, -1.25]


def test_dotted_mnist_names_also_found(tmp_path: Path) -> None:
    (tmp_path / "t10k-images.idx3-ubyte").write_bytes(_idx_bytes(bytes(range(8)), (2, 2, 2)))
    (tmp_path / "t10k-labels.idx1-ubyte").write_bytes(_idx_bytes(bytes([3, 9]), (2,)))
    data = load_mnist(tmp_path, "test")
    assert data.images.shape == (2, 1, 2, 2) and data.labels.tolist() == [3, 9]
    assert data.images[1, 0, 1, 1].item() == pytest.approx(7 / 255)


def test_digits_split_is_fixed_disjoint_and_scaled() -> None:
    train, test = load_digits("train"), load_digits("test")
    assert train.images.shape == (1347, 1, 8, 8) and test.images.shape == (450, 1, 8, 8)
    assert train.images.min() == 0.0 and train.images.max() == 1.0
    assert torch.equal(load_digits("test").images, test.images)  # deterministic
    flat_train = {tuple(x.flatten().tolist()) for x in train.images}
    overlap = sum(tuple(x.flatten().tolist()) in flat_train for x in test.images)
    assert overlap < 5  # the digits set holds a few duplicate images; the split itself is disjoint
    assert torch.bincount(test.labels).min() >= 40  # stratified


def test_load_dataset_errors() -> None:
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        load_digits("valid")


def test_batches_cover_every_example_once() -> None:
    data = Dataset(torch.arange(10.0).reshape(10, 1, 1, 1), torch.arange(10))
    got = list(batches(data, 4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [len(y) for _, y in got] == [4, 4, 2]
    assert sorted(torch.cat([y for _, y in got]).tolist()) == list(range(10))
    assert [len(y) for _, y in batches(data, 4, drop_last=True)] == [4, 4]
