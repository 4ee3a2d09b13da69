"""tonic's events binned by snnfunc (snnfunc.app.events.tonic_events).

The conversion tests need no tonic: tonic's events are numpy structured arrays, built here by
hand with tonic's dtypes. They check that a sample converted from tonic's format equals what
snnfunc's own loaders give for the same files (written here in the real formats by the
writers of tests/test_events.py). The tests at the end import tonic (``importorskip``) and
point its readers and dataset classes at the same fixture files; nothing is downloaded.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnfunc.app import events as ev

# tonic 1.6's dtypes and sensor sizes (tonic/datasets/hsd.py, nmnist.py, dvsgesture.py)
SHD_DTYPE = np.dtype([("t", int), ("x", int), ("p", int)])
SHD_SENSOR = (700, 1, 1)
NMNIST_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
NMNIST_SENSOR = (34, 34, 2)
GESTURE_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])


def structured(dtype: np.dtype, **fields: Any) -> np.ndarray:
    """A structured array of ``dtype`` from one sequence per field."""
    n = len(next(iter(fields.values())))
    out = np.zeros(n, dtype=dtype)
    for name, values in fields.items():
        out[name] = values
    return out


def reference_counts(
    events: np.ndarray, sensor: tuple[int, int, int], steps: int, dt_us: float
) -> torch.Tensor:
    """A plain loop: event ``(t, x, y, p)`` counts in bin ``t // dt`` at ``[p, y, x]`` of a
    ``[T, P, H, W]`` frame (tonic's ToFrame layout), flattened to ``[T, P * H * W]``."""
    width, height, polarities = sensor
    frames = torch.zeros(steps, polarities, height, width)
    for e in events:
        k = math.floor(float(e["t"]) / dt_us + 1e-9)
        y = int(e["y"]) if "y" in events.dtype.names else 0
        p = int(e["p"]) if polarities > 1 else 0
        if 0 <= k < steps:
            frames[k, p, y, int(e["x"])] += 1
    return frames.reshape(steps, -1)


def hsd_as_tonic(times_s: np.ndarray, units: np.ndarray) -> np.ndarray:
    """What tonic's HSD.__getitem__ makes of one sample: t = int(seconds * 1e6) (truncated), x =
    the unit, p = 1 (tonic adds a constant polarity)."""
    return structured(
        SHD_DTYPE, t=(times_s.astype(np.float64) * 1e6).astype(np.int64), x=units, p=1
    )


# --- one sample -----------------------------------------------------------------------------


def test_channels_flatten_tonic_frames_polarity_then_row_then_column() -> None:
    events = structured(NMNIST_DTYPE, x=[0, 33, 5], y=[0, 0, 7], t=[0, 1, 2], p=[0, 1, 1])
    times, channels = ev.tonic_event_channels(events, NMNIST_SENSOR)
    assert channels.tolist() == [0, 34 * 34 + 33, 34 * 34 + 7 * 34 + 5]
    assert times.dtype == torch.float64 and times.tolist() == [0.0, 1e-6, 2e-6]
    # SHD: no y field, one polarity; tonic's constant p = 1 is ignored (as ToFrame does)
    _, shd_channels = ev.tonic_event_channels(
        structured(SHD_DTYPE, t=[0, 10], x=[3, 699], p=[1, 1]), SHD_SENSOR
    )
    assert shd_channels.tolist() == [3, 699]
    # the channel order of load_nmnist: NMNIST_SENSOR is (polarity, y, x)
    assert ev.NMNIST_SENSOR == NMNIST_SENSOR[::-1]


@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 5),  # x
            st.integers(0, 3),  # y
            st.integers(0, 1),  # p
            st.integers(-2_000, 60_000),  # t, microseconds (negative: dropped)
        ),
        max_size=40,
    ),
    steps=st.integers(1, 8),
    dt_us=st.sampled_from([1_000, 2_500, 7_000, 10_000]),
)
def test_counts_are_frames_of_the_window_0_to_T_dt(
    events: list[tuple[int, int, int, int]], steps: int, dt_us: int
) -> None:
    array = structured(
        GESTURE_DTYPE,  # fields in another order and of other types (int16, bool) than N-MNIST's
        x=[e[0] for e in events],
        y=[e[1] for e in events],
        p=[bool(e[2]) for e in events],
        t=[e[3] for e in events],
    )
    sensor = (6, 4, 2)
    got = ev.from_tonic_events(array, sensor, num_bins=steps, dt=dt_us / 1e6)
    assert got.shape == (steps, 48) and got.dtype == torch.float32
    torch.testing.assert_close(got, reference_counts(array, sensor, steps, dt_us), rtol=0, atol=0)


