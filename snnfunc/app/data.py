"""Datasets as tensors: MNIST from its IDX files, scikit-learn's bundled 8x8 digits, and
temporal (sequence) datasets such as Randman (:mod:`snnfunc.app.randman`).

Nothing is downloaded: MNIST is read from a directory the user provides (the project's tests use
``../shared/data/mnist`` beside the repository), the digits ship with scikit-learn (imported
only when :func:`load_digits` is called), and Randman is generated from a seed.

Images come back as ``[N, 1, H, W]`` float32 in [0, 1], labels as ``[N]`` int64. A temporal
dataset (``DatasetInfo.temporal``) holds sequences ``[N, T, *input_shape]`` float32 (spike counts
per time bin) in the same :class:`Dataset` (field ``images``); a model feeds them to the network
time-major, ``[T, B, *input_shape]``, with no encoder. A loader of events,
``load(data_dir, split, *, num_bins) -> (inputs [N, T, C], labels [N])``, registers in one line
with :func:`sequence_loader`::

    "shd": DatasetInfo((700,), 20, sequence_loader(load_shd, num_bins=100), temporal=True),
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.app.events import load_nmnist, load_shd, load_ssc

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "Dataset",
    "read_idx",
    "load_mnist",
    "load_digits",
    "load_dataset",
    "default_mnist_dir",
    "batches",
    "sequence_loader",
]

# IDX type byte -> (torch dtype, bytes per element); multi-byte values are big-endian.
_IDX_TYPES: dict[int, tuple[torch.dtype, int]] = {
    0x08: (torch.uint8, 1),
    0x09: (torch.int8, 1),
    0x0B: (torch.int16, 2),
    0x0C: (torch.int32, 4),
    0x0D: (torch.float32, 4),
    0x0E: (torch.float64, 8),
}

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class Dataset(NamedTuple):
    """A labelled set held in memory: images, or sequences of a temporal dataset."""

    images: Tensor  # [N, 1, H, W] float32 in [0, 1]; temporal: [N, T, *input_shape] float32
    labels: Tensor  # [N] int64 class indices


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path} is a corrupt or truncated gzip file ({err})") from err
    return raw


def read_idx(path: str | Path) -> Tensor:
    """Read one IDX file (the MNIST format), gzipped or not.

    Layout: two zero bytes, a type byte (``0x08`` = uint8, ...), the number of dims ``d``, then
    ``d`` big-endian uint32 sizes and the data, big-endian, C order.

    Args:
        path: the file; gzip is detected from its content, not its name.
    Returns:
        A tensor of the stored shape and dtype (``[N, 28, 28]`` uint8 for MNIST images).
    Raises:
        FileNotFoundError: no such file.
        ValueError: bad magic number, unknown type, or data shorter/longer than the header says.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path} is too short to be an IDX file ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()} (expected "
            f"0x0000, a type byte in {sorted(hex(k) for k in _IDX_TYPES)} and the number of dims)"
        )
    dtype, width = _IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: header needs {header} bytes, file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    count = 1
    for size in shape:
        count *= size
    expected = header + count * width
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(
            f"{path} is {what}: header {shape} needs {expected} bytes, file has {len(raw)}"
        )
    data = torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8)
    if width == 1:
        return data.view(dtype).reshape(shape)
    # big-endian -> native: reverse the bytes of each element, then reinterpret.
    swapped = data.reshape(-1, width).flip(1).contiguous().reshape(-1)
    return swapped.view(dtype).reshape(shape)


def _find(data_dir: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz``, also accepting the ``train-images.idx3-ubyte`` spelling."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise FileNotFoundError(
        f"MNIST file {stem}[.gz] not found in {data_dir} (expected the four standard IDX files "
        f"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte, gzipped or not; nothing is downloaded)"
    )


