"""tonic's events as snnfunc's: structured numpy arrays in, spike counts ``[T, C]`` out.

`tonic <https://tonic.readthedocs.io>`_ gives each sample as ``(events, target)``, ``events`` a
numpy structured array with fields ``t`` (timestamps), ``x`` (column), ``y`` (row; absent on a
1-d sensor) and ``p`` (polarity), and a ``sensor_size`` of ``(W, H, P)`` (tonic 1.6):

- SHD, SSC: fields ``t``, ``x``, ``p`` (int64), ``sensor_size = (700, 1, 1)``;
- N-MNIST: fields ``x``, ``y``, ``t``, ``p`` (int64), ``sensor_size = (34, 34, 2)``.

Timestamps are microseconds (tonic's SHD/SSC multiply the file's seconds by ``1e6`` and
truncate to an integer; N-MNIST's are the file's microseconds), hence
``ticks_per_second=1e6`` below. SHD/SSC events carry a constant ``p = 1``.

The channel of an event is ``c = (p * H + y) * W + x``, the flattening of tonic's
``ToFrame`` frames ``[T, P, H, W]`` (``[T, P, W]`` on a 1-d sensor), which is also
:data:`~snnfunc.app.events.NMNIST_SENSOR`'s ``(polarity, y, x)`` order and the unit id of
SHD/SSC. On a one-polarity sensor (``P = 1``) ``p`` is ignored, as ``ToFrame`` does. So for the
same sample, :func:`from_tonic_events` equals snnfunc's own loaders
(:func:`~snnfunc.app.events.load_shd`, :func:`~snnfunc.app.events.load_nmnist`) bin for bin,
with ``dt``/``t_max`` in seconds as there.

Nothing here imports tonic: its events are plain numpy arrays, and any object with
``len``/indexing (or iteration) that yields ``(events, target)`` is a dataset for
:func:`tonic_samples` and :func:`tonic_dataset`. Binning differs from ``ToFrame``'s own rules;
``ToFrame(sensor_size, time_window=dt_us, start_time=0, end_time=T * dt_us)`` is the one that
matches (docs/events.md, "Using tonic").
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import check_int_at_least, check_positive
from snnfunc.app.events.binning import EventDataset, EventSamples, bin_events, bin_samples

__all__ = [
    "TONIC_TICKS_PER_SECOND",
    "tonic_event_channels",
    "from_tonic_events",
    "tonic_samples",
    "tonic_dataset",
]

TONIC_TICKS_PER_SECOND = 1e6
"""tonic's timestamps are microseconds: ``t / 1e6`` is seconds."""
_NAN_AS_INT64 = -(2**63)  # numpy's int64 of NaN and inf (x86), the sign of a broken time cast


def _sensor(sensor_size: Any) -> tuple[int, int, int]:
    """``(W, H, P)`` as three ints >= 1, or a ``ValueError`` naming ``sensor_size``."""
    sizes: list[int] = []
    if isinstance(sensor_size, tuple | list) and len(sensor_size) == 3:
        for value in sensor_size:
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                break
            sizes.append(operator.index(value))
    if len(sizes) != 3 or min(sizes) < 1:
        raise ValueError(
            f"sensor_size must be tonic's (W, H, P): three ints >= 1 (e.g. (34, 34, 2) for "
            f"N-MNIST, (700, 1, 1) for SHD), got {sensor_size!r}"
        )
    return sizes[0], sizes[1], sizes[2]


def _field(events: Any, name: str, kinds: str, what: str, where: str) -> Any:
    import numpy as np  # the events are numpy arrays

    column = events[name]
    if column.dtype.kind not in kinds:
        expected = "numbers" if kinds == "iuf" else "integers or bools"
        raise TypeError(
            f"{where}events[{name!r}] ({what}) must hold {expected}, got {column.dtype}"
        )
    return np.ascontiguousarray(column, dtype=np.float64 if kinds == "iuf" else np.int64)


def _check_range(
    name: str, values: Any, size: int, sensor: tuple[int, int, int], where: str
) -> None:
    if values.size and (int(values.min()) < 0 or int(values.max()) >= size):
        bad = int(values.min()) if int(values.min()) < 0 else int(values.max())
        raise ValueError(
            f"{where}events[{name!r}] must lie in [0, {size}) on sensor_size (W, H, P) = "
            f"{sensor}, got {bad}"
        )


