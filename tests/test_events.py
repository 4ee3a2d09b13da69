"""Event-data readers and binning (snnfunc.app.events), on fixtures written here in the real
file formats: SHD/SSC HDF5 (vlen float times, vlen uint16 units, labels, the extra group) and
N-MNIST's 40-bit ATIS ``.bin`` files (encoded by the tiny encoder below, not by the reader)."""

from __future__ import annotations

import gzip
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnfunc.app import events as ev

h5py = pytest.importorskip("h5py")


# --- fixture writers -----------------------------------------------------------------------


def write_hsd(
    path: Path,
    samples: list[tuple[np.ndarray, np.ndarray, int]],
    classes: int,
    time_dtype: str = "float16",
) -> None:
    """An SHD/SSC file as published: spikes/{times, units} vlen per sample, labels, extra."""
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        times = spikes.create_dataset(
            "times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(time_dtype))
        )
        units = spikes.create_dataset(
            "units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype("uint16"))
        )
        for i, (t, u, _) in enumerate(samples):
            times[i] = t.astype(time_dtype)
            units[i] = u.astype(np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        extra = f.create_group("extra")
        extra.create_dataset("keys", data=np.array([f"c{k}".encode() for k in range(classes)]))
        extra.create_dataset("speaker", data=np.zeros(len(samples), dtype=np.uint16))
        meta = extra.create_group("meta_info")
        meta.create_dataset("gender", data=np.array([b"female"]))
        meta.create_dataset("age", data=np.array([30], dtype=np.uint16))
        meta.create_dataset("body_height", data=np.array([1.7]))


def random_hsd_samples(n: int, classes: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        e = int(rng.integers(0, 60))
        # float16-exact times (multiples of 2**-10 s) so the round trip is exact
        t = np.sort(rng.integers(0, int(1.5 * 1024), e)).astype(np.float64) / 1024
        u = rng.integers(0, 700, e)
        out.append((t, u, i % classes))
    return out


def atis_encode(x: list[int], y: list[int], p: list[int], t_us: list[int]) -> bytes:
    """Independent encoder of the 40-bit N-MNIST event: x, y, then p<<23 | t as 3 bytes."""
    out = bytearray()
    for xi, yi, pi, ti in zip(x, y, p, t_us, strict=True):
        word = (pi << 23) | ti
        out += bytes([xi, yi]) + word.to_bytes(3, "big")
    return bytes(out)


def write_nmnist(root: Path, split: str, per_digit: int, seed: int) -> dict[str, tuple]:
    """``<Split>/<digit>/<k>.bin``; returns the events written, per file path."""
    rng = np.random.default_rng(seed)
    written = {}
    for digit in range(10):
        folder = root / split / str(digit)
        folder.mkdir(parents=True)
        for k in range(per_digit):
            e = int(rng.integers(0, 40))
            ev_ = (
                rng.integers(0, 34, e).tolist(),
                rng.integers(0, 34, e).tolist(),
                rng.integers(0, 2, e).tolist(),
                np.sort(rng.integers(0, 320_000, e)).tolist(),
            )
            path = folder / f"{k:05d}.bin"
            path.write_bytes(atis_encode(*ev_))
            written[str(path)] = (digit, ev_)
    return written


def dense_reference(t, u, channels: int, steps: int, dt: float) -> torch.Tensor:
    """A plain loop over events: the definition of the counts."""
    out = torch.zeros(steps, channels)
    for ti, ui in zip(t, u, strict=True):
        k = math.floor(float(ti) / dt + 1e-9)
        if 0 <= k < steps:
            out[k, int(ui)] += 1
    return out


# --- binning ------------------------------------------------------------------------------


@given(
    data=st.lists(st.tuples(st.floats(-0.5, 2.0, allow_nan=False), st.integers(0, 4)), max_size=60),
    steps=st.integers(1, 12),
    dt=st.floats(0.01, 0.5),
)
def test_bin_events_puts_each_event_in_floor_t_over_dt(data, steps: int, dt: float) -> None:
    t = torch.tensor([d[0] for d in data], dtype=torch.float64)
    u = torch.tensor([d[1] for d in data], dtype=torch.int64)
    got = ev.bin_events(t, u, num_channels=5, num_bins=steps, dt=dt)
    assert got.shape == (steps, 5) and got.dtype == torch.float32
    torch.testing.assert_close(got, dense_reference(t, u, 5, steps, dt), rtol=0, atol=0)
    inside = sum(1 for ti, _ in data if 0 <= math.floor(ti / dt + 1e-9) < steps)
    assert got.sum().item() == inside  # total count preserved within the window


@given(t_max=st.floats(0.1, 3.0), steps=st.integers(1, 50))
def test_bin_window_from_any_two(t_max: float, steps: int) -> None:
    assert ev.bin_window(num_bins=steps, t_max=t_max) == (steps, t_max / steps)
    dt = t_max / steps
    bins, width = ev.bin_window(dt=dt, t_max=t_max)
    assert width == dt and bins == steps  # within 1e-9 of an integer counts as it
    assert ev.bin_window(num_bins=steps, dt=dt) == (steps, dt)


def test_an_event_on_a_bin_edge_opens_that_bin() -> None:
    """0.03 / 0.01 is 2.9999999999999996 in floating point: the event still lands in bin 3."""
    t = torch.tensor([0.03, 0.07, 0.1 - 1e-6], dtype=torch.float64)
    got = ev.bin_events(t, torch.zeros(3, dtype=torch.long), num_channels=1, num_bins=10, dt=0.01)
    assert got[:, 0].nonzero().flatten().tolist() == [3, 7, 9]
    t = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)  # 0.3 is the window's end: dropped
    got = ev.bin_events(t, torch.zeros(3, dtype=torch.long), num_channels=1, num_bins=3, t_max=0.3)
    assert got[:, 0].tolist() == [0.0, 1.0, 1.0]


def test_bin_window_rounds_up_a_partial_bin() -> None:
    assert ev.bin_window(dt=0.3, t_max=1.0) == (4, 0.3)  # window [0, 1.2) covers t_max
    assert ev.bin_window(dt=1e-3, t_max=1.4) == (1400, 1e-3)


def test_bin_samples_equals_bin_events_per_sample() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = [0, 5, 17, 1, 0, 9]
    times = torch.rand(sum(lengths), generator=gen, dtype=torch.float64) * 1.2
    units = torch.randint(0, 7, (sum(lengths),), generator=gen)
    offsets = torch.tensor([0, *np.cumsum(lengths).tolist()])
    samples = ev.EventSamples(times, units, offsets, torch.arange(6), 7)
    inputs, labels = ev.bin_samples(samples, num_bins=10, t_max=1.0)
    assert inputs.shape == (6, 10, 7) and torch.equal(labels, torch.arange(6))
    for i in range(6):
        a, b = int(offsets[i]), int(offsets[i + 1])
        one = ev.bin_events(times[a:b], units[a:b], num_channels=7, num_bins=10, t_max=1.0)
        assert torch.equal(inputs[i], one)


def test_take_samples_then_bin_equals_bin_then_index() -> None:
    gen = torch.Generator().manual_seed(8)
    lengths = [3, 0, 7, 2, 5]
    times = torch.rand(sum(lengths), generator=gen, dtype=torch.float64)
    units = torch.randint(0, 4, (sum(lengths),), generator=gen)
    offsets = torch.tensor([0, *np.cumsum(lengths).tolist()])
    samples = ev.EventSamples(times, units, offsets, torch.tensor([4, 3, 2, 1, 0]), 4)
    full = ev.bin_samples(samples, num_bins=5, t_max=1.0)
    for idx in ([4, 0, 2], [1], [2, 2, 3], []):
        index = torch.tensor(idx, dtype=torch.int64)
        part = ev.bin_samples(ev.take_samples(samples, index), num_bins=5, t_max=1.0)
        assert torch.equal(part.inputs, full.inputs[index])
        assert torch.equal(part.labels, full.labels[index])
    with pytest.raises(ValueError, match=r"index must lie in \[0, 5\), got 0..5"):
        ev.take_samples(samples, torch.tensor([0, 5]))
    with pytest.raises(TypeError, match="index must be a 1-d int64 tensor"):
        ev.take_samples(samples, torch.tensor([0.0]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_bins": 10}, "exactly two of num_bins, dt and t_max"),
        ({"num_bins": 10, "dt": 0.1, "t_max": 1.0}, "exactly two"),
        ({"num_bins": 0, "dt": 0.1}, "num_bins must be >= 1"),
        ({"num_bins": 3, "dt": -0.1}, "dt must be > 0"),
        ({"dt": 0.1, "t_max": float("inf")}, "t_max must be > 0 and finite"),
    ],
)
def test_bin_window_errors(kwargs, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        ev.bin_events(torch.zeros(1), torch.zeros(1, dtype=torch.long), num_channels=1, **kwargs)


@pytest.mark.parametrize(
    "times, units, match",
    [
        (
            torch.zeros(2, dtype=torch.long),
            torch.zeros(2, dtype=torch.long),
            "times must be a 1-d floating",
        ),
        (torch.zeros(2), torch.zeros(2), "units must be a 1-d integer"),
        (torch.zeros(2), torch.zeros(3, dtype=torch.long), "one entry per event"),
        (torch.tensor([float("nan")]), torch.zeros(1, dtype=torch.long), "NaN"),
        (torch.zeros(1), torch.tensor([4]), r"units must lie in \[0, num_channels=4\), got 4"),
        (torch.zeros(1), torch.tensor([-1]), "got -1"),
    ],
)
def test_bin_events_errors(times, units, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        ev.bin_events(times, units, num_channels=4, num_bins=2, dt=1.0)


# --- SHD / SSC ------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", ["", ".gz", ".zip"])
def test_load_shd_round_trip(tmp_path: Path, compress: str) -> None:
    samples = random_hsd_samples(7, 20, seed=1)
    plain = tmp_path / "shd_test.h5"
    write_hsd(plain, samples, 20)
    if compress == ".gz":
        (tmp_path / "shd_test.h5.gz").write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    elif compress == ".zip":
        with zipfile.ZipFile(tmp_path / "shd_test.h5.zip", "w") as z:
            z.write(plain, "shd_test.h5")
        plain.unlink()
    inputs, labels = ev.load_shd(tmp_path, "test", num_bins=100, t_max=1.4)
    assert inputs.shape == (7, 100, 700) and inputs.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [s[2] for s in samples]
    for i, (t, u, _) in enumerate(samples):
        torch.testing.assert_close(
            inputs[i], dense_reference(t, u, 700, 100, 1.4 / 100), rtol=0, atol=0
        )
    # events at t >= 1.4 s are dropped
    assert inputs.sum().item() == sum(int((t < 1.4).sum()) for t, _, _ in samples)


def test_load_ssc_splits_and_max_samples(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        write_hsd(tmp_path / f"ssc_{split}.h5", random_hsd_samples(5, 35, seed=2), 35)
    inputs, labels = ev.load_ssc(tmp_path, "valid", num_bins=20, max_samples=3)
    assert inputs.shape == (3, 20, 700) and labels.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'valid', 'test'\)"):
        ev.load_ssc(tmp_path, "dev")
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\)"):
        ev.load_shd(tmp_path, "valid")


@pytest.mark.parametrize("time_dtype", ["float32", "float64"])
def test_any_float_time_dtype_loads_the_same(tmp_path: Path, time_dtype: str) -> None:
    samples = random_hsd_samples(4, 20, seed=7)
    write_hsd(tmp_path / "shd_train.h5", samples, 20)
    (tmp_path / "other").mkdir()
    write_hsd(tmp_path / "other" / "shd_train.h5", samples, 20, time_dtype)
    a, b = ev.load_shd(tmp_path, "train"), ev.load_shd(tmp_path / "other", "train")
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)


def test_read_hdf5_spikes_keeps_float64_seconds(tmp_path: Path) -> None:
    samples = random_hsd_samples(4, 20, seed=3)
    write_hsd(tmp_path / "x.h5", samples, 20)
    got = ev.read_hdf5_spikes(tmp_path / "x.h5")
    assert got.times.dtype == torch.float64 and got.num_channels == 700
    assert torch.equal(got.times, torch.from_numpy(np.concatenate([s[0] for s in samples])))
    assert got.offsets.tolist() == [0, *np.cumsum([len(s[0]) for s in samples]).tolist()]


def test_count_dtype(tmp_path: Path) -> None:
    t, u = torch.tensor([0.1, 0.1]), torch.tensor([1, 1])
    half = ev.bin_events(t, u, num_channels=2, num_bins=1, dt=1.0, dtype=torch.float16)
    assert half.dtype == torch.float16 and half.tolist() == [[0.0, 2.0]]
    for bad in (torch.bool, torch.uint8, torch.complex64, "float32"):
        with pytest.raises(TypeError, match="dtype must be a real torch dtype for counts"):
            ev.bin_events(t, u, num_channels=2, num_bins=1, dt=1.0, dtype=bad)


def test_no_data_dir_says_where_to_get_the_files() -> None:
    with pytest.raises(FileNotFoundError, match=r"SHD needs a data directory \(--data-dir DIR\)"):
        ev.load_shd(None, "train")
    with pytest.raises(FileNotFoundError, match=r"SSC needs a data directory.*ssc_valid.h5"):
        ev.load_ssc(None, "valid")
    with pytest.raises(FileNotFoundError, match=r"N-MNIST needs a data directory.*Train.zip"):
        ev.load_nmnist(None, "train")


def test_shd_missing_files_say_where_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"shd_train.h5\[.gz\] not found.*zenkelab.org"):
        ev.load_shd(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="SHD data directory not found"):
        ev.load_shd(tmp_path / "nope", "train")