def load_mnist(data_dir: str | Path, split: str = "train") -> Dataset:
    """MNIST from the standard IDX files in ``data_dir``.

    Args:
        data_dir: directory holding the four IDX files (``.gz`` or raw).
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
    Returns:
        :class:`Dataset` with images ``[N, 1, 28, 28]`` in [0, 1] and labels ``[N]``.
    """
    check_choice("split", split, ("train", "test"))
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"MNIST data directory not found: {root}")
    image_stem, label_stem = _MNIST_FILES[split]
    image_path, label_path = _find(root, image_stem), _find(root, label_stem)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise ValueError(
            f"{image_path} must hold uint8 images [N, H, W], got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    if labels.dim() != 1 or labels.dtype != torch.uint8:
        raise ValueError(
            f"{label_path} must hold uint8 labels [N], got {labels.dtype} {tuple(labels.shape)}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{image_path} has {images.shape[0]} images but {label_path} has "
            f"{labels.shape[0]} labels"
        )
    if int(labels.max()) > 9:
        raise ValueError(f"{label_path} holds a label {int(labels.max())} outside 0..9")
    return Dataset(images.unsqueeze(1).float() / 255.0, labels.long())


def load_digits(split: str = "train", *, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download).

    The split is a fixed, seeded, stratified shuffle, so ``"train"`` and ``"test"`` never overlap
    and are the same on every machine for the same ``seed``.

    Args:
        split: ``"train"`` or ``"test"``.
        test_fraction: share of the images held out for ``"test"``.
        seed: seed of the split.
    Returns:
        :class:`Dataset` with images ``[N, 1, 8, 8]`` in [0, 1] (pixels / 16) and labels ``[N]``.
    """
    check_choice("split", split, ("train", "test"))
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits dataset needs scikit-learn: pip install 'snnfunc[train]'"
        ) from err
    bunch = sk_load_digits()
    index = list(range(len(bunch.target)))
    train_idx, test_idx = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    chosen = sorted(train_idx if split == "train" else test_idx)
    images = torch.tensor(bunch.images[chosen], dtype=torch.float32) / 16.0
    return Dataset(images.unsqueeze(1), torch.tensor(bunch.target[chosen], dtype=torch.long))


def default_mnist_dir() -> Path | None:
    """The shared MNIST beside the repository (``../shared/data/mnist``), or ``None``.

    Looked up relative to the source checkout and to the current directory.
    """
    repo_root = Path(__file__).resolve().parents[2]
    for base in (repo_root, Path.cwd()):
        candidate = (base / ".." / "shared" / "data" / "mnist").resolve()
        if candidate.is_dir():
            return candidate
    return None


def _load_mnist_default(split: str, data_dir: str | Path | None) -> Dataset:
    root = Path(data_dir) if data_dir is not None else default_mnist_dir()
    if root is None:
        raise FileNotFoundError(
            "MNIST needs --data-dir DIR (a directory with the four IDX files); no default "
            "../shared/data/mnist was found"
        )
    return load_mnist(root, split)


class DatasetInfo(NamedTuple):
    """A dataset by name: what a model for it takes, and how to load a split."""

    input_shape: tuple[int, ...]  # one image (channels, height, width); temporal: one step's
    num_classes: int
    load: Callable[[str, str | Path | None], Dataset]  # (split, data_dir) -> Dataset
    temporal: bool = False  # sequences [N, T, *input_shape], fed time-major with no encoder


def sequence_loader(
    load: Callable[..., tuple[Tensor, Tensor]], **options: Any
) -> Callable[[str, str | Path | None], Dataset]:
    """A :class:`DatasetInfo` ``load`` from an event loader
    ``load(data_dir, split, **options) -> (inputs [N, T, C], labels [N])``. ``data_dir`` is
    passed as given (``--data-dir``; ``None`` without it), and the loader says what it needs:
    the event loaders raise ``FileNotFoundError`` naming the files and where to get them."""

    def load_split(split: str, data_dir: str | Path | None) -> Dataset:
        inputs, labels = load(data_dir, split, **options)
        return Dataset(inputs.float(), labels.long())

    return load_split


def _load_randman(split: str, data_dir: str | Path | None) -> Dataset:
    from snnfunc.app.randman import load_randman

    del data_dir  # generated from a seed (RandmanConfig's defaults)
    inputs, labels = load_randman(split)
    return Dataset(inputs, labels)


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        "digits": DatasetInfo((1, 8, 8), 10, lambda split, data_dir: load_digits(split)),
        "mnist": DatasetInfo((1, 28, 28), 10, _load_mnist_default),
        "randman": DatasetInfo((100,), 10, _load_randman, temporal=True),
        # event data binned to spike counts (snnfunc.app.events; docs/events.md)
        "shd": DatasetInfo((700,), 20, sequence_loader(load_shd, num_bins=100), temporal=True),
        "ssc": DatasetInfo((700,), 35, sequence_loader(load_ssc, num_bins=100), temporal=True),
        "nmnist": DatasetInfo(
            (2312,), 10, sequence_loader(load_nmnist, num_bins=30), temporal=True
        ),
    }
)
"""The datasets :func:`load_dataset` (and ``snnfunc train --dataset``) know, by name."""


def load_dataset(name: str, split: str, data_dir: str | Path | None = None) -> Dataset:
    """A dataset of :data:`DATASETS` by name (MNIST from ``data_dir``, else the default dir)."""
    check_choice("dataset", name, tuple(DATASETS))
    return DATASETS[name].load(split, data_dir)


def batches(
    data: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Minibatches ``(images [B, ...], labels [B])`` of an in-memory dataset (batch-major, as
    held: a temporal dataset's batch is ``[B, T, ...]``).

    Args:
        data: the dataset.
        batch_size: ``B``.
        shuffle: draw a new permutation (from ``generator``) each call.
        generator: source of the permutation, for reproducible epochs.
        drop_last: skip a final batch smaller than ``batch_size``.
    """
    check_int_at_least("batch_size", batch_size, 1)
    n = data.labels.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield data.images[idx], data.labels[idx]