def test_empty_sample_and_float_times() -> None:
    empty = ev.from_tonic_events(np.zeros(0, NMNIST_DTYPE), NMNIST_SENSOR, num_bins=3, dt=0.01)
    assert empty.shape == (3, 2312) and empty.sum() == 0
    floats = structured(
        np.dtype([("t", float), ("x", int)]), t=[0.5, 1.5, 2.5], x=[0, 1, 1]
    )  # seconds, as some tonic users keep them: ticks_per_second=1
    got = ev.from_tonic_events(floats, (2, 1, 1), num_bins=2, dt=1.0, ticks_per_second=1)
    assert got.tolist() == [[1.0, 0.0], [0.0, 1.0]]  # 2.5 s: past the window, dropped


# --- equal to snnfunc's loaders on the same files -------------------------------------------


def test_nmnist_sample_in_tonic_format_equals_load_nmnist(tmp_path: Path) -> None:
    from test_events import write_nmnist

    written = write_nmnist(tmp_path, "Test", per_digit=2, seed=3)
    inputs, labels = ev.load_nmnist(tmp_path, "test", num_bins=30, t_max=0.3)
    # load_nmnist's order is round-robin over the digits, files sorted by name
    for k in range(2):
        for digit in range(10):
            path = str(tmp_path / "Test" / str(digit) / f"{k:05d}.bin")
            label, (x, y, p, t) = written[path]
            events = structured(NMNIST_DTYPE, x=x, y=y, t=t, p=p)
            got = ev.from_tonic_events(events, NMNIST_SENSOR, num_bins=30, t_max=0.3)
            assert labels[10 * k + digit] == label
            assert torch.equal(got, inputs[10 * k + digit])
    assert inputs.sum() > 0


@pytest.mark.parametrize("num_bins", [100, 1400])  # 14 ms and 1 ms bins over 1.4 s
def test_shd_sample_in_tonic_format_equals_load_shd(tmp_path: Path, num_bins: int) -> None:
    pytest.importorskip("h5py")
    from test_events import random_hsd_samples, write_hsd

    samples = random_hsd_samples(12, 20, seed=5)  # float16-exact times up to 1.5 s
    write_hsd(tmp_path / "shd_test.h5", samples, 20)
    inputs, labels = ev.load_shd(tmp_path, "test", num_bins=num_bins, t_max=1.4)
    as_tonic = [(hsd_as_tonic(t, u), label) for t, u, label in samples]
    for i, (events, label) in enumerate(as_tonic):
        got = ev.from_tonic_events(events, SHD_SENSOR, num_bins=num_bins, t_max=1.4)
        assert torch.equal(got, inputs[i]) and labels[i] == label
    binned = ev.tonic_dataset(as_tonic, num_bins=num_bins, t_max=1.4, sensor_size=SHD_SENSOR)
    assert torch.equal(binned.inputs, inputs) and torch.equal(binned.labels, labels)