def test_shd_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "shd_train.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        ev.load_shd(tmp_path, "train")
    (tmp_path / "shd_train.h5.gz").write_bytes(b"\x1f\x8b garbage")
    (tmp_path / "shd_train.h5").unlink()
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        ev.load_shd(tmp_path, "train")
    (tmp_path / "shd_train.h5.gz").unlink()
    with h5py.File(tmp_path / "shd_train.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(2, dtype=np.uint16))
    with pytest.raises(ValueError, match=r"lacks \['spikes/times', 'spikes/units'\]"):
        ev.load_shd(tmp_path, "train")
    samples = random_hsd_samples(3, 20, seed=4)
    samples[1] = (np.array([0.5]), np.array([700]), 1)
    write_hsd(tmp_path / "shd_train.h5", samples, 20)
    with pytest.raises(ValueError, match=r"units must lie in \[0, num_channels=700\), got 700"):
        ev.load_shd(tmp_path, "train")
    write_hsd(tmp_path / "shd_train.h5", [(np.array([0.1]), np.array([3]), 20)], 20)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 20\) for SHD"):
        ev.load_shd(tmp_path, "train")


# --- N-MNIST -------------------------------------------------------------------------------


def test_decode_atis_matches_the_encoder() -> None:
    x, y, p, t = [0, 33, 7], [1, 0, 33], [1, 0, 1], [0, 2**23 - 1, 123_456]
    got = ev.decode_atis(atis_encode(x, y, p, t))
    assert got.x.tolist() == x and got.y.tolist() == y
    assert got.polarity.tolist() == p and got.t.tolist() == t


