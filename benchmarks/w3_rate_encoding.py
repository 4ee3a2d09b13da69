"""W3: rate encoding of a [128, 784] batch in [0, 1] over 25 steps (BENCHMARKS.md).

    python benchmarks/w3_rate_encoding.py            # full size, 2 threads
    python benchmarks/w3_rate_encoding.py --quick    # tiny smoke run

The rate encoder ``snnfunc.encode.rate`` lives on branch ``issue3``; when this checkout has it,
it is timed too (float and compact ``bool`` output). Always timed: the ``torch.rand < p``
variants it competes with (float output, ``bool`` output, ``torch.bernoulli``), snnTorch
``spikegen.rate``, Norse ``poisson_encode`` (``f_max * dt = 1`` so the rate is ``p``) and
SpikingJelly's ``PoissonEncoder`` (one call per step). Spike rates are checked against ``p``.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from _common import (
    fmt,
    machine,
    parser,
    peak_memory,
    peer,
    report_memory,
    table,
    time_interleaved,
    versions,
)

import snnfunc as sf


def encoders(t: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "torch.rand < p (float)": lambda p: (torch.rand(t, *p.shape) < p).to(p.dtype),
        "torch.rand < p (bool)": lambda p: torch.rand(t, *p.shape) < p,
        "torch.bernoulli(p.expand)": lambda p: torch.bernoulli(p.expand(t, *p.shape)),
    }
    encode = getattr(sf, "encode", None)
    if encode is not None and hasattr(encode, "rate"):
        out["snnfunc rate (float)"] = lambda p: encode.rate(p, t)
        out["snnfunc rate (bool)"] = lambda p: encode.rate(p, t, out_dtype=torch.bool)
    if peer("snntorch.spikegen") is not None:
        from snntorch import spikegen

        out["snnTorch spikegen.rate"] = lambda p: spikegen.rate(p, num_steps=t)
    if peer("norse.torch.functional.encode") is not None:
        from norse.torch.functional.encode import poisson_encode

        out["Norse poisson_encode"] = lambda p: poisson_encode(p, t, f_max=1000.0, dt=0.001)
    if peer("spikingjelly.activation_based.encoding") is not None:
        from spikingjelly.activation_based import encoding

        enc = encoding.PoissonEncoder()
        out["SpikingJelly PoissonEncoder"] = lambda p: torch.stack([enc(p) for _ in range(t)])
    return out


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(args.threads)
    t, shape = (5, (8, 16)) if args.quick else (25, (128, 784))
    reps = 3 if args.quick else max(7, args.reps)
    p = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    argv = [a for a in sys.argv[1:] if not a.startswith("--memory-case")]
    encs = encoders(t)
    if args.memory_case:
        report_memory(lambda: encs[args.memory_case](p))
        return
    print(f"## W3 rate encoding ({machine()})\n")
    print(f"Peers: {versions('snntorch', 'norse', 'spikingjelly') or 'none found'}\n")
    if "snnfunc rate (float)" not in encs:
        print("(snnfunc.encode.rate is not on this branch: it lives on branch issue3.)\n")
    rates = {}
    for name, enc in encs.items():
        z = enc(p)
        assert z.shape == (t, *shape), f"{name}: shape {tuple(z.shape)}"
        rates[name] = z.float().mean().item()
        if not args.quick:  # 2.5M Bernoulli draws: the mean rate is within ~1e-3 of mean(p)
            assert abs(rates[name] - p.mean().item()) < 5e-3, f"{name}: rate {rates[name]}"
    times = time_interleaved({name: (lambda e=e: e(p)) for name, e in encs.items()}, reps)
    ref = times["torch.rand < p (float)"][0]
    out_bytes = t * p.numel()
    rows = []
    for name, enc in encs.items():
        mem = None if args.quick or args.no_memory else peak_memory(__file__, name, argv)
        z = enc(p)
        rows.append(
            [
                name,
                fmt(times[name]),
                "-" if mem is None else f"{mem:.1f}",
                str(z.dtype).replace("torch.", ""),
                f"{rates[name]:.4f}",
                f"{times[name][0] / ref:.2f}x",
            ]
        )
    print(
        table(
            [
                "encoder",
                "ms, median (min)",
                "peak MB",
                "output dtype",
                "spike rate",
                "time / torch.rand < p",
            ],
            rows,
        )
    )
    print(
        f"\nmean(p) = {p.mean().item():.4f}. Writing a float32 output is {4 * out_bytes / 1e6:.1f} "
        f"MB ({4 * out_bytes / 31e9 * 1e3:.2f} ms at 31 GB/s); a bool output is a quarter of it."
    )


if __name__ == "__main__":
    main()
