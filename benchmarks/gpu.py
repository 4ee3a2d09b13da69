"""GPU benchmark (W5): the Triton kernels of ``fuse`` on CUDA against the peers, one table.

    python benchmarks/gpu.py                 # on a CUDA machine: ~5 minutes, one table
    python benchmarks/gpu.py --quick         # tiny shapes; without a GPU, on CPU tensors under
                                             # TRITON_INTERPRET=1 (a smoke test of this script)

What it does, in order (each step is bounded; a peer that is missing or fails is reported, not
fatal):

1. **Bandwidth**: a device-to-device copy of 2 GiB, bytes read + written per second: the
   roofline's denominator, measured in this run.
2. **Correctness** on the device: ``fuse(step, backend="triton")`` against ``scan`` for lif,
   synaptic and adlif in float32 and bfloat16 (spikes and states: mismatching elements;
   gradients: max relative difference).
3. **W5**: Linear(16384 -> 16384) + LIF at T=500, B=16, float32 and bfloat16, forward+backward,
   the Linear hoisted out of the time loop (one GEMM over all T*B rows). snnfunc (Triton kernel
   layer), snnfunc's ``scan`` (a plain per-step loop), SpikingJelly ``LIFNode`` (each of its CUDA
   implementations, one subprocess each: it chooses at import from ``SJ_LIF_CUDA_IMPLEMENTATION``),
   snnTorch ``Leaky`` and Norse ``LIFBoxCell`` loops. Also the LIF layer alone and its % of the
   measured bandwidth (forward: 2 tensors of ``[T, B, N]`` moved; backward: 6, as the kernel
   reads ``x`` twice and its state scratch twice).
4. **SpikingJelly's own shape**: LIF forward+backward, T=32, 64 x 65,536, float16.
5. **W2** (snnTorch tutorial 3's training step) on the GPU: snnfunc layerwise vs its ``scan``.

Timing: CUDA events, median of ``--reps`` after two warm-ups (which include the first call's
trace, build and block tuning). Peak memory: ``torch.cuda.max_memory_allocated`` per case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

if not torch.cuda.is_available():  # the interpreter runs the same kernels on CPU tensors
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch.nn.functional as F  # noqa: E402

import snnfunc as sf  # noqa: E402
from snnfunc.fused import _op  # noqa: E402
from snnfunc.neurons import MODELS  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SYNC = torch.cuda.synchronize if DEVICE == "cuda" else (lambda: None)
BETA, THRESHOLD = 0.9, 1.0


def timed(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    """``(median ms, peak MB above the start)`` of ``fn`` after two warm-ups."""
    for _ in range(2):
        fn()
    SYNC()
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    times = []
    for _ in range(reps):
        if DEVICE == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if DEVICE == "cuda" else float("nan")
    return statistics.median(times), peak


def bandwidth(gib: float) -> float:
    """Bytes read + written per second by a large copy on the device."""
    a = torch.ones(int(gib * 2**28), device=DEVICE)
    b = torch.empty_like(a)
    ms, _ = timed(lambda: b.copy_(a), 5)
    return 2 * a.numel() * 4 / (ms / 1e3)


# -- 2. correctness -----------------------------------------------------------------------------
def correctness(quick: bool) -> list[str]:
    rows = []
    shape = (3, 37) if quick else (16, 4096)
    for name in ("lif", "synaptic", "adlif"):
        model = MODELS[name]
        dtypes = (torch.float32,) if quick else (torch.float32, torch.bfloat16)
        for dtype in dtypes:
            g = torch.Generator().manual_seed(0)
            xs = (torch.rand((20, *shape), generator=g) * 1.6 - 0.3).to(DEVICE, dtype)
            xs.requires_grad_(True)
            state = model.init(shape, dtype=dtype, device=DEVICE)
            params = model.params_type(*(f.default for f in model.params.values()))
            ref = sf.scan(partial(model.step, params=params), state, xs)
            got = sf.fuse(model.step, backend="triton")(state, xs, params)
            ran = _op.LAST_RUN.get("forward")
            flips = int((got[0] != ref[0]).sum())
            states = sum(int((a != b).sum()) for a, b in zip(got[1], ref[1], strict=True))
            (g_ref,) = torch.autograd.grad(ref[0].sum() + ref[1][0].sum(), xs)
            (g_got,) = torch.autograd.grad(got[0].sum() + got[1][0].sum(), xs)
            rel = float(((g_got - g_ref).abs().max() / g_ref.abs().max().clamp_min(1e-30)).item())
            rows.append(f"| {name} | {str(dtype)[6:]} | {ran} | {flips} | {states} | {rel:.1e} |")
    return rows


# -- 3./4. LIF layers ---------------------------------------------------------------------------
def lif_impls(dtype: torch.dtype, peers: bool) -> dict[str, Callable[[torch.Tensor], Any]]:
    """LIF over ``cur [T, B, N]``, snnTorch's semantics (``h = beta v + x``, subtract reset)."""
    params = sf.LIFParams(BETA, THRESHOLD)
    state_of = lambda cur: sf.lif_init(cur.shape[1:], dtype=cur.dtype, device=cur.device)  # noqa: E731
    impls: dict[str, Callable[[torch.Tensor], Any]] = {
        "snnfunc (Triton kernel)": lambda cur: sf.lif_scan(
            state_of(cur), cur, params, backend="triton"
        )[0],
        "snnfunc scan (per-step loop)": lambda cur: sf.scan(
            partial(sf.lif_step, params=params), state_of(cur), cur
        )[0],
    }
    if not peers:
        return impls
    try:
        import snntorch

        def snntorch_loop(cur: torch.Tensor) -> torch.Tensor:
            lif = snntorch.Leaky(beta=BETA, threshold=THRESHOLD).to(cur.device)
            mem = torch.zeros_like(cur[0])
            out = []
            for x in cur.unbind(0):
                spk, mem = lif(x, mem)
                out.append(spk)
            return torch.stack(out)

        impls["snnTorch Leaky (loop)"] = snntorch_loop
    except Exception as err:  # noqa: BLE001 - a peer that fails is reported, not fatal
        print(f"<!-- snnTorch unavailable: {err} -->", file=sys.stderr)
    try:
        from norse.torch import LIFBoxCell, LIFBoxParameters

        def norse_loop(cur: torch.Tensor) -> torch.Tensor:
            cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(100.0))).to(cur.device)
            state, out = None, []
            for x in cur.unbind(0):
                z, state = cell(x, state)
                out.append(z)
            return torch.stack(out)

        impls["Norse LIFBoxCell (loop)"] = norse_loop
    except Exception as err:  # noqa: BLE001
        print(f"<!-- Norse unavailable: {err} -->", file=sys.stderr)
    return impls