def tonic_event_channels(
    events: Any,
    sensor_size: tuple[int, int, int],
    *,
    ticks_per_second: float = TONIC_TICKS_PER_SECOND,
) -> tuple[Tensor, Tensor]:
    """``(times [E] float64 seconds, channels [E] int64)`` of one sample's tonic events.

    ``times = t / ticks_per_second``; ``channels = (p * H + y) * W + x`` with ``y = 0`` where the
    events have no ``y`` field (``H = 1``) and ``p = 0`` on a one-polarity sensor (``P = 1``).

    >>> import numpy as np
    >>> events = np.array([(5, 7, 1000, 1)], dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    >>> tonic_event_channels(events, (34, 34, 2))  # (1 * 34 + 7) * 34 + 5
    (tensor([0.0010], dtype=torch.float64), tensor([1399]))

    Args:
        events: ``[E]`` numpy structured array with fields ``t``, ``x``, and ``y`` where
            ``H > 1``, ``p`` where ``P > 1`` (any order, any integer or bool kind; ``t`` may be
            float). Event order does not matter.
        sensor_size: tonic's ``(W, H, P)``; ``x``, ``y``, ``p`` must lie in ``[0, W)``,
            ``[0, H)``, ``[0, P)``.
        ticks_per_second: timestamps per second (tonic: microseconds, ``1e6``).
    Raises:
        TypeError: ``events`` is not a 1-d structured array (a ``ToFrame`` output, say).
        ValueError: a field is missing, or an event lies off the sensor.
    """
    return _event_channels(events, _sensor(sensor_size), ticks_per_second, where="")


def _event_channels(
    events: Any, sensor: tuple[int, int, int], ticks_per_second: float, where: str
) -> tuple[Tensor, Tensor]:
    import numpy as np  # the events are numpy arrays

    check_positive("ticks_per_second", ticks_per_second, finite=True)
    dtype = getattr(events, "dtype", None)
    names = getattr(dtype, "names", None)
    if names is None or getattr(events, "ndim", None) != 1:
        shape = getattr(events, "shape", None)
        raise TypeError(
            f"{where}events must be a 1-d numpy structured array with fields t, x (y, p), as "
            f"tonic's datasets give without a transform; got {type(events).__name__} "
            f"{dtype} {shape} (frames from tonic.transforms.ToFrame? bin the raw events here "
            f"instead)"
        )
    width, height, polarities = sensor
    needed = ["t", "x"] + (["y"] if height > 1 else []) + (["p"] if polarities > 1 else [])
    missing = [n for n in needed if n not in names]
    if missing:
        raise ValueError(
            f"{where}events lack field(s) {missing} for sensor_size (W, H, P) = {sensor}: "
            f"got fields {names}"
        )
    t = _field(events, "t", "iuf", "timestamps", where)
    if events.dtype["t"].kind == "i" and t.size and bool((events["t"] == _NAN_AS_INT64).any()):
        raise ValueError(
            f"{where}events['t'] holds -2**63, what numpy makes of a NaN or inf cast to int64: "
            f"tonic's SHD/SSC on numpy 2 give it for files with float16 spikes/times (t * 1e6 "
            f"overflows float16); read those files with load_shd/load_ssc instead"
        )
    x = _field(events, "x", "iub", "column", where)
    _check_range("x", x, width, sensor, where)
    channels = x
    if height > 1:
        y = _field(events, "y", "iub", "row", where)
        _check_range("y", y, height, sensor, where)
        channels = channels + y * width
    if polarities > 1:
        p = _field(events, "p", "iub", "polarity", where)
        _check_range("p", p, polarities, sensor, where)
        channels = channels + p * (height * width)
    elif "p" in names and np.unique(events["p"]).size > 1:
        raise ValueError(
            f"{where}events hold more than one polarity but sensor_size (W, H, P) = {sensor} "
            f"has P = 1 (tonic's ToFrame refuses this too)"
        )
    times = torch.from_numpy(t) / ticks_per_second
    if bool(times.isnan().any()):
        raise ValueError(f"{where}events['t'] must not contain NaN")
    return times, torch.from_numpy(channels)


