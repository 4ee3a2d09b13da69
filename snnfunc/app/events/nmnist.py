"""N-MNIST: the ATIS event camera's 40-bit binary events, one ``.bin`` file per sample."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.app.events.binning import EventDataset, EventSamples, bin_samples

__all__ = [
    "NMNIST_URL",
    "NMNIST_SENSOR",
    "DVSEvents",
    "decode_atis",
    "read_nmnist",
    "load_nmnist",
]

NMNIST_URL = "https://www.garrickorchard.com/datasets/n-mnist"
"""Where N-MNIST is published (``Train.zip``, ``Test.zip``); never fetched by snnfunc."""
NMNIST_SENSOR = (2, 34, 34)
"""N-MNIST's channels as ``(polarity, y, x)``: channel ``c = p * 34 * 34 + y * 34 + x``."""

_NMNIST_SPLITS = {"train": "Train", "test": "Test"}
_ATIS_OVERFLOW_Y = 240  # a y of 240 marks a timestamp overflow event (reference reader)
_ATIS_OVERFLOW_US = 2**13  # what each overflow adds to later timestamps (reference reader)


class DVSEvents(NamedTuple):
    """Events of one event-camera recording, ``[E]`` each, in file order."""

    x: Tensor  # [E] int64 column
    y: Tensor  # [E] int64 row
    polarity: Tensor  # [E] int64, 1 = ON (brighter), 0 = OFF
    t: Tensor  # [E] int64 timestamp, microseconds


def _decode_rows(data: Tensor, sample: Tensor | None = None) -> tuple[DVSEvents, Tensor]:
    """Decode ``[E, 5]`` event bytes (int64); overflow markers count within each ``sample``."""
    x, y = data[:, 0], data[:, 1]
    polarity = data[:, 2] >> 7
    t = ((data[:, 2] & 0x7F) << 16) | (data[:, 3] << 8) | data[:, 4]
    overflow = y == _ATIS_OVERFLOW_Y
    carried = overflow.cumsum(0)
    if sample is not None and carried.numel():  # restart the count at each sample's first event
        first = torch.ones_like(overflow)
        first[1:] = sample[1:] != sample[:-1]
        before = (carried - overflow.long())[first]  # markers in earlier samples
        carried = carried - before[first.long().cumsum(0) - 1]
    t = t + _ATIS_OVERFLOW_US * carried
    keep = ~overflow
    return DVSEvents(x[keep], y[keep], polarity[keep], t[keep]), keep


def decode_atis(raw: bytes | bytearray | memoryview) -> DVSEvents:
    """Decode the 40-bit ATIS events of an N-MNIST (or N-Caltech101) ``.bin`` file.

    Each event is 5 bytes, big-endian bit order::

        byte 0: x (8 bits)    byte 1: y (8 bits)
        byte 2: polarity (bit 7) | timestamp bits 22-16    bytes 3, 4: timestamp bits 15-0

    The timestamp is in microseconds. As in Orchard's reference reader (``eventvision.py``), an
    event with ``y = 240`` is a timestamp-overflow marker: it adds ``2**13`` us to its own and
    every later timestamp and is itself dropped.

    >>> decode_atis(bytes([3, 5, 0x80 | 0x01, 0x02, 0x03]))
    DVSEvents(x=tensor([3]), y=tensor([5]), polarity=tensor([1]), t=tensor([66051]))
    """
    if len(raw) % 5:
        raise ValueError(
            f"an ATIS event file holds 5-byte events, got {len(raw)} bytes "
            f"({len(raw) % 5} left over): truncated or not an N-MNIST .bin file"
        )
    data = (
        torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        if raw
        else torch.zeros(0, dtype=torch.uint8)
    )
    return _decode_rows(data.view(-1, 5).to(torch.int64))[0]


