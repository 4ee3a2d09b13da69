"""A user's own cell, fused: an adaptive-threshold LIF written in ten lines, ``fuse`` vs ``scan``.

The cell is not a built-in (two state fields, four params); ``snnfunc.fuse`` traces it and
generates its kernel. Forward and forward+backward against ``scan`` of the same step and a plain
eager loop, in one interleaved run; the first use's cost (trace + C build, CPU seconds of this
process and of the compiler) is measured with an empty kernel cache.

    python benchmarks/fuse_user_cell.py            # 25 x 128 x 1000, 2 threads
    python benchmarks/fuse_user_cell.py --quick    # tiny smoke run
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from functools import partial
from typing import Any, NamedTuple

import torch
from _common import fmt, machine, measure_bandwidth, parser, table, time_interleaved

import snnfunc as sf

SPIKE = sf.surrogate.atan(2.0)


class AdaptiveState(NamedTuple):
    v: torch.Tensor  # membrane
    a: torch.Tensor  # threshold adaptation


class AdaptiveParams(NamedTuple):
    beta: Any  # membrane decay
    rho: Any  # adaptation decay
    b: Any  # adaptation strength
    threshold: Any


def adaptive_step(
    state: AdaptiveState, x: torch.Tensor, params: AdaptiveParams
) -> tuple[torch.Tensor, AdaptiveState]:
    """h = beta v + x;  theta = threshold + b a;  z = H(h - theta);  v' = h - z theta;
    a' = rho a + z."""
    h = params.beta * state.v + x
    theta = params.threshold + params.b * state.a
    z = SPIKE(h - theta)
    v = h - z.detach() * theta
    a = params.rho * state.a + z
    return z, AdaptiveState(v, a)


def first_use_seconds(size: tuple[int, int, int]) -> tuple[float, float]:
    """(CPU s of this process, CPU s of the compiler) of the first fused forward + backward,
    with an empty kernel cache."""
    t, b, n = size
    previous = os.environ.get("SNNFUNC_EXT_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SNNFUNC_EXT_DIR"] = cache
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.process_time()
        fused = sf.fuse(partial(adaptive_step))  # a new callable: traced afresh
        state, xs, params = inputs((2, b, n))
        ys, _ = fused(state, xs, params)
        ys.sum().backward()
        own = time.process_time() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        compiler = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if previous is None:
        del os.environ["SNNFUNC_EXT_DIR"]
    else:
        os.environ["SNNFUNC_EXT_DIR"] = previous
    return own, compiler


def inputs(size: tuple[int, int, int]) -> tuple[AdaptiveState, torch.Tensor, AdaptiveParams]:
    g = torch.Generator().manual_seed(0)
    _, b, n = size
    xs = (torch.rand(size, generator=g) * 0.6).requires_grad_(True)
    state = AdaptiveState(torch.zeros(b, n), torch.zeros(b, n))
    params = AdaptiveParams(
        0.9, torch.full((n,), 0.95, requires_grad=True), 0.2, torch.ones(n, requires_grad=True)
    )
    return state, xs, params


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    size = (8, 4, 64) if args.quick else (25, 128, 1000)
    reps = 3 if args.quick else max(7, args.reps)
    print(f"## A user's adaptive-threshold LIF, fused ({machine()})\n")
    own, compiler = first_use_seconds(size)
    bandwidth = measure_bandwidth(64 if args.quick else 256)
    state, xs, params = inputs(size)
    w = torch.rand(size, generator=torch.Generator().manual_seed(1))
    fused = sf.fuse(adaptive_step)
    print(f"Backend: {fused.explain(state, xs, params)}\n")

    def plain(x: torch.Tensor) -> torch.Tensor:
        s, out = state, []
        for x_t in x.unbind(0):
            z, s = adaptive_step(s, x_t, params)
            out.append(z)
        return torch.stack(out)

    impls = {
        "snnfunc fuse(adaptive_step)": lambda x: fused(state, x, params)[0],
        "snnfunc scan(adaptive_step)": lambda x: sf.scan(
            partial(adaptive_step, params=params), state, x
        )[0],
        "plain eager loop": plain,
    }
    ref = plain(xs)
    for name, run in impls.items():
        assert torch.equal(run(xs), ref), f"{name}: spikes differ from the plain loop"

    def fwd(run: Any) -> Any:
        def go() -> None:
            with torch.no_grad():
                run(xs)

        return go

    def fwd_bwd(run: Any) -> Any:
        def go() -> None:
            xs.grad = None
            (run(xs) * w).sum().backward()

        return go

    f = time_interleaved({k: fwd(v) for k, v in impls.items()}, reps)
    fb = time_interleaved({k: fwd_bwd(v) for k, v in impls.items()}, reps)
    t, b, n = size
    # bytes per element: fwd reads x, writes z; bwd reads x and gz, writes gx (the states stay
    # in cache; params are per neuron)
    roof_f, roof_fb = (8 * t * b * n / bandwidth * 1e3, 20 * t * b * n / bandwidth * 1e3)
    fused_fb = fb["snnfunc fuse(adaptive_step)"][0]
    rows = [
        [
            name,
            fmt(f[name]),
            fmt(fb[name]),
            f"{fb[name][0] / fused_fb:.1f}x",
            f"{fb[name][0] / roof_fb:.1f}x",
        ]
        for name in impls
    ]
    print(f"### T x B x N = {t} x {b} x {n}\n")
    header = ["implementation", "fwd ms, median (min)", "fwd+bwd ms, median (min)"]
    print(table([*header, "fwd+bwd / fused", "fwd+bwd / roofline"], rows))
    print(
        f"\nRoofline ({bandwidth / 1e9:.1f} GB/s copy bandwidth, measured in this run): "
        f"fwd {roof_f:.3g} ms (8 B/element), fwd+bwd {roof_fb:.3g} ms (20 B/element).\n"
        f"First use (trace + forward and backward C builds, empty cache): {own:.2f} s CPU in "
        f"this process + {compiler:.2f} s CPU in the compiler.\n"
    )


if __name__ == "__main__":
    main()
