"""Event data as dense spike counts: SHD and SSC (HDF5), N-MNIST (binary event files).

Event datasets store, per sample, a list of events ``(time, channel)``; a spiking network wants
dense time-major input. :func:`bin_events` turns one sample's events into counts ``[T, C]``,
:func:`bin_samples` many samples at once into ``[N, T, C]`` (one vectorised ``index_add_``, no
Python loop per event or per sample), and the loaders read the files and bin them:

- :func:`load_shd`: ``shd_train.h5``, ``shd_test.h5``; 700 channels, 20 classes.
- :func:`load_ssc`: ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``; 700 channels, 35
  classes.
- :func:`load_nmnist`: ``Train/<digit>/*.bin``, ``Test/<digit>/*.bin`` (or ``Train.zip``,
  ``Test.zip``); 2 x 34 x 34 = 2312 channels, 10 classes.

Each loader returns an :class:`EventDataset` ``(inputs [N, T, C], labels [N] int64)``; the
batch loop of a training run transposes a batch to time-major ``[T, B, C]``.

Nothing is downloaded. Where to get the files (read the licences there):

- SHD and SSC (Cramer, Stradmann, Schemmel and Zenke, IEEE TNNLS 2020):
  https://zenkelab.org/datasets/ serves ``shd_train.h5.gz``, ``shd_test.h5.gz``,
  ``ssc_train.h5.gz``, ``ssc_valid.h5.gz``, ``ssc_test.h5.gz`` (and ``md5sums.txt``). The
  loaders read the ``.h5`` files, and also the downloaded ``.h5.gz`` (or tonic's ``.h5.zip``)
  directly, decompressed in memory on every load: ``gunzip -k shd_train.h5.gz`` once is faster.
- N-MNIST (Orchard, Jayawant, Cohen and Thakor, Frontiers in Neuroscience 2015):
  https://www.garrickorchard.com/datasets/n-mnist links ``Train.zip`` and ``Test.zip``
  (Mendeley Data, doi:10.17632/468j46mzdv.1); put them, or the folders they unzip to, in
  ``data_dir``.

The HDF5 layout (SHD and SSC)::

    spikes/times   [N] variable-length float arrays, seconds from the sample's start
    spikes/units   [N] variable-length uint16 arrays, channel ids in [0, 700)
    labels         [N] uint16 class ids
    extra/...      keys (class names), speaker, meta_info/{gender, age, body_height}: not read

HDF5 needs ``h5py`` (``pip install 'snnfunc[events]'``); N-MNIST needs nothing beyond torch.
"""

from __future__ import annotations

import gzip
import io
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least, check_positive

__all__ = [
    "EventSamples",
    "EventDataset",
    "DVSEvents",
    "bin_window",
    "bin_events",
    "bin_samples",
    "take_samples",
    "read_hdf5_spikes",
    "decode_atis",
    "read_nmnist",
    "load_shd",
    "load_ssc",
    "load_nmnist",
    "HSD_URL",
    "NMNIST_URL",
    "NMNIST_SENSOR",
]

HSD_URL = "https://zenkelab.org/datasets/"
"""Where SHD and SSC are published (``<name>_<split>.h5.gz``); never fetched by snnfunc."""
NMNIST_URL = "https://www.garrickorchard.com/datasets/n-mnist"
"""Where N-MNIST is published (``Train.zip``, ``Test.zip``); never fetched by snnfunc."""
NMNIST_SENSOR = (2, 34, 34)
"""N-MNIST's channels as ``(polarity, y, x)``: channel ``c = p * 34 * 34 + y * 34 + x``."""

_HSD = {
    # name -> (channels, classes, splits)
    "shd": (700, 20, ("train", "test")),
    "ssc": (700, 35, ("train", "valid", "test")),
}
_NMNIST_SPLITS = {"train": "Train", "test": "Test"}
_ATIS_OVERFLOW_Y = 240  # a y of 240 marks a timestamp overflow event (reference reader)
_ATIS_OVERFLOW_US = 2**13  # what each overflow adds to later timestamps (reference reader)