def _nmnist_files(data_dir: str | Path | None, split: str) -> tuple[list[tuple[int, str]], Any]:
    """``([(digit, name)], reader)`` in round-robin order over the digits."""
    check_choice("split", split, tuple(_NMNIST_SPLITS))
    folder = _NMNIST_SPLITS[split]
    where = (
        f"expected {folder}/<digit>/*.bin (or {folder}.zip) in it; get Train.zip and Test.zip "
        f"from {NMNIST_URL}; nothing is downloaded"
    )
    if data_dir is None:
        raise FileNotFoundError(f"N-MNIST needs a data directory (--data-dir DIR): {where}")
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"N-MNIST data directory not found: {root} ({where})")
    per_digit: list[list[tuple[int, str]]] = []
    if (root / folder).is_dir():
        for digit in range(10):
            names = sorted(p.name for p in (root / folder / str(digit)).glob("*.bin"))
            per_digit.append([(digit, str(root / folder / str(digit) / n)) for n in names])

        def read(name: str) -> bytes:
            return Path(name).read_bytes()

        reader: Any = read
    elif (root / f"{folder}.zip").is_file():
        try:
            archive = zipfile.ZipFile(root / f"{folder}.zip")
        except zipfile.BadZipFile as err:
            raise ValueError(f"{root / f'{folder}.zip'} is not a zip file ({err})") from err
        names = [n for n in archive.namelist() if n.endswith(".bin")]
        for digit in range(10):
            prefix = f"{folder}/{digit}/"
            per_digit.append([(digit, n) for n in sorted(names) if n.startswith(prefix)])
        reader = archive.read
    else:
        raise FileNotFoundError(f"N-MNIST split {folder!r} not found in {root}: {where}")
    if not any(per_digit):
        raise FileNotFoundError(f"no .bin files under {root / folder}: {where}")
    longest = max(len(files) for files in per_digit)
    order = [files[i] for i in range(longest) for files in per_digit if i < len(files)]
    return order, reader


def read_nmnist(
    data_dir: str | Path | None, split: str = "train", *, max_samples: int | None = None
) -> EventSamples:
    """The events of an N-MNIST split as :class:`EventSamples` (channels as in
    :data:`NMNIST_SENSOR`, times in seconds).

    Samples come round-robin over the digits (the first file of 0, of 1, ..., of 9, then the
    second of each, files sorted by name), so the first ``max_samples`` cover every class.
    """
    if max_samples is not None:
        check_int_at_least("max_samples", max_samples, 1)
    files, reader = _nmnist_files(data_dir, split)
    files = files[:max_samples] if max_samples is not None else files
    blobs = [reader(name) for _, name in files]
    for (_, name), blob in zip(files, blobs, strict=True):
        if len(blob) % 5:
            raise ValueError(
                f"{name}: {len(blob)} bytes is not a whole number of 5-byte ATIS events "
                f"(truncated or not an N-MNIST .bin file)"
            )
    raw = bytearray(b"".join(blobs))
    data = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.zeros(0, dtype=torch.uint8)
    raw_counts = torch.tensor([len(b) // 5 for b in blobs], dtype=torch.int64)
    sample = torch.repeat_interleave(torch.arange(len(blobs)), raw_counts)
    events, keep = _decode_rows(data.view(-1, 5).to(torch.int64), sample)
    counts = torch.bincount(sample[keep], minlength=len(blobs))
    polarities, height, width = NMNIST_SENSOR
    if events.x.numel() and (int(events.x.max()) >= width or int(events.y.max()) >= height):
        raise ValueError(
            f"N-MNIST events must lie on the {width}x{height} sensor, got x up to "
            f"{int(events.x.max())} and y up to {int(events.y.max())}"
        )
    return EventSamples(
        times=events.t.to(torch.float64) / 1e6,
        channels=events.polarity * (height * width) + events.y * width + events.x,
        offsets=torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]),
        labels=torch.tensor([digit for digit, _ in files], dtype=torch.int64),
        num_channels=polarities * height * width,
    )


def load_nmnist(
    data_dir: str | Path | None,
    split: str = "train",
    *,
    num_bins: int = 30,
    t_max: float = 0.3,
    max_samples: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> EventDataset:
    """N-MNIST: MNIST digits seen by an ATIS event camera on three saccades (about 100 ms each).

    Args:
        data_dir: directory with ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` (or
            ``Train.zip`` / ``Test.zip`` as downloaded).
        split: ``"train"`` (60,000 samples) or ``"test"`` (10,000).
        num_bins: ``T``; bins are ``dt = t_max / num_bins`` wide (10 ms by default).
        t_max: seconds binned per sample; later events are dropped.
        max_samples: only the first ``max_samples`` samples, round-robin over the digits.
        dtype: of the counts.
    Returns:
        :class:`EventDataset` ``(inputs [N, num_bins, 2 * 34 * 34], labels [N])``; channel
        ``p * 1156 + y * 34 + x`` (polarity-major, then row, then column), so
        ``inputs.view(N, T, 2, 34, 34)`` gives ``[polarity, y, x]`` frames.
    """
    samples = read_nmnist(data_dir, split, max_samples=max_samples)
    return bin_samples(samples, num_bins=num_bins, t_max=t_max, dtype=dtype)