def spikingjelly_times(shape: tuple[int, int, int], dtype: str, linear: int, reps: int) -> dict:
    """SpikingJelly LIFNode, each CUDA implementation in its own process: ``{name: ms}``."""
    out = {}
    for impl in ("triton", "cuda", "torch"):
        env = dict(os.environ, SJ_LIF_CUDA_IMPLEMENTATION=impl)
        argv = [sys.executable, __file__, "--sj-case", json.dumps([*shape, dtype, linear, reps])]
        try:
            run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
            result = json.loads(run.stdout.strip().splitlines()[-1])
            out[f"SpikingJelly LIFNode ({impl})"] = result
        except Exception as err:  # noqa: BLE001 - reported in the table as missing
            tail = (run.stderr if "run" in locals() else str(err))[-300:].replace("\n", " ")
            print(f"<!-- SpikingJelly {impl}: {tail} -->", file=sys.stderr)
    return out


def _sj_case(spec: str) -> None:
    """(In a subprocess) time SpikingJelly's LIFNode; print ``[ms, peak MB]`` as JSON."""
    t, b, n, dtype_name, linear, reps = json.loads(spec)
    from spikingjelly.activation_based import neuron, surrogate

    dtype = getattr(torch, dtype_name)
    node = neuron.LIFNode(
        tau=1 / (1 - BETA),
        decay_input=False,
        v_reset=None,
        step_mode="m",
        surrogate_function=surrogate.ATan(),
    )
    run = _layer_case(lambda cur: node(cur), (t, b, n), dtype, linear, after=node.reset)
    print(json.dumps(timed(run, reps)))


