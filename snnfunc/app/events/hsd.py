"""SHD and SSC: the Heidelberg spiking data sets' HDF5 files (layout: :mod:`snnfunc.app.events`)."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.app.events.binning import EventDataset, EventSamples, _check_events, bin_samples

__all__ = ["HSD_URL", "read_hdf5_spikes", "load_shd", "load_ssc"]

HSD_URL = "https://zenkelab.org/datasets/"
"""Where SHD and SSC are published (``<name>_<split>.h5.gz``); never fetched by snnfunc."""

_HSD = {
    # name -> (channels, classes, splits)
    "shd": (700, 20, ("train", "test")),
    "ssc": (700, 35, ("train", "valid", "test")),
}


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
