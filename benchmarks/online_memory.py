"""Online gradients (e-prop, OTTT) vs BPTT: peak memory and time of one gradient, T = 200 and 2000.

One LIF layer with an input weight (``F.linear(x, W)`` inside the step, ``W: [N, M]``) and a
loss at every step; the gradient to ``W`` and ``beta``. BPTT is autograd through
``snnfunc.scan`` (it keeps every step's graph: memory linear in T); the online methods run
``snnfunc.online.grad`` (traces only: memory constant in T). Peak memory per case in a fresh
process (``_common.peak_memory``: VmHWM above the warmed-up baseline, glibc caching off), time
interleaved (``_common.time_interleaved``).

    python benchmarks/online_memory.py            # B x N x M = 16 x 128 x 64, T = 200 and 2000
    python benchmarks/online_memory.py --quick    # a smoke test (tiny, seconds)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _common import fmt, machine, parser, peak_memory, report_memory, table, time_interleaved

import snnfunc as sf
from snnfunc import online

BETA = 0.9


def _problem(steps: int, batch: int, neurons: int, inputs: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    return {
        "xs": (torch.rand(steps, batch, inputs, generator=gen) < 0.2).float(),
        "target": torch.rand(batch, neurons, generator=gen) * 0.2,
        "params": (
            torch.randn(neurons, inputs, generator=gen) * 0.3,
            sf.LIFParams(torch.full((neurons,), BETA), 1.0),
        ),
        "state": sf.lif_init((batch, neurons)),
    }


def _step(state: Any, x: torch.Tensor, params: Any) -> Any:
    w, neuron = params
    return sf.lif_step(state, F.linear(x, w), neuron)


def _cases(steps: int, batch: int, neurons: int, inputs: int) -> dict[str, Callable[[], Any]]:
    p = _problem(steps, batch, neurons, inputs)
    target = p["target"]

    def loss(y: torch.Tensor, t: int) -> torch.Tensor:
        return ((y - target) ** 2).sum()

    def bptt() -> Any:
        w = p["params"][0].clone().requires_grad_()
        beta = p["params"][1].beta.clone().requires_grad_()
        ys, _ = sf.scan(lambda s, x: _step(s, x, (w, sf.LIFParams(beta, 1.0))), p["state"], p["xs"])
        total = sum(loss(ys[t], t) for t in range(steps))
        return torch.autograd.grad(total, (w, beta))

    def eprop() -> Any:
        w, neuron = online.grad(_step, p["state"], p["xs"], p["params"], loss)[0]
        return w, neuron.beta

    def ottt() -> Any:
        w, neuron = online.grad(
            _step, p["state"], p["xs"], p["params"], loss, method="ottt", leak=BETA
        )[0]
        return w, neuron.beta

    return {"bptt": bptt, "eprop": eprop, "ottt": ottt}


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--steps", default="200,2000", help="comma-separated T")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--neurons", type=int, default=128)
    p.add_argument("--inputs", type=int, default=64)
    p.add_argument("--write", default=None, help="also write the table to this file")
    p.add_argument(
        "--max-timed-steps", type=int, default=500, help="longer T: timed once (the check run)"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.batch, args.neurons, args.inputs, args.reps = "20,200", 2, 8, 4, 1
        args.max_timed_steps = 20
    sizes = (args.batch, args.neurons, args.inputs)
    if args.memory_case:  # "<name>@<T>", run in a fresh process by peak_memory
        name, steps = args.memory_case.split("@")
        report_memory(_cases(int(steps), *sizes)[name])
        return
    lengths = [int(s) for s in args.steps.split(",")]
    argv = [
        "--batch",
        str(args.batch),
        "--neurons",
        str(args.neurons),
        "--inputs",
        str(args.inputs),
    ]
    argv += ["--threads", str(args.threads)]
    out = [f"Machine: {machine()}, load average {os.getloadavg()[0]:.1f}", ""]
    out += [
        f"B x N x M = {args.batch} x {args.neurons} x {args.inputs}, LIF layer, loss every step",
        "",
    ]
    rows, peaks = [], {}
    only = [name for name in args.only.split(",") if name]
    for steps in lengths:
        cases = _cases(steps, *sizes)
        cases = {name: fn for name, fn in cases.items() if not only or name in only}
        got, once = {}, {}
        for name, fn in cases.items():  # the check run, timed: the only timing at long T
            start = time.perf_counter()
            got[name] = torch.cat([g.flatten() for g in fn()])
            once[name] = (time.perf_counter() - start) * 1e3
        err = 0.0 if {"eprop", "bptt"} - set(got) else _relative(got["eprop"], got["bptt"])
        if err > 1e-4:  # e-prop is exact here (float32 rounding only)
            sys.exit(f"e-prop differs from BPTT at T={steps}: relative error {err:.2e}")
        if steps <= args.max_timed_steps:
            times = time_interleaved(cases, reps=args.reps, warmup=0)
        else:
            times = {name: (ms, ms) for name, ms in once.items()}
        for name in cases:
            mem = None if args.no_memory else peak_memory(__file__, f"{name}@{steps}", argv)
            peaks[(name, steps)] = mem
            per_step = (times[name][0] / steps, times[name][1] / steps)
            rows.append(
                [
                    name,
                    str(steps),
                    fmt(times[name]),
                    fmt(per_step),
                    "-" if mem is None else f"{mem:.1f}",
                ]
            )
    out.append(table(["method", "T", "gradient ms, median (min)", "ms per step", "peak MB"], rows))
    if len(lengths) == 2 and not args.no_memory:
        short, long = lengths
        out.append("")
        for name in cases:
            a, b = peaks[(name, short)], peaks[(name, long)]
            if a is not None and b is not None:
                out.append(f"- {name}: peak at T={long} / T={short} = {b / max(a, 1e-9):.2f}x")
    text = "\n".join(out) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)


if __name__ == "__main__":
    main()