def _layer_case(
    layer: Callable[[torch.Tensor], Any],
    shape: tuple[int, int, int],
    dtype: torch.dtype,
    linear: int,
    after: Callable[[], Any] | None = None,
) -> Callable[[], None]:
    """forward+backward of (Linear(linear -> N), hoisted) + ``layer`` on ``[T, B, N]``; without
    ``linear``, the layer alone on a current that requires grad."""
    t, b, n = shape
    g = torch.Generator().manual_seed(0)
    if linear:
        x = (torch.rand((t, b, linear), generator=g) < 0.2).to(DEVICE, dtype)
        w = (torch.randn((n, linear), generator=g) * (3.0 / linear**0.5)).to(DEVICE, dtype)
        w.requires_grad_(True)
    else:
        x = (torch.rand((t, b, n), generator=g) * 1.5).to(DEVICE, dtype).requires_grad_(True)

    def run() -> None:
        cur = F.linear(x.reshape(t * b, linear), w).reshape(t, b, n) if linear else x
        spikes = layer(cur)
        spikes.float().sum().backward()
        if after is not None:
            after()
        if linear:
            w.grad = None
        else:
            x.grad = None

    return run


def layer_table(
    title: str,
    shape: tuple[int, int, int],
    dtype: torch.dtype,
    linear: int,
    reps: int,
    peers: bool,
    bw: float,
) -> list[str]:
    rows = [
        f"\n### {title}: T, B, N = {shape}, {str(dtype)[6:]}"
        + (f", Linear({linear} -> {shape[2]}) hoisted" if linear else "")
        + ", fwd+bwd\n",
        "| implementation | median ms | time / snnfunc's | peak MB |",
        "|---|---|---|---|",
    ]
    results = {}
    for name, layer in lif_impls(dtype, peers).items():
        if "scan" in name and shape[0] * shape[1] * shape[2] > 2e8:
            continue  # the per-step loop saves every step: skip it where it would take minutes
        try:
            results[name] = timed(_layer_case(layer, shape, dtype, linear), reps)
        except Exception as err:  # noqa: BLE001
            print(f"<!-- {name}: {type(err).__name__}: {err} -->", file=sys.stderr)
    if peers and DEVICE == "cuda":
        results.update(spikingjelly_times(shape, str(dtype)[6:], linear, reps))
    ours = results.get("snnfunc (Triton kernel)", (float("nan"), 0))[0]
    for name, (ms, mb) in results.items():
        rows.append(f"| {name} | {ms:.2f} | {ms / ours:.2f}x | {mb:.0f} |")
    if not linear:  # the kernel alone: its share of the bandwidth
        t, b, n = shape
        size = torch.empty((), dtype=dtype).element_size()
        params = sf.LIFParams(BETA, THRESHOLD)
        x = torch.rand(shape, device=DEVICE).to(dtype).requires_grad_(True)
        state = sf.lif_init((b, n), dtype=dtype, device=DEVICE)
        fwd, _ = timed(lambda: sf.lif_scan(state, x, params, backend="triton"), reps)
        y = sf.lif_scan(state, x, params, backend="triton")[0]
        gy = torch.ones(shape, device=DEVICE, dtype=dtype)
        bwd, _ = timed(lambda: torch.autograd.grad(y, x, gy, retain_graph=True), reps)
        elements = t * b * n * size
        for what, ms, moved in (("forward", fwd, 2), ("backward", bwd, 6)):
            # forward: x read, spikes written; backward: x read twice, the state scratch
            # written and read, gy read, gx written
            rate = moved * elements / (ms / 1e3)
            rows.append(
                f"\nLIF kernel alone, {what}: {ms:.3f} ms, {moved} x [T, B, N] moved = "
                f"{rate / 1e9:.0f} GB/s = {100 * rate / bw:.0f}% of the measured bandwidth"
            )
    return rows