class EventSamples(NamedTuple):
    """``N`` samples of events, concatenated (compressed-sparse-row layout).

    Sample ``i`` is ``times[offsets[i]:offsets[i + 1]]`` with the channels at the same places.
    """

    times: Tensor  # [E] float64, seconds from the sample's start
    channels: Tensor  # [E] int64 in [0, num_channels)
    offsets: Tensor  # [N + 1] int64, non-decreasing, offsets[0] = 0, offsets[N] = E
    labels: Tensor  # [N] int64 class ids
    num_channels: int  # C


class EventDataset(NamedTuple):
    """Binned event data held in memory; unpacks as ``inputs, labels = dataset``."""

    inputs: Tensor  # [N, T, C] spike counts per bin (float32 unless asked otherwise)
    labels: Tensor  # [N] int64 class ids


class DVSEvents(NamedTuple):
    """Events of one event-camera recording, ``[E]`` each, in file order."""

    x: Tensor  # [E] int64 column
    y: Tensor  # [E] int64 row
    polarity: Tensor  # [E] int64, 1 = ON (brighter), 0 = OFF
    t: Tensor  # [E] int64 timestamp, microseconds


# ---------------------------------------------------------------------------------------------
# binning


def bin_window(
    *, num_bins: int | None = None, dt: float | None = None, t_max: float | None = None
) -> tuple[int, float]:
    """The time bins ``(T, dt)`` from exactly two of ``num_bins``, ``dt`` and ``t_max``.

    The window is ``[0, T * dt)``, cut into ``T`` bins of width ``dt``:

    - ``num_bins`` and ``dt``: ``T = num_bins``.
    - ``num_bins`` and ``t_max``: ``T = num_bins``, ``dt = t_max / num_bins``.
    - ``dt`` and ``t_max``: ``T = ceil(t_max / dt)`` (``t_max / dt`` within ``1e-9`` of an
      integer counts as that integer, so ``t_max=1.4, dt=1e-3`` gives 1400 bins, not 1401);
      when ``dt`` does not divide ``t_max`` the window reaches past ``t_max`` to ``T * dt``.

    >>> bin_window(num_bins=100, t_max=1.0)
    (100, 0.01)
    >>> bin_window(dt=1e-3, t_max=1.4)
    (1400, 0.001)
    """
    given = {
        k: v for k, v in (("num_bins", num_bins), ("dt", dt), ("t_max", t_max)) if v is not None
    }
    if len(given) != 2:
        raise ValueError(
            "give exactly two of num_bins, dt and t_max (the window is [0, num_bins * dt), "
            f"t_max = num_bins * dt); got {given or 'none'}"
        )
    if num_bins is not None:
        check_int_at_least("num_bins", num_bins, 1)
    if dt is not None:
        check_positive("dt", dt, finite=True)
    if t_max is not None:
        check_positive("t_max", t_max, finite=True)
    if dt is None:
        assert num_bins is not None and t_max is not None
        return num_bins, t_max / num_bins
    if num_bins is None:
        assert t_max is not None
        ratio = t_max / dt
        nearest = round(ratio)
        bins = nearest if abs(ratio - nearest) <= 1e-9 * max(1.0, ratio) else math.ceil(ratio)
        return max(1, int(bins)), float(dt)
    return num_bins, float(dt)