def test_tonic_samples_keep_events_for_the_sparse_route() -> None:
    rng = np.random.default_rng(0)
    data = [
        (
            structured(
                NMNIST_DTYPE,
                x=rng.integers(0, 34, n),
                y=rng.integers(0, 34, n),
                t=rng.integers(0, 300_000, n),
                p=rng.integers(0, 2, n),
            ),
            np.int64(n % 10),  # tonic's targets are numpy ints
        )
        for n in (5, 0, 17, 9)
    ]
    samples = ev.tonic_samples(data, sensor_size=NMNIST_SENSOR)
    assert samples.offsets.tolist() == [0, 5, 5, 22, 31] and samples.num_channels == 2312
    assert samples.labels.tolist() == [5, 0, 7, 9]
    full = ev.tonic_dataset(data, num_bins=30, t_max=0.3, sensor_size=NMNIST_SENSOR)
    idx = torch.tensor([2, 0])
    picked = ev.bin_samples(ev.take_samples(samples, idx), num_bins=30, t_max=0.3)
    assert torch.equal(picked.inputs, full.inputs[idx])
    first = ev.tonic_dataset(data, num_bins=30, t_max=0.3, sensor_size=NMNIST_SENSOR, max_samples=2)
    assert torch.equal(first.inputs, full.inputs[:2])
    assert torch.equal(
        ev.tonic_dataset(iter(data), num_bins=30, t_max=0.3, sensor_size=NMNIST_SENSOR).inputs,
        full.inputs,
    )


class _Listed(list[tuple[np.ndarray, int]]):
    """A dataset object as tonic's are: indexable, with a ``sensor_size`` attribute."""

    sensor_size = SHD_SENSOR


def test_a_network_trains_on_a_tonic_dataset() -> None:
    from snnfunc.app.data import Dataset
    from snnfunc.app.evaluate import evaluate
    from snnfunc.app.models import build_model
    from snnfunc.app.train import fit, preset

    def split(seed: int) -> _Listed:  # the class is the block of units a sample fires on
        rng = np.random.default_rng(seed)
        out = _Listed()
        for i in range(64):
            label = i % 2
            t = np.sort(rng.integers(0, 1_400_000, 300))
            out.append(
                (structured(SHD_DTYPE, t=t, x=label * 350 + rng.integers(0, 350, 300), p=1), label)
            )
        return out

    train, test = (Dataset(*ev.tonic_dataset(split(s), num_bins=50, t_max=1.4)) for s in (0, 1))
    assert train.images.shape == (64, 50, 700)
    # the CLI's SHD preset, small (as tests/test_event_training.py runs it)
    config = preset(
        "shd", epochs=5, batch_size=16, hidden=(24,), neuron="lif", progress=False, plots=False
    )
    model = build_model(config.model)
    fit(model, train, config)
    assert evaluate(model, test)["accuracy"] > 0.75  # two balanced labels: one alone scores 0.5


# --- errors ---------------------------------------------------------------------------------


def test_errors_name_the_argument_and_what_was_expected() -> None:
    good = structured(NMNIST_DTYPE, x=[1], y=[2], t=[3], p=[1])
    bins = {"num_bins": 2, "dt": 0.01}
    with pytest.raises(TypeError, match=r"structured array.*ToFrame"):
        ev.from_tonic_events(np.zeros((3, 2, 34, 34)), NMNIST_SENSOR, **bins)
    with pytest.raises(TypeError, match="structured array"):
        ev.from_tonic_events(good.reshape(1, 1), NMNIST_SENSOR, **bins)
    no_t = structured(np.dtype([("x", int), ("y", int), ("p", int)]), x=[1], y=[1], p=[0])
    with pytest.raises(ValueError, match=r"lack field\(s\) \['t'\]"):
        ev.from_tonic_events(no_t, NMNIST_SENSOR, **bins)
    with pytest.raises(ValueError, match=r"\['y'\].*\(34, 34, 2\)"):
        ev.from_tonic_events(structured(SHD_DTYPE, t=[0], x=[0], p=[0]), NMNIST_SENSOR, **bins)
    off = structured(NMNIST_DTYPE, x=[34], y=[0], t=[0], p=[0])
    with pytest.raises(ValueError, match=r"events\['x'\] must lie in \[0, 34\).*got 34"):
        ev.from_tonic_events(off, NMNIST_SENSOR, **bins)
    with pytest.raises(ValueError, match=r"events\['p'\] must lie in \[0, 2\).*got -1"):
        ev.from_tonic_events(
            structured(NMNIST_DTYPE, x=[0], y=[0], t=[0], p=[-1]), NMNIST_SENSOR, **bins
        )
    with pytest.raises(ValueError, match="more than one polarity.*P = 1"):
        ev.from_tonic_events(_two_polarities(), (34, 34, 1), **bins)
    with pytest.raises(ValueError, match=r"sensor_size must be tonic's \(W, H, P\)"):
        ev.from_tonic_events(good, (34, 34), **bins)
    with pytest.raises(ValueError, match="sensor_size must be"):
        ev.from_tonic_events(good, (34, 0, 2), **bins)
    floats = structured(np.dtype([("t", int), ("x", float)]), t=[0], x=[1.5])
    with pytest.raises(TypeError, match=r"events\['x'\] \(column\) must hold integers"):
        ev.from_tonic_events(floats, (4, 1, 1), **bins)
    with pytest.raises(ValueError, match="ticks_per_second"):
        ev.from_tonic_events(good, NMNIST_SENSOR, ticks_per_second=0, **bins)
    with pytest.raises(ValueError, match="exactly two of num_bins, dt and t_max"):
        ev.from_tonic_events(good, NMNIST_SENSOR, num_bins=2)
    with pytest.raises(ValueError, match=r"-2\*\*63.*float16"):
        ev.from_tonic_events(structured(SHD_DTYPE, t=[-(2**63)], x=[0], p=[1]), SHD_SENSOR, **bins)