# -- 5. W2 ------------------------------------------------------------------------------------
def w2(quick: bool, reps: int) -> list[str]:
    t, b, n_in, n_hid, n_out = (5, 8, 64, 32, 10) if quick else (25, 128, 784, 1000, 10)
    g = torch.Generator().manual_seed(0)
    data = torch.rand(b, n_in, generator=g).to(DEVICE)
    targets = torch.randint(0, n_out, (b,), generator=g).to(DEVICE)
    w1 = (torch.randn(n_hid, n_in, generator=g) / n_in**0.5).to(DEVICE).requires_grad_(True)
    w2_ = (torch.randn(n_out, n_hid, generator=g) / n_hid**0.5).to(DEVICE).requires_grad_(True)
    params = sf.SynapticParams(0.7, 0.8, 1.0)
    opts = {"reset": "subtract", "reset_delay": True}

    def step(fused: bool) -> None:
        cur1 = F.linear(data, w1)
        state = sf.synaptic_init((b, n_hid), device=DEVICE)
        if fused:
            spk, _ = sf.synaptic_scan(state, cur1, params, num_steps=t, backend="triton", **opts)
        else:
            run = partial(sf.synaptic_step, params=params, **opts)
            spk, _ = sf.scan(run, state, cur1, num_steps=t)
        cur2 = F.linear(spk, w2_)

        def out_step(s: Any, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
            new = sf.synaptic_step(s, x, params, **opts)[1]
            return new.v, new

        mem = sf.scan(out_step, sf.synaptic_init((b, n_out), device=DEVICE), cur2)[0]
        loss = F.cross_entropy(mem.flatten(0, 1), targets.repeat(t))
        loss.backward()
        w1.grad = w2_.grad = None

    rows = [
        f"\n### W2 (tutorial 3 training step, {n_in}-{n_hid}-{n_out}, T={t}, B={b}), fwd+bwd\n",
        "| implementation | median ms | peak MB |",
        "|---|---|---|",
    ]
    for name, fused in (("snnfunc layerwise (Triton)", True), ("snnfunc scan", False)):
        ms, mb = timed(partial(step, fused), reps)
        rows.append(f"| {name} | {ms:.2f} | {mb:.0f} |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes (a smoke test)")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--sj-case", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.sj_case:
        _sj_case(args.sj_case)
        return
    quick, reps, peers = args.quick, (1 if args.quick else args.reps), not args.no_peers
    start = time.perf_counter()
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "CPU (Triton interpreter)"
    print(f"# snnfunc GPU benchmark: {name}, torch {torch.__version__}")
    bw = bandwidth(0.01 if quick else 2.0)
    print(f"\nmeasured copy bandwidth: {bw / 1e9:.0f} GB/s (read + written)")
    print("\n### correctness: fuse(backend='triton') vs scan on the device\n")
    print("| model | dtype | ran | spike mismatches | state mismatches | grad max rel diff |")
    print("|---|---|---|---|---|---|")
    print("\n".join(correctness(quick)))
    sj_shape = (4, 2, 64) if quick else (32, 64, 65536)
    w5 = (3, 2, 48) if quick else (500, 16, 16384)
    sections: list[tuple[str, tuple[int, int, int], torch.dtype, int]] = [
        ("SpikingJelly's shape, LIF", sj_shape, torch.float16, 0),
        ("W5 LIF layer alone", w5, torch.float32, 0),
        ("W5", w5, torch.float32, w5[2]),
    ]
    if not quick:
        sections.append(("W5", w5, torch.bfloat16, w5[2]))
    for title, shape, dtype, linear in sections:
        print("\n".join(layer_table(title, shape, dtype, linear, reps, peers, bw)))
    print("\n".join(w2(quick, reps)))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