def _check_events(times: Tensor, channels: Tensor, num_channels: int) -> None:
    if not isinstance(times, Tensor) or times.dim() != 1 or not times.is_floating_point():
        raise TypeError(
            "times must be a 1-d floating-point tensor [E] (seconds), got "
            + (
                f"{times.dtype} {tuple(times.shape)}"
                if isinstance(times, Tensor)
                else type(times).__name__
            )
        )
    if (
        not isinstance(channels, Tensor)
        or channels.dim() != 1
        or channels.is_floating_point()
        or channels.is_complex()
        or channels.dtype == torch.bool
    ):
        raise TypeError(
            "units must be a 1-d integer tensor [E] (channel ids), got "
            + (
                f"{channels.dtype} {tuple(channels.shape)}"
                if isinstance(channels, Tensor)
                else type(channels).__name__
            )
        )
    if times.shape != channels.shape:
        raise ValueError(
            f"times and units must have one entry per event, got {times.shape[0]} times and "
            f"{channels.shape[0]} units"
        )
    check_int_at_least("num_channels", num_channels, 1)
    if times.numel() and bool(times.isnan().any()):
        raise ValueError("times must not contain NaN")
    if channels.numel():
        low, high = int(channels.min()), int(channels.max())
        if low < 0 or high >= num_channels:
            bad = low if low < 0 else high
            raise ValueError(f"units must lie in [0, num_channels={num_channels}), got {bad}")


_EDGE_TOLERANCE = 1e-9  # in bins: t / dt this close below an integer counts as that integer


def _bin_index(times: Tensor, dt: float, num_bins: int) -> tuple[Tensor, Tensor]:
    """``(k, keep)``: bin ``k = floor(t / dt + 1e-9)`` (float64), and ``0 <= k < num_bins``."""
    k = torch.floor(times.to(torch.float64) / dt + _EDGE_TOLERANCE)
    keep = (k >= 0) & (k < num_bins)
    return k.clamp(0, num_bins - 1).to(torch.int64), keep