def _two_polarities() -> np.ndarray:
    return structured(NMNIST_DTYPE, x=[0, 0], y=[0, 0], t=[0, 1], p=[0, 1])


def test_dataset_errors_say_which_sample() -> None:
    events = structured(SHD_DTYPE, t=[0], x=[0], p=[1])
    bins = {"num_bins": 2, "dt": 0.01}
    with pytest.raises(ValueError, match="sensor_size is needed: list"):
        ev.tonic_dataset([(events, 0)], **bins)
    with pytest.raises(TypeError, match=r"sample 1: target must be an integer class id.*2\.5"):
        ev.tonic_dataset([(events, 0), (events, 2.5)], sensor_size=SHD_SENSOR, **bins)
    with pytest.raises(ValueError, match="sample 0: target must be a class id >= 0, got -1"):
        ev.tonic_dataset([(events, -1)], sensor_size=SHD_SENSOR, **bins)
    with pytest.raises(TypeError, match=r"sample 0: the dataset must yield \(events, target\)"):
        ev.tonic_dataset([events], sensor_size=SHD_SENSOR, **bins)
    with pytest.raises(TypeError, match="sample 0: events must be a 1-d numpy structured"):
        ev.tonic_dataset([(np.zeros((2, 1, 700)), 0)], sensor_size=SHD_SENSOR, **bins)
    off = structured(SHD_DTYPE, t=[0], x=[700], p=[1])
    with pytest.raises(ValueError, match=r"sample 1: events\['x'\] must lie in \[0, 700\)"):
        ev.tonic_dataset([(events, 0), (off, 0)], sensor_size=SHD_SENSOR, **bins)
    with pytest.raises(ValueError, match=r"max_samples must be"):
        ev.tonic_dataset([(events, 0)], sensor_size=SHD_SENSOR, max_samples=0, **bins)
    with pytest.raises(TypeError, match="dataset must yield"):
        ev.tonic_dataset(3, sensor_size=SHD_SENSOR, **bins)
    assert ev.tonic_dataset(
        [(events, torch.tensor(4))], sensor_size=SHD_SENSOR, **bins
    ).labels.tolist() == [4]


# --- with tonic itself (skipped where it is not installed; nothing is downloaded) ------------


def _offline(base: type) -> type:
    """A subclass of a tonic dataset class, of the same name (so it reads ``save_to/<Name>``, as
    tonic does), that takes the files as present and refuses to download."""

    def download(self: Any) -> None:
        raise AssertionError("a test tried to download")

    return type(base.__name__, (base,), {"_check_exists": lambda self: True, "download": download})


