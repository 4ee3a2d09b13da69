"""What ``scan`` costs over a hand-written loop: ``scan(partial(lif_step, ...))`` vs a plain eager
loop of the same math, forward and forward+backward (W1 semantics: beta 0.9, threshold 1,
subtract reset, arctan surrogate; loss = (spikes * fixed weights).sum(), backward to x).

    python benchmarks/scan_overhead.py                 # 500x16x512 and 25x128x1000, 2 threads
    python benchmarks/scan_overhead.py --quick         # tiny smoke run

Rows: ``scan(lif_step)`` (checks on the first step, the unchecked core after it), a loop calling
the checked ``lif_step`` at every step (what ``scan`` did before checks moved out of the time
loop), and the plain loop (no snnfunc at all). The ratio column is each row's min over the plain
loop's min, from the same interleaved run. Run it from another checkout to compare versions.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from _common import fmt, machine, parser, table, time_interleaved

import snnfunc as sf

SIZES = [(500, 16, 512), (25, 128, 1000)]
QUICK_SIZES = [(8, 4, 64)]
BETA, THR = 0.9, 1.0


def implementations(size: tuple[int, int, int]) -> dict[str, Any]:
    _, b, n = size
    params = sf.LIFParams(BETA, THR)
    spike = sf.surrogate.atan(2.0)

    def scanned(x: torch.Tensor) -> torch.Tensor:
        return sf.scan(partial(sf.lif_step, params=params), sf.lif_init((b, n)), x)[0]

    def checked_loop(x: torch.Tensor) -> torch.Tensor:
        state, out = sf.lif_init((b, n)), []
        for x_t in x.unbind(0):
            z, state = sf.lif_step(state, x_t, params)
            out.append(z)
        return torch.stack(out)

    def plain(x: torch.Tensor) -> torch.Tensor:
        v, out = torch.zeros(b, n), []
        for x_t in x.unbind(0):
            h = BETA * v + x_t
            z = spike(h - THR)
            v = h - z.detach() * THR
            out.append(z)
        return torch.stack(out)

    return {"scan(lif_step)": scanned, "loop of checked lif_step": checked_loop, "plain": plain}


def fwd(run: Any, x: torch.Tensor) -> Any:
    def go() -> None:
        with torch.no_grad():
            run(x)

    return go


def fwd_bwd(run: Any, x: torch.Tensor, w: torch.Tensor) -> Any:
    def go() -> None:
        x.grad = None
        (run(x) * w).sum().backward()

    return go


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    sizes = QUICK_SIZES if args.quick else SIZES
    reps = 3 if args.quick else max(args.reps, 7)
    for size in sizes:
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(size, generator=g) * 0.6).requires_grad_(True)
        w = torch.rand(size, generator=g)
        impls = implementations(size)
        ref = impls["plain"](x)
        for name, run in impls.items():
            assert torch.equal(run(x), ref), f"{name}: spikes differ from the plain loop"

        forward = time_interleaved({k: fwd(v, x) for k, v in impls.items()}, reps)
        both = time_interleaved({k: fwd_bwd(v, x, w) for k, v in impls.items()}, reps)
        rows = [
            [
                name,
                fmt(forward[name]),
                f"{forward[name][1] / forward['plain'][1]:.2f}",
                fmt(both[name]),
                f"{both[name][1] / both['plain'][1]:.2f}",
            ]
            for name in impls
        ]
        t, b, n = size
        print(f"\n{t}x{b}x{n}, ms (median / min), ratio of mins to the plain loop")
        print(table(["implementation", "fwd", "fwd ratio", "fwd+bwd", "fwd+bwd ratio"], rows))


if __name__ == "__main__":
    main()
