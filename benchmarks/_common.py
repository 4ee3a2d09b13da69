"""Shared benchmark harness: interleaved timing, peak memory in a fresh process, peers, tables.

Timing: every implementation is warmed up, then the implementations run in turn, rep by rep
(interleaved, so machine noise hits all of them alike); we report the median and the min.
Peak memory: each case runs once more in a fresh Python process with glibc's malloc caching off
(``MALLOC_MMAP_THRESHOLD_=65536``, ``MALLOC_TRIM_THRESHOLD_=0``: every large tensor is its own
mapping, returned on free), its high-water mark reset after warm-up (``/proc/self/clear_refs``),
and the peak resident set above the post-warm-up baseline is reported. (``tracemalloc`` does not
see torch's allocations.)
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout: benchmark this tree's snnfunc
    sys.path.insert(0, str(ROOT))

BANDWIDTH = 31e9  # bytes/s, BENCHMARKS.md W4 (large copy/add, bytes read + written, 2 threads)


def measure_bandwidth(megabytes: int = 256, reps: int = 7) -> float:
    """The copy bandwidth of this machine now, bytes/s (read + written), with the thread count
    set: the roofline's denominator, measured in the same run as the timings it judges."""
    a = torch.ones(megabytes << 18)  # float32: megabytes MiB
    b = torch.empty_like(a)
    b.copy_(a)  # fault the pages in
    best = min(_timed(lambda: b.copy_(a)) for _ in range(reps))
    return 2 * a.numel() * a.element_size() / best


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes, few reps (smoke test)")
    p.add_argument("--reps", type=int, default=9, help="timed reps per implementation (>= 7)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--only", default="", help="comma-separated implementation names")
    p.add_argument("--no-peers", action="store_true", help="skip snnTorch, Norse, SpikingJelly")
    p.add_argument("--memory-case", default=None, help=argparse.SUPPRESS)  # internal
    return p


NO_PEERS = "--no-peers" in sys.argv


# Every module of a peer the scripts import (setup.sh checks that all of them import).
PEER_MODULES: dict[str, tuple[str, ...]] = {
    "snntorch": ("snntorch", "snntorch.spikegen"),
    "norse": ("norse.torch", "norse.torch.functional.encode"),
    "spikingjelly": (
        "spikingjelly.activation_based.neuron",
        "spikingjelly.activation_based.functional",
        "spikingjelly.activation_based.surrogate",
        "spikingjelly.activation_based.encoding",
    ),
}


def peer(name: str, *also: str) -> Any | None:
    """Import a peer module (and the modules ``also`` that the caller uses from it): the module
    ``name``, or ``None`` with a note on stderr when any of them is missing or fails to import
    for any reason (a missing dependency such as loguru or nirtorch included). Import every
    submodule you use through here, not with a bare ``import`` after the check."""
    if NO_PEERS:
        return None
    try:
        module = importlib.import_module(name)
        for other in also:
            importlib.import_module(other)
    except BaseException as err:  # noqa: BLE001 - any import failure skips the peer
        if isinstance(err, KeyboardInterrupt):
            raise
        print(f"<!-- {name} unavailable: {type(err).__name__}: {err} -->", file=sys.stderr)
        return None
    return module


def time_interleaved(
    cases: dict[str, Callable[[], Any]], reps: int, warmup: int = 2
) -> dict[str, tuple[float, float]]:
    """``{name: (median_ms, min_ms)}``; implementations alternate rep by rep."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(reps):
        names = list(cases)
        names = names[rep % len(names) :] + names[: rep % len(names)]  # rotate the order
        for name in names:
            gc.collect()
            start = time.perf_counter()
            cases[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {n: (statistics.median(t), min(t)) for n, t in times.items()}


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure_here(fn: Callable[[], Any], before: Callable[[], Any] | None = None) -> float:
    """Peak MB above the warmed-up baseline of one call of ``fn`` (in this process);
    ``before`` drops what the previous call left behind (e.g. ``x.grad``)."""
    fn()
    if before is not None:
        before()
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    base = _rss_kb("VmRSS")
    fn()
    return (_rss_kb("VmHWM") - base) / 1024


def peak_memory(script: str, case: str, argv: list[str]) -> float | None:
    """Run ``script --memory-case case`` in a fresh process; its peak MB, or None."""
    if not Path("/proc/self/clear_refs").exists():
        return None
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    out = subprocess.run(
        [sys.executable, script, *argv, "--memory-case", case],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    for line in out.stdout.splitlines():
        if line.startswith("PEAK_MB "):
            return float(line.split()[1])
    print(f"<!-- memory of {case} failed: {out.stderr[-300:]} -->", file=sys.stderr)
    return None


def report_memory(fn: Callable[[], Any], before: Callable[[], Any] | None = None) -> None:
    print(f"PEAK_MB {measure_here(fn, before):.1f}")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"capability {torch.backends.cpu.get_cpu_capability()}, python {platform.python_version()}"
    )


def versions(*names: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in names:
        if sys.modules.get(name) is not None:
            try:
                out.append(f"{name} {version(name)}")
            except PackageNotFoundError:
                out.append(name)
    return ", ".join(out)


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt(t: tuple[float, float] | None) -> str:
    return "-" if t is None else f"{t[0]:.2f} ({t[1]:.2f})"


def dump(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1))