def test_decode_atis_overflow_marker() -> None:
    raw = atis_encode([1, 0, 2], [2, 240, 3], [0, 0, 1], [10, 0, 20])
    got = ev.decode_atis(raw)
    assert got.y.tolist() == [2, 3] and got.t.tolist() == [10, 20 + 2**13]


def test_decode_atis_truncated() -> None:
    with pytest.raises(ValueError, match="5-byte events, got 7 bytes"):
        ev.decode_atis(b"\x00" * 7)


@pytest.mark.parametrize("zipped", [False, True])
def test_load_nmnist_round_trip(tmp_path: Path, zipped: bool) -> None:
    written = write_nmnist(tmp_path, "Test", per_digit=2, seed=5)
    if zipped:
        with zipfile.ZipFile(tmp_path / "Test.zip", "w") as z:
            for path in written:
                z.write(path, str(Path(path).relative_to(tmp_path)))
        for path in written:
            Path(path).unlink()
        for digit in range(10):
            (tmp_path / "Test" / str(digit)).rmdir()
        (tmp_path / "Test").rmdir()
    inputs, labels = ev.load_nmnist(tmp_path, "test", num_bins=32, t_max=0.32)
    assert inputs.shape == (20, 32, 2 * 34 * 34)
    assert labels.tolist() == list(range(10)) * 2  # round-robin over the digits
    # the k-th sample of each digit is file k of that digit
    order = sorted(written.items(), key=lambda kv: (Path(kv[0]).stem, kv[1][0]))
    for i, (_, (digit, (x, y, p, t))) in enumerate(order):
        assert labels[i] == digit
        channels = [pi * 34 * 34 + yi * 34 + xi for xi, yi, pi in zip(x, y, p, strict=True)]
        want = dense_reference([ti / 1e6 for ti in t], channels, 2312, 32, 0.32 / 32)
        torch.testing.assert_close(inputs[i], want, rtol=0, atol=0)
        frames = inputs[i].view(32, 2, 34, 34)
        if x:  # channel order is (polarity, y, x)
            k = math.floor(t[0] / 1e6 / 0.01)
            assert frames[k, p[0], y[0], x[0]] >= 1