def from_tonic_events(
    events: Any,
    sensor_size: tuple[int, int, int],
    *,
    num_bins: int | None = None,
    dt: float | None = None,
    t_max: float | None = None,
    ticks_per_second: float = TONIC_TICKS_PER_SECOND,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Spike counts ``[T, W * H * P]`` of one sample's tonic events.

    ``bin_events(*tonic_event_channels(events, sensor_size), ...)``: exactly two of
    ``num_bins``, ``dt`` and ``t_max`` (**seconds**, as in :func:`bin_events`) fix the window
    ``[0, T * dt)``; events outside it are dropped. ``out.view(T, P, H, W)`` are frames in
    tonic's ``ToFrame`` layout.

    >>> import numpy as np
    >>> shd = np.array([(0, 3, 1), (14_000, 699, 1)], dtype=[("t", int), ("x", int), ("p", int)])
    >>> counts = from_tonic_events(shd, (700, 1, 1), num_bins=100, t_max=1.4)  # 14 ms bins
    >>> counts.shape, counts[0, 3].item(), counts[1, 699].item()
    (torch.Size([100, 700]), 1.0, 1.0)

    Args:
        events: ``[E]`` structured array (fields: :func:`tonic_event_channels`).
        sensor_size: tonic's ``(W, H, P)``.
        num_bins, dt, t_max: exactly two of them (keyword-only; ``dt``, ``t_max`` in seconds).
        ticks_per_second: timestamps per second (tonic: microseconds, ``1e6``).
        dtype: of the counts.
    Returns:
        ``[T, C]`` counts, ``C = W * H * P``.
    """
    width, height, polarities = sensor = _sensor(sensor_size)
    times, channels = _event_channels(events, sensor, ticks_per_second, where="")
    return bin_events(
        times,
        channels,
        num_channels=width * height * polarities,
        num_bins=num_bins,
        dt=dt,
        t_max=t_max,
        dtype=dtype,
    )


def _items(dataset: Any, max_samples: int | None) -> Iterable[Any]:
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        n = len(dataset)
        stop = n if max_samples is None else min(n, max_samples)
        return (dataset[i] for i in range(stop))
    if not isinstance(dataset, Iterable):
        raise TypeError(
            f"dataset must yield (events, target) pairs (a tonic dataset, a list, any iterable), "
            f"got {type(dataset).__name__}"
        )
    return itertools.islice(dataset, max_samples)


def _label(target: Any, where: str) -> int:
    try:
        label = operator.index(target)
    except TypeError:
        raise TypeError(
            f"{where}target must be an integer class id, got {target!r:.60} "
            f"({type(target).__name__}); map it with the dataset's target_transform"
        ) from None
    if label < 0:
        raise ValueError(f"{where}target must be a class id >= 0, got {label}")
    return label


def tonic_samples(
    dataset: Any,
    *,
    sensor_size: tuple[int, int, int] | None = None,
    ticks_per_second: float = TONIC_TICKS_PER_SECOND,
    max_samples: int | None = None,
) -> EventSamples:
    """The events of a tonic dataset (or any ``(events, target)`` sequence) as
    :class:`EventSamples`: times in seconds, channels as in :func:`tonic_event_channels`.

    Reads the samples in the dataset's order, one ``dataset[i]`` each (every tonic dataset
    reads its files there). Give the dataset no ``transform`` that turns events into frames.

    Args:
        dataset: yields ``(events, target)``; ``events`` a structured array, ``target`` an
            integer class id (int, numpy integer, 0-d integer tensor).
        sensor_size: ``(W, H, P)``; default ``dataset.sensor_size`` (tonic's datasets have it).
        ticks_per_second: timestamps per second (tonic: microseconds, ``1e6``).
        max_samples: only the first ``max_samples`` samples.
    Returns:
        :class:`EventSamples` with ``num_channels = W * H * P``.
    """
    if max_samples is not None:
        check_int_at_least("max_samples", max_samples, 1)
    size = sensor_size if sensor_size is not None else getattr(dataset, "sensor_size", None)
    if size is None:
        raise ValueError(
            f"sensor_size is needed: {type(dataset).__name__} has no sensor_size (or it is None, "
            f"as for tonic's NCALTECH101, whose recordings differ in size); pass (W, H, P)"
        )
    sensor = _sensor(size)
    check_positive("ticks_per_second", ticks_per_second, finite=True)
    times: list[Tensor] = []
    channels: list[Tensor] = []
    labels: list[int] = []
    for i, item in enumerate(_items(dataset, max_samples)):
        where = f"sample {i}: "
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TypeError(
                f"{where}the dataset must yield (events, target) pairs, got {type(item).__name__}"
            )
        t, c = _event_channels(item[0], sensor, ticks_per_second, where)
        times.append(t)
        channels.append(c)
        labels.append(_label(item[1], where))
    lengths = torch.tensor([t.numel() for t in times], dtype=torch.int64)
    return EventSamples(
        times=torch.cat(times) if times else torch.zeros(0, dtype=torch.float64),
        channels=torch.cat(channels) if channels else torch.zeros(0, dtype=torch.int64),
        offsets=torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]),
        labels=torch.tensor(labels, dtype=torch.int64),
        num_channels=sensor[0] * sensor[1] * sensor[2],
    )


def tonic_dataset(
    dataset: Any,
    *,
    num_bins: int | None = None,
    dt: float | None = None,
    t_max: float | None = None,
    sensor_size: tuple[int, int, int] | None = None,
    ticks_per_second: float = TONIC_TICKS_PER_SECOND,
    max_samples: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> EventDataset:
    """A tonic dataset binned: ``EventDataset(inputs [N, T, W * H * P], labels [N])``.

    ``bin_samples(tonic_samples(dataset, ...), num_bins=..., dt=..., t_max=...)``; for SHD,
    SSC and N-MNIST it equals snnfunc's loader on the same files, sample by sample (tonic's
    N-MNIST order is digit by digit, the loader's round-robin). Train on it with
    ``snnfunc.app.data.Dataset(*tonic_dataset(...))`` and :func:`snnfunc.app.train.fit`, or
    feed ``inputs[idx].transpose(0, 1)`` (``[T, B, C]``) to a :class:`~snnfunc.network.Network`.

    Args:
        dataset: yields ``(events, target)`` (:func:`tonic_samples`).
        num_bins, dt, t_max: exactly two of them (``dt``, ``t_max`` in seconds).
        sensor_size: ``(W, H, P)``; default ``dataset.sensor_size``.
        ticks_per_second: timestamps per second (tonic: microseconds, ``1e6``).
        max_samples: only the first ``max_samples`` samples.
        dtype: of the counts.
    """
    samples = tonic_samples(
        dataset,
        sensor_size=sensor_size,
        ticks_per_second=ticks_per_second,
        max_samples=max_samples,
    )
    return bin_samples(samples, num_bins=num_bins, dt=dt, t_max=t_max, dtype=dtype)