def bin_events(
    times: Tensor,
    units: Tensor,
    *,
    num_channels: int,
    num_bins: int | None = None,
    dt: float | None = None,
    t_max: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Spike counts ``[T, C]`` of one sample's events.

    .. math:: \text{out}[k, c] = \#\{e : \lfloor t_e / dt + 10^{-9} \rfloor = k,\
              u_e = c\}, \quad 0 \le k < T

    Two of ``num_bins``, ``dt`` and ``t_max`` fix the window ``[0, T * dt)``
    (:func:`bin_window`). Events outside it (``t < 0`` or ``t >= T * dt``) are **dropped**,
    not clipped into the first or last bin. The bin is computed in float64 whatever the dtype
    of ``times``; the ``1e-9`` (of a bin) puts an event on a bin edge in the bin it opens even
    where floating point lands just below the edge (``0.03 / 0.01 = 2.9999999999999996``: an
    N-MNIST event at 30,000 us with 10 ms bins is in bin 3, not 2).

    >>> import torch
    >>> bin_events(torch.tensor([0.0, 0.15, 0.19, 0.5]), torch.tensor([1, 0, 0, 1]),
    ...            num_channels=2, num_bins=3, dt=0.1)
    tensor([[0., 1.],
            [2., 0.],
            [0., 0.]])

    Args:
        times: ``[E]`` event times (seconds, or any unit shared with ``dt``/``t_max``).
        units: ``[E]`` integer channel ids in ``[0, num_channels)`` (else ``ValueError``).
        num_channels: ``C``.
        num_bins, dt, t_max: exactly two of them (keyword-only).
        dtype: of the counts; float32 counts exactly up to ``2**24`` per bin, float16 up to 2048.
    Returns:
        ``[T, C]`` counts.
    """
    _check_events(times, units, num_channels)
    _check_count_dtype(dtype)
    steps, width = bin_window(num_bins=num_bins, dt=dt, t_max=t_max)
    k, keep = _bin_index(times, width, steps)
    flat = (k * num_channels + units.to(torch.int64))[keep]
    out = torch.zeros(steps * num_channels, dtype=dtype, device=times.device)
    out.index_add_(0, flat, torch.ones(flat.shape, dtype=dtype, device=times.device))
    return out.view(steps, num_channels)


def _check_count_dtype(dtype: Any) -> None:
    if (
        not isinstance(dtype, torch.dtype)
        or dtype == torch.bool
        or dtype.is_complex
        or dtype in (torch.uint8, torch.int8)
    ):
        raise TypeError(
            f"dtype must be a real torch dtype for counts (float32, float16, int32, ...), got "
            f"{dtype!r}"
        )


def _check_samples(samples: EventSamples) -> None:
    if not isinstance(samples, EventSamples):
        raise TypeError(f"samples must be an EventSamples, got {type(samples).__name__}")
    _check_events(samples.times, samples.channels, samples.num_channels)
    offsets = samples.offsets
    if offsets.dim() != 1 or offsets.numel() < 1 or offsets.dtype != torch.int64:
        raise ValueError(
            f"offsets must be an int64 tensor [N + 1], got {offsets.dtype} {tuple(offsets.shape)}"
        )
    if (
        int(offsets[0]) != 0
        or int(offsets[-1]) != samples.times.shape[0]
        or bool((offsets.diff() < 0).any())
    ):
        raise ValueError(
            f"offsets must rise from 0 to the number of events {samples.times.shape[0]}, got "
            f"{offsets[0].item()}..{offsets[-1].item()}"
        )
    if samples.labels.shape != (offsets.numel() - 1,):
        raise ValueError(
            f"labels must be [N] = [{offsets.numel() - 1}], got {tuple(samples.labels.shape)}"
        )


def bin_samples(
    samples: EventSamples,
    *,
    num_bins: int | None = None,
    dt: float | None = None,
    t_max: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> EventDataset:
    """:func:`bin_events` of every sample at once: ``EventDataset(inputs [N, T, C], labels)``.

    One ``index_add_`` over all events of all samples; ``inputs[i]`` equals
    ``bin_events(times_i, units_i, ...)`` exactly. Memory is ``N * T * C`` elements: the whole
    SHD train split (8,156 samples) at 100 bins is 2.3 GB in float32 (use ``max_samples`` of a
    loader, or ``dtype=torch.float16``, exact up to 2048 events per bin).
    """
    _check_samples(samples)
    _check_count_dtype(dtype)
    steps, width = bin_window(num_bins=num_bins, dt=dt, t_max=t_max)
    n, c = samples.offsets.numel() - 1, samples.num_channels
    k, keep = _bin_index(samples.times, width, steps)
    counts = samples.offsets.diff()
    sample = torch.repeat_interleave(torch.arange(n, device=counts.device), counts)
    flat = ((sample * steps + k) * c + samples.channels.to(torch.int64))[keep]
    out = torch.zeros(n * steps * c, dtype=dtype, device=samples.times.device)
    out.index_add_(0, flat, torch.ones(flat.shape, dtype=dtype, device=out.device))
    return EventDataset(out.view(n, steps, c), samples.labels.to(torch.int64))


def take_samples(samples: EventSamples, index: Tensor) -> EventSamples:
    """The samples ``index`` (``[B]`` int64, any order, repeats allowed), still as events.

    The sparse route for data too large to hold binned: keep the events, and bin each batch as
    it is drawn, ``bin_samples(take_samples(samples, idx), ...)``, which equals
    ``bin_samples(samples, ...).inputs[idx]``. Vectorised (no loop over the samples).
    """
    _check_samples(samples)
    n = samples.offsets.numel() - 1
    if (
        not isinstance(index, Tensor)
        or index.dim() != 1
        or index.dtype not in (torch.int64, torch.int32)
    ):
        raise TypeError(f"index must be a 1-d int64 tensor [B], got {index!r:.80}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
        raise ValueError(f"index must lie in [0, {n}), got {int(index.min())}..{int(index.max())}")
    index = index.long()
    starts, counts = samples.offsets[index], samples.offsets.diff()[index]
    new_offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    total = int(new_offsets[-1])
    # event j of the result is starts[b] + (j - new_offsets[b]) for its sample b
    shift = torch.repeat_interleave(starts - new_offsets[:-1], counts, output_size=total)
    events = torch.arange(total, dtype=torch.int64) + shift
    return EventSamples(
        times=samples.times[events],
        channels=samples.channels[events],
        offsets=new_offsets,
        labels=samples.labels[index],
        num_channels=samples.num_channels,
    )


# ---------------------------------------------------------------------------------------------
# SHD / SSC (HDF5)


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading SHD/SSC (HDF5) needs h5py: pip install 'snnfunc[events]'"
        ) from err
    return h5py


def _open_bytes(path: Path) -> io.BytesIO | Path:
    """A ``.h5`` path as is; a ``.gz`` or ``.zip`` download decompressed into memory."""
    with path.open("rb") as f:
        raw_head = f.read(4)
    if raw_head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                return io.BytesIO(f.read())
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path} is a corrupt or truncated gzip file ({err})") from err
    if raw_head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.endswith(".h5")]
                if len(members) != 1:
                    raise ValueError(f"{path} must hold exactly one .h5 file, holds {members}")
                return io.BytesIO(archive.read(members[0]))
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            raise ValueError(f"{path} is a corrupt or truncated zip file ({err})") from err
    return path


def read_hdf5_spikes(
    path: str | Path, *, num_channels: int = 700, max_samples: int | None = None
) -> EventSamples:
    """The events of one SHD/SSC file (``.h5``, or the downloaded ``.h5.gz``/``.h5.zip``).

    Reads ``spikes/times``, ``spikes/units`` and ``labels`` (layout in the module docstring);
    ``extra`` is not read.

    Args:
        path: the file.
        num_channels: ``C`` (700 for SHD and SSC); a unit outside ``[0, C)`` is an error.
        max_samples: read only the first ``max_samples`` samples (file order).
    Returns:
        :class:`EventSamples` with times in seconds (float64).
    """
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HDF5 file not found: {path}")
    if max_samples is not None:
        check_int_at_least("max_samples", max_samples, 1)
    source = _open_bytes(path)
    try:
        handle = h5py.File(source, "r")
    except OSError as err:
        raise ValueError(f"{path} is not an HDF5 file ({err})") from err
    with handle:
        missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in handle]
        if missing:
            raise ValueError(
                f"{path} lacks {missing}: an SHD/SSC file holds spikes/times, spikes/units "
                f"and labels"
            )
        stop = slice(None) if max_samples is None else slice(0, max_samples)
        times_ds, units_ds, labels_ds = (
            handle["spikes/times"],
            handle["spikes/units"],
            handle["labels"],
        )
        if not (times_ds.ndim == units_ds.ndim == labels_ds.ndim == 1) or not (
            times_ds.shape[0] == units_ds.shape[0] == labels_ds.shape[0]
        ):
            raise ValueError(
                f"{path}: spikes/times {times_ds.shape}, spikes/units {units_ds.shape} and "
                f"labels {labels_ds.shape} must be 1-d with one entry per sample"
            )
        times, units, labels = times_ds[stop], units_ds[stop], labels_ds[stop]
    return _ragged_to_samples(path, list(times), list(units), labels, num_channels)


def _ragged_to_samples(
    path: Path, times: list[Any], units: list[Any], labels: Any, num_channels: int
) -> EventSamples:
    import numpy as np  # h5py's dependency

    lengths = [len(t) for t in times]
    if lengths != [len(u) for u in units]:
        bad = next(i for i, (t, u) in enumerate(zip(times, units, strict=True)) if len(t) != len(u))
        raise ValueError(
            f"{path}: sample {bad} has {len(times[bad])} times but {len(units[bad])} units"
        )
    flat_t = np.concatenate(times) if times else np.zeros(0)
    flat_u = np.concatenate(units) if units else np.zeros(0, dtype=np.int64)
    if flat_t.dtype.kind != "f" or flat_u.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: spikes/times must hold floats and spikes/units integers, got "
            f"{flat_t.dtype} and {flat_u.dtype}"
        )
    label_array = np.asarray(labels)
    if label_array.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels must be integers, got {label_array.dtype}")
    samples = EventSamples(
        times=torch.from_numpy(flat_t.astype(np.float64)),
        channels=torch.from_numpy(flat_u.astype(np.int64)),
        offsets=torch.tensor([0, *np.cumsum(lengths).tolist()], dtype=torch.int64),
        labels=torch.from_numpy(label_array.astype(np.int64)),
        num_channels=num_channels,
    )
    try:
        _check_events(samples.times, samples.channels, num_channels)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return samples


def _hsd_path(name: str, data_dir: str | Path | None, split: str) -> Path:
    stem = f"{name}_{split}.h5"
    all_files = ", ".join(f"{name}_{s}.h5" for s in _HSD[name][2])
    where = (
        f"get {all_files} from {HSD_URL} (published as .h5.gz; the .gz or its gunzipped .h5 "
        f"both load); nothing is downloaded"
    )
    if data_dir is None:
        raise FileNotFoundError(f"{name.upper()} needs a data directory (--data-dir DIR): {where}")
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{name.upper()} data directory not found: {root} ({where})")
    for candidate in (stem, stem + ".gz", stem + ".zip"):
        if (root / candidate).is_file():
            return root / candidate
    raise FileNotFoundError(f"{name.upper()} file {stem}[.gz] not found in {root}: {where}")


def _load_hsd(
    name: str,
    data_dir: str | Path | None,
    split: str,
    num_bins: int,
    t_max: float,
    max_samples: int | None,
    dtype: torch.dtype,
) -> EventDataset:
    channels, classes, splits = _HSD[name]
    check_choice("split", split, splits)
    path = _hsd_path(name, data_dir, split)
    samples = read_hdf5_spikes(path, num_channels=channels, max_samples=max_samples)
    if samples.labels.numel() and (
        int(samples.labels.min()) < 0 or int(samples.labels.max()) >= classes
    ):
        raise ValueError(
            f"{path}: labels must lie in [0, {classes}) for {name.upper()}, got "
            f"{int(samples.labels.min())}..{int(samples.labels.max())}"
        )
    return bin_samples(samples, num_bins=num_bins, t_max=t_max, dtype=dtype)


def load_shd(
    data_dir: str | Path | None,
    split: str = "train",
    *,
    num_bins: int = 100,
    t_max: float = 1.4,
    max_samples: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> EventDataset:
    """Spiking Heidelberg Digits: 20 classes (digits 0-9 spoken in English and German).

    Args:
        data_dir: directory with ``shd_train.h5`` / ``shd_test.h5`` (or the ``.h5.gz``).
        split: ``"train"`` (8,156 samples) or ``"test"`` (2,264).
        num_bins: ``T``; bins are ``dt = t_max / num_bins`` wide (14 ms by default).
        t_max: seconds binned per sample; later events are dropped (SHD samples last up to
            about 1.4 s).
        max_samples: only the first ``max_samples`` samples of the file, for quick runs.
        dtype: of the counts.
    Returns:
        :class:`EventDataset` ``(inputs [N, num_bins, 700], labels [N])``.
    """
    return _load_hsd("shd", data_dir, split, num_bins, t_max, max_samples, dtype)


def load_ssc(
    data_dir: str | Path | None,
    split: str = "train",
    *,
    num_bins: int = 100,
    t_max: float = 1.0,
    max_samples: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> EventDataset:
    """Spiking Speech Commands: 35 classes (Google Speech Commands v0.2 words).

    Args:
        data_dir: directory with ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5`` (or
            their ``.h5.gz``).
        split: ``"train"``, ``"valid"`` or ``"test"``.
        num_bins: ``T``; bins are ``dt = t_max / num_bins`` wide (10 ms by default).
        t_max: seconds binned per sample (SSC samples last at most 1 s); later events dropped.
        max_samples: only the first ``max_samples`` samples of the file.
        dtype: of the counts.
    Returns:
        :class:`EventDataset` ``(inputs [N, num_bins, 700], labels [N])``.
    """
    return _load_hsd("ssc", data_dir, split, num_bins, t_max, max_samples, dtype)


# ---------------------------------------------------------------------------------------------
# N-MNIST (ATIS binary events)


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
