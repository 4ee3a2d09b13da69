"""W1: a LIF layer over time, forward and forward+backward (BENCHMARKS.md).

x: [T, B, N] input currents (requires grad), beta 0.9, threshold 1, subtract reset on the step of
the spike, arctan surrogate (alpha 2); loss = (spikes * fixed random weights).sum(), backward to x.

    python benchmarks/w1_lif_layer.py            # the three sizes, 2 threads
    python benchmarks/w1_lif_layer.py --quick    # tiny smoke run

Implementations: snnfunc's fused ``lif_scan`` (the C kernel generated from ``lif_step`` by
``snnfunc.fuse``; and the graph executor, ``backend="torch"``),
``snnfunc.scan`` of ``lif_step``, a plain eager loop (the W1 reference semantics), snnTorch
``Leaky`` (tutorial loop indexing ``x[t]``, and an unbind loop), Norse ``LIFBoxCell`` and
SpikingJelly ``LIFNode`` (multi-step, torch backend). Options matched: snnfunc, plain and
SpikingJelly (``tau=10, decay_input=False, v_reset=None, detach_reset=True, ATan``) compute the
W1 semantics; snnTorch delays the reset one step (its default); Norse scales the input by
``dt * tau_mem_inv = 0.1`` (we feed ``10 x``) and uses SuperSpike. Spikes and gradients of
snnfunc's paths are checked against the plain loop before timing.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import torch
from _common import (
    PEER_MODULES,
    dump,
    fmt,
    machine,
    measure_bandwidth,
    parser,
    peak_memory,
    peer,
    report_memory,
    table,
    time_interleaved,
    versions,
)

import snnfunc as sf

SIZES = [(25, 128, 1000), (100, 32, 4096), (500, 16, 512)]
QUICK_SIZES = [(8, 4, 64)]
BETA, THR = 0.9, 1.0


def make_inputs(size: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(size, generator=g) * 0.6).requires_grad_(True)  # ~25% of steps spike
    w = torch.rand(size, generator=g)
    return x, w


def implementations(size: tuple[int, int, int]) -> dict[str, Any]:
    """name -> run(x) returning spikes [T, B, N] (differentiable)."""
    _, b, n = size
    params = sf.LIFParams(BETA, THR)
    impls: dict[str, Any] = {
        "snnfunc lif_scan (kernel)": lambda x: sf.lif_scan(sf.lif_init((b, n)), x, params)[0],
        "snnfunc lif_scan (graph executor)": lambda x: sf.lif_scan(
            sf.lif_init((b, n)), x, params, backend="torch"
        )[0],
        "snnfunc scan(lif_step)": lambda x: sf.scan(
            partial(sf.lif_step, params=params), sf.lif_init((b, n)), x
        )[0],
    }
    spike = sf.surrogate.atan(2.0)

    def plain(x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros(b, n)
        out = []
        for x_t in x.unbind(0):
            h = BETA * v + x_t
            s = spike(h - THR)
            v = h - s.detach() * THR
            out.append(s)
        return torch.stack(out)

    impls["plain eager loop"] = plain
    snntorch = peer("snntorch")
    if snntorch is not None:
        lif = snntorch.Leaky(beta=BETA, threshold=THR)

        def tutorial(x: torch.Tensor) -> torch.Tensor:
            mem = lif.init_leaky()
            out = []
            for t in range(x.shape[0]):
                spk, mem = lif(x[t], mem)
                out.append(spk)
            return torch.stack(out)

        def unbound(x: torch.Tensor) -> torch.Tensor:
            mem = lif.init_leaky()
            out = []
            for x_t in x.unbind(0):
                spk, mem = lif(x_t, mem)
                out.append(spk)
            return torch.stack(out)

        impls["snnTorch Leaky (tutorial loop)"] = tutorial
        impls["snnTorch Leaky (unbind loop)"] = unbound
    norse = peer("norse.torch")
    if norse is not None:
        cell = norse.LIFBoxCell()

        def norse_loop(x: torch.Tensor) -> torch.Tensor:
            state = None
            out = []
            for x_t in x.unbind(0):
                z, state = cell(10 * x_t, state)
                out.append(z)
            return torch.stack(out)

        impls["Norse LIFBoxCell loop"] = norse_loop
    if peer(*PEER_MODULES["spikingjelly"][:3]) is not None:
        from spikingjelly.activation_based import functional, neuron, surrogate

        node = neuron.LIFNode(
            tau=10.0,
            decay_input=False,
            v_reset=None,
            detach_reset=True,
            surrogate_function=surrogate.ATan(),
            step_mode="m",
        )

        def sj(x: torch.Tensor) -> torch.Tensor:
            functional.reset_net(node)
            out: torch.Tensor = node(x)
            return out

        impls["SpikingJelly LIFNode (m)"] = sj
    return impls


def fwd_bwd(run: Any, x: torch.Tensor, w: torch.Tensor) -> Any:
    def go() -> None:
        x.grad = None
        (run(x) * w).sum().backward()

    return go


def fwd(run: Any, x: torch.Tensor) -> Any:
    def go() -> None:
        with torch.no_grad():
            run(x)

    return go


def check(impls: dict[str, Any], x: torch.Tensor, w: torch.Tensor) -> dict[str, float]:
    """snnfunc's paths must equal the plain loop; returns every implementation's spike rate."""
    rates, grads = {}, {}
    for name, run in impls.items():
        x.grad = None
        spikes = run(x)
        (spikes * w).sum().backward()
        rates[name] = spikes.float().mean().item()
        grads[name] = (spikes.detach(), x.grad.clone())
    ref_s, ref_g = grads["plain eager loop"]
    for name in impls:
        if name.startswith("snnfunc"):
            s, g = grads[name]
            assert torch.equal(s, ref_s), f"{name}: spikes differ from the plain loop"
            torch.testing.assert_close(g, ref_g, rtol=1e-4, atol=1e-5, msg=f"{name}: gradient")
    x.grad = None
    return rates


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="", help="one size TxBxN (default: the three W1 sizes)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.size:
        sizes = [tuple(int(s) for s in args.size.split("x"))]  # type: ignore[misc]
    reps = 3 if args.quick else max(7, args.reps)
    argv = [a for a in sys.argv[1:] if not a.startswith("--memory-case")]
    if args.memory_case:
        name, size_text = args.memory_case.split("@")
        size = tuple(int(s) for s in size_text.split("x"))
        x, w = make_inputs(size)  # type: ignore[arg-type]
        report_memory(
            fwd_bwd(implementations(size)[name], x, w),  # type: ignore[arg-type]
            before=lambda: setattr(x, "grad", None),
        )
        return
    print(f"## W1 LIF layer ({machine()})\n")
    bandwidth = measure_bandwidth()
    print(f"Copy bandwidth measured now: {bandwidth / 1e9:.1f} GB/s (read + written)\n")
    implementations(sizes[0])  # import the peers
    print(f"Peers: {versions('snntorch', 'norse', 'spikingjelly') or 'none found'}\n")
    results: dict[str, Any] = {}
    for size in sizes:
        t, b, n = size
        x, w = make_inputs(size)
        impls = implementations(size)
        if args.only:
            keep = set(args.only.split(",")) | {"plain eager loop"}
            impls = {k: v for k, v in impls.items() if k in keep}
        rates = check(impls, x, w)
        f = time_interleaved({k: fwd(v, x) for k, v in impls.items()}, reps)
        fb = time_interleaved({k: fwd_bwd(v, x, w) for k, v in impls.items()}, reps)
        mem: dict[str, float | None] = {}
        for name in impls:
            mem[name] = (
                None
                if args.quick or args.no_memory
                else peak_memory(__file__, f"{name}@{t}x{b}x{n}", argv)
            )
        ours = fb["snnfunc lif_scan (kernel)"][0]
        elems = t * b * n
        roof_fb, roof_f = 24 * elems / bandwidth * 1e3, 8 * elems / bandwidth * 1e3
        rows = []
        for name in impls:
            rows.append(
                [
                    name,
                    fmt(f[name]),
                    fmt(fb[name]),
                    "-" if mem[name] is None else f"{mem[name]:.0f}",
                    f"{rates[name]:.3f}",
                    f"{fb[name][0] / ours:.1f}x",
                    f"{fb[name][0] / roof_fb:.1f}x",
                ]
            )
        print(f"### T x B x N = {t} x {b} x {n}\n")
        print(
            table(
                [
                    "implementation",
                    "fwd ms, median (min)",
                    "fwd+bwd ms, median (min)",
                    "peak MB (fwd+bwd)",
                    "spike rate",
                    "fwd+bwd time / snnfunc kernel",
                    "fwd+bwd / roofline",
                ],
                rows,
            )
        )
        print(
            f"\nRoofline ({bandwidth / 1e9:.0f} GB/s): fwd {roof_f:.3g} ms (8 B/element), "
            f"fwd+bwd {roof_fb:.3g} ms (24 B/element).\n"
        )
        results[f"{t}x{b}x{n}"] = {"fwd": f, "fwd_bwd": fb, "peak_mb": mem, "rates": rates}
    dump(None, results)


if __name__ == "__main__":
    main()