def test_read_nmnist_overflow_stays_within_its_sample(tmp_path: Path) -> None:
    for digit in range(10):
        (tmp_path / "Train" / str(digit)).mkdir(parents=True)
    (tmp_path / "Train" / "0" / "a.bin").write_bytes(atis_encode([0, 1], [240, 1], [0, 0], [0, 5]))
    (tmp_path / "Train" / "1" / "a.bin").write_bytes(atis_encode([2], [2], [1], [7]))
    got = ev.read_nmnist(tmp_path, "train")
    assert got.offsets.tolist() == [0, 1, 2]
    assert (got.times * 1e6).round().tolist() == [5.0 + 2**13, 7.0]
    assert got.labels.tolist() == [0, 1]


def test_nmnist_max_samples_covers_the_classes(tmp_path: Path) -> None:
    write_nmnist(tmp_path, "Train", per_digit=3, seed=6)
    _, labels = ev.load_nmnist(tmp_path, "train", max_samples=12)
    assert labels.tolist() == [*range(10), 0, 1]


def test_nmnist_errors(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"split 'Train' not found.*Train.zip.*garrickorchard"
    ):
        ev.load_nmnist(tmp_path, "train")
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\)"):
        ev.load_nmnist(tmp_path, "valid")
    (tmp_path / "Train" / "3").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no .bin files"):
        ev.load_nmnist(tmp_path, "train")
    (tmp_path / "Train" / "3" / "x.bin").write_bytes(b"\x00" * 6)
    with pytest.raises(ValueError, match="not a whole number of 5-byte ATIS events"):
        ev.load_nmnist(tmp_path, "train")
    (tmp_path / "Train" / "3" / "x.bin").write_bytes(atis_encode([40], [0], [0], [0]))
    with pytest.raises(ValueError, match="34x34 sensor, got x up to 40"):
        ev.load_nmnist(tmp_path, "train")


def test_benchmark_script_runs_quick() -> None:
    """benchmarks/events_and_delays.py end to end at a tiny size (a smoke test, not a timing)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "events_and_delays.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| bin_samples |" in out.stdout and "| delayed_linear" in out.stdout