def test_tonic_reader_decodes_the_nmnist_files_as_read_nmnist(tmp_path: Path) -> None:
    tonic = pytest.importorskip("tonic")
    from test_events import atis_encode, write_nmnist

    written = write_nmnist(tmp_path, "Test", per_digit=1, seed=7)
    # and a file with a timestamp-overflow marker (y = 240): both readers add 2**13 us after it
    marker = tmp_path / "Test" / "3" / "00001.bin"
    marker.write_bytes(atis_encode([1, 0, 2], [2, 240, 3], [1, 0, 0], [100, 8_000, 50]))
    inputs, labels = ev.load_nmnist(tmp_path, "test", num_bins=30, t_max=0.3)
    assert len(labels) == 11 and labels[13 - 3 + 0] == 3  # round-robin: 0..9, then digit 3's 2nd
    paths = [*written, str(marker)]
    order = [*range(10), 10]  # load_nmnist: the first file of each digit, then the second of 3
    for path, j in zip(paths, order, strict=True):
        events = tonic.io.read_mnist_file(path, dtype=tonic.datasets.NMNIST.dtype)
        got = ev.from_tonic_events(
            events, tonic.datasets.NMNIST.sensor_size, num_bins=30, t_max=0.3
        )
        assert torch.equal(got, inputs[j]), path
    overflowed = tonic.io.read_mnist_file(str(marker), dtype=tonic.datasets.NMNIST.dtype)
    assert overflowed["t"].tolist() == [100, 50 + 2**13]  # the marker itself is dropped


def test_tonic_nmnist_dataset_offline_equals_load_nmnist(tmp_path: Path) -> None:
    tonic = pytest.importorskip("tonic")
    from test_events import write_nmnist

    root = tmp_path / "NMNIST"  # tonic's layout: save_to/NMNIST/Test/<digit>/*.bin
    write_nmnist(root, "Test", per_digit=3, seed=11)
    dataset = _offline(tonic.datasets.NMNIST)(str(tmp_path), train=False)
    assert len(dataset) == 30
    binned = ev.tonic_dataset(dataset, num_bins=30, t_max=0.3)  # sensor_size from the dataset
    ours = ev.load_nmnist(root, "test", num_bins=30, t_max=0.3)  # the CLI's --data-dir DIR/NMNIST
    # tonic's order is digit by digit, load_nmnist's round-robin over the digits
    perm = torch.tensor([k * 10 + digit for digit in range(10) for k in range(3)])
    assert torch.equal(binned.inputs, ours.inputs[perm])
    assert torch.equal(binned.labels, ours.labels[perm])
    framed = _offline(tonic.datasets.NMNIST)(
        str(tmp_path),
        train=False,
        transform=tonic.transforms.ToFrame(sensor_size=dataset.sensor_size, n_time_bins=3),
    )
    with pytest.raises(TypeError, match="sample 0: events must be .* structured array.*ToFrame"):
        ev.tonic_dataset(framed, num_bins=30, t_max=0.3)


@pytest.mark.parametrize("time_dtype", ["float32", "float64"])
def test_tonic_shd_dataset_offline_equals_load_shd(tmp_path: Path, time_dtype: str) -> None:
    tonic = pytest.importorskip("tonic")
    pytest.importorskip("h5py")
    from test_events import random_hsd_samples, write_hsd

    (tmp_path / "SHD").mkdir()
    write_hsd(tmp_path / "SHD" / "shd_test.h5", random_hsd_samples(12, 20, 2), 20, time_dtype)
    dataset = _offline(tonic.datasets.SHD)(str(tmp_path), train=False)
    events, target = dataset[0]
    assert events.dtype == SHD_DTYPE and set(events["p"].tolist()) <= {1}
    binned = ev.tonic_dataset(dataset, num_bins=100, t_max=1.4)
    ours = ev.load_shd(tmp_path / "SHD", "test", num_bins=100, t_max=1.4)
    assert torch.equal(binned.inputs, ours.inputs) and torch.equal(binned.labels, ours.labels)


