"""Event loading/binning and learnable-delay timings (synthetic data, no download).

Prints a markdown table: min and median of ``--reps`` runs (the min is the number to compare on
a shared machine). Cases:

- ``write+load_shd``: an HDF5 file in SHD's layout (vlen float16 times, vlen uint16 units) with
  ``--samples`` samples of ``--events`` events each, read and binned to ``[N, 100, 700]``
  (the file is written once, outside the timing); the same from the ``.h5.gz``.
- ``bin_samples`` vs a Python loop of ``bin_events`` over the samples (same result, checked).
- ``fractional_delay`` (layerwise) vs ``scan(delay_step)`` (stepwise), forward + backward,
  ``[T, B, N]`` with per-channel delays.
- ``delayed_linear`` (one conv1d) vs ``fractional_delay`` per synapse + einsum, fwd + bwd.

    python benchmarks/events_and_delays.py            # defaults below
    python benchmarks/events_and_delays.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

import snnfunc as sf
from snnfunc.app import events as ev
from snnfunc.delay import DelayParams, delay_init, delay_step, delayed_linear, fractional_delay


def timed(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    fn()  # warm-up
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs), statistics.median(runs)


def write_shd(path: Path, samples: int, events: int, seed: int = 0) -> None:
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (samples,), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (samples,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(samples):
            times[i] = np.sort(rng.uniform(0, 1.4, events)).astype(np.float16)
            units[i] = rng.integers(0, 700, events).astype(np.uint16)
        f["labels"] = rng.integers(0, 20, samples).astype(np.uint16)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5000, help="events per sample")
    parser.add_argument("--steps", type=int, default=100, help="T for the delay cases")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=700)
    parser.add_argument("--max-delay", type=int, default=25)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.events, args.steps, args.batch, args.channels = 20, 200, 20, 4, 16
        args.reps = 2
    torch.set_num_threads(args.threads)
    rows: list[tuple[str, float, float]] = []

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_shd(root / "shd_train.h5", args.samples, args.events)
        rows.append(("load_shd (.h5)", *timed(lambda: ev.load_shd(root, "train"), args.reps)))
        gz = root / "gz"
        gz.mkdir()
        (gz / "shd_train.h5.gz").write_bytes(gzip.compress((root / "shd_train.h5").read_bytes(), 6))
        rows.append(("load_shd (.h5.gz)", *timed(lambda: ev.load_shd(gz, "train"), args.reps)))
        samples = ev.read_hdf5_spikes(root / "shd_train.h5")

    def loop() -> torch.Tensor:
        o = samples.offsets.tolist()
        return torch.stack(
            [
                ev.bin_events(
                    samples.times[a:b],
                    samples.channels[a:b],
                    num_channels=700,
                    num_bins=100,
                    t_max=1.4,
                )
                for a, b in zip(o[:-1], o[1:], strict=True)
            ]
        )

    assert torch.equal(loop(), ev.bin_samples(samples, num_bins=100, t_max=1.4).inputs)
    rows.append(
        ("bin_samples", *timed(lambda: ev.bin_samples(samples, num_bins=100, t_max=1.4), args.reps))
    )
    rows.append(("loop of bin_events", *timed(loop, args.reps)))

    gen = torch.Generator().manual_seed(0)
    t, b, n, m = args.steps, args.batch, args.channels, args.max_delay
    x = (torch.rand(t, b, n, generator=gen) < 0.05).float().requires_grad_()
    d = (torch.rand(n, generator=gen) * m).requires_grad_()

    def layerwise() -> None:
        fractional_delay(x, d, max_delay=m).sum().backward()

    def stepwise() -> None:
        step = partial(delay_step, params=DelayParams(d))
        sf.scan(step, delay_init((b, n), max_delay=m), x)[0].sum().backward()

    rows.append((f"fractional_delay [{t},{b},{n}] fwd+bwd", *timed(layerwise, args.reps)))
    rows.append((f"scan(delay_step) [{t},{b},{n}] fwd+bwd", *timed(stepwise, args.reps)))

    i, o = min(n, 128), min(n, 64)
    xs = x[..., :i].detach().requires_grad_()
    w = torch.randn(o, i, generator=gen, requires_grad=True)
    ds = (torch.rand(o, i, generator=gen) * m).requires_grad_()

    def conv() -> None:
        delayed_linear(xs, w, ds, max_delay=m).sum().backward()

    def broadcast() -> None:
        y = fractional_delay(xs[..., None, :], ds, max_delay=m)
        torch.einsum("tboi,oi->tbo", y, w).sum().backward()

    rows.append((f"delayed_linear {i}->{o} fwd+bwd", *timed(conv, args.reps)))
    rows.append((f"per-synapse delay + einsum {i}->{o}", *timed(broadcast, args.reps)))

    print(
        f"samples={args.samples} events/sample={args.events} T={t} B={b} N={n} "
        f"max_delay={m} threads={args.threads} reps={args.reps}\n"
    )
    print("| case | min (ms) | median (ms) |\n|---|---|---|")
    for name, best, median in rows:
        print(f"| {name} | {best * 1e3:.1f} | {median * 1e3:.1f} |")


if __name__ == "__main__":
    main()