def test_tonic_shd_on_numpy_2_breaks_float16_times_and_the_error_says_so(tmp_path: Path) -> None:
    tonic = pytest.importorskip("tonic")
    pytest.importorskip("h5py")
    from test_events import write_hsd

    (tmp_path / "SHD").mkdir()
    sample = (np.array([0.0, 0.25]), np.array([1, 2]), 0)
    write_hsd(tmp_path / "SHD" / "shd_test.h5", [sample], 20, "float16")
    dataset = _offline(tonic.datasets.SHD)(str(tmp_path), train=False)
    with warnings.catch_warnings():  # tonic's own cast warns (overflow, invalid value)
        warnings.simplefilter("ignore", RuntimeWarning)
        events, _ = dataset[0]
    if int(np.__version__.split(".")[0]) < 2:  # pragma: no cover - numpy 1 upcasts to float32
        assert events["t"].tolist() == [0, 250_000]
        return
    # numpy 2: float16 * 1e6 stays float16 and overflows; the int cast gives -2**63
    assert events["t"].tolist() == [-(2**63)] * 2
    with pytest.raises(ValueError, match=r"sample 0: events\['t'\] holds -2\*\*63.*load_shd"):
        ev.tonic_dataset([(events, 0)], num_bins=100, t_max=1.4, sensor_size=SHD_SENSOR)


def _sorted_events(seed: int, n: int, sensor: tuple[int, int, int], t_end: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width, height, polarities = sensor
    return structured(
        NMNIST_DTYPE,
        x=rng.integers(0, width, n),
        y=rng.integers(0, height, n),
        t=np.sort(rng.integers(0, t_end, n)),  # tonic's slicers need time-sorted events
        p=rng.integers(0, polarities, n),
    )


@pytest.mark.parametrize("sensor", [NMNIST_SENSOR, (20, 1, 1), (5, 3, 2)])
def test_toframe_time_window_from_0_is_the_same_binning(sensor: tuple[int, int, int]) -> None:
    tonic = pytest.importorskip("tonic")
    for seed in range(5):
        events = _sorted_events(seed, 200, sensor, 330_000)
        if sensor[1] == 1:  # a 1-d sensor's events have no y (tonic's SHD dtype, p ignored)
            events = structured(SHD_DTYPE, t=events["t"], x=events["x"], p=1)
        steps, dt_us = 30, 10_000
        frames = tonic.transforms.ToFrame(
            sensor_size=sensor, time_window=dt_us, start_time=0, end_time=steps * dt_us
        )(events.copy())  # ToFrame sets p = 0 in place on a one-polarity sensor
        width, height, polarities = sensor  # frames [T, P, H, W]; [T, P, W] without y
        assert frames.shape == (steps, polarities, *([height] if height > 1 else []), width)
        got = ev.from_tonic_events(events, sensor, num_bins=steps, dt=dt_us / 1e6)
        assert torch.equal(got, torch.from_numpy(frames.reshape(steps, -1)).float())


def test_toframe_n_time_bins_spans_first_to_last_event() -> None:
    """``ToFrame(n_time_bins=T)`` bins each sample from its first event, ``dt = (t_last -
    t_first) // T`` microseconds (floored), so its last event(s) fall outside; snnfunc's window
    starts at 0 and is the same for every sample."""
    tonic = pytest.importorskip("tonic")
    for seed in range(5):
        events = _sorted_events(seed, 300, NMNIST_SENSOR, 300_000)
        events["t"] += 5_000 + seed  # a sample that does not start at 0
        steps = 30
        frames = tonic.transforms.ToFrame(sensor_size=NMNIST_SENSOR, n_time_bins=steps)(events)
        first, last = int(events["t"][0]), int(events["t"][-1])
        shifted = events.copy()
        shifted["t"] -= first
        dt_us = (last - first) // steps
        got = ev.from_tonic_events(shifted, NMNIST_SENSOR, num_bins=steps, dt=dt_us / 1e6)
        assert torch.equal(got, torch.from_numpy(frames.reshape(steps, -1)).float())
        assert got.sum() < len(events)  # the last event is past T * dt


def test_snnfunc_never_imports_tonic() -> None:
    code = (
        "import sys, numpy as np; from snnfunc.app.events import tonic_dataset; "
        "tonic_dataset([(np.zeros(1, [('t', int), ('x', int)]), 0)], sensor_size=(1, 1, 1), "
        "num_bins=1, dt=1.0); print('tonic' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    assert done.stdout.strip() == "False"
