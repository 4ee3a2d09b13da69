"""W2: snnTorch tutorial 3's training step (784-1000-10, Synaptic neurons, T=25, B=128).

One step = forward + loss + zero_grad + backward + Adam step; loss = sum over t of
NLL(log_softmax(output membrane)); alpha 0.7, beta 0.8, static input (the image each step).

    python benchmarks/w2_training_step.py            # full size, 2 threads
    python benchmarks/w2_training_step.py --quick    # tiny smoke run

snnfunc paths (snnTorch's semantics: ``reset="subtract", reset_delay=True``, atan):
* fused: the first layer's current once (static input), ``synaptic_scan(..., num_steps=T)``
  for the hidden layer, the second layer on all T spike maps in one GEMM, the 10-neuron output
  layer by ``scan`` (the loss needs its membrane at every step);
* unfused: ``scan`` of the whole network step (the first layer still computed once).
Both start from the same weights; their losses are checked equal before timing.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
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

ALPHA, BETA = 0.7, 0.8
OPTS = {"reset": "subtract", "reset_delay": True}


def make(quick: bool) -> dict[str, Any]:
    t, b, n_in, n_hid, n_out = (5, 8, 64, 32, 10) if quick else (25, 128, 784, 1000, 10)
    g = torch.Generator().manual_seed(0)
    data = torch.rand(b, n_in, generator=g)
    targets = torch.randint(0, n_out, (b,), generator=g)
    fc1 = torch.nn.Linear(n_in, n_hid)
    fc2 = torch.nn.Linear(n_hid, n_out)
    return {"T": t, "data": data, "targets": targets, "fc1": fc1, "fc2": fc2, "sizes": (b, n_hid)}


def loss_of_membranes(mem: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mem: [T, B, C]`` -> sum over t of NLL(log_softmax(mem[t]))."""
    t = mem.shape[0]
    logp = F.log_softmax(mem, dim=-1)
    return F.nll_loss(logp.flatten(0, 1), targets.repeat(t), reduction="sum") / mem.shape[1]


def snnfunc_forward(w: dict[str, Any], fused: bool) -> torch.Tensor:
    fc1, fc2, t = w["fc1"], w["fc2"], w["T"]
    b, n_hid = w["sizes"]
    p = sf.SynapticParams(ALPHA, BETA, 1.0)
    cur1 = fc1(w["data"])  # static input: the first layer once
    out_step = partial(sf.synaptic_step, params=p, **OPTS)
    if fused:
        spk1, _ = sf.synaptic_scan(sf.synaptic_init((b, n_hid)), cur1, p, num_steps=t, **OPTS)
        cur2 = fc2(spk1)  # [T, B, 10], one GEMM

        def out_layer(state: Any, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
            _, state = out_step(state, x)
            return state.v, state

        mem2, _ = sf.scan(out_layer, sf.synaptic_init((b, 10)), cur2)
        return mem2

    def net(states: Any, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
        s1, s2 = states
        z1, s1 = sf.synaptic_step(s1, x, p, **OPTS)
        _, s2 = out_step(s2, fc2(z1))
        return s2.v, (s1, s2)

    mem2, _ = sf.scan(
        net, (sf.synaptic_init((b, n_hid)), sf.synaptic_init((b, 10))), cur1, num_steps=t
    )
    return mem2


def trainers(quick: bool) -> dict[str, Any]:
    """name -> (step(), loss_now()) pairs sharing one initial model each."""
    base = make(quick)
    out: dict[str, Any] = {}

    def clone() -> dict[str, Any]:
        w = dict(base)
        w["fc1"] = torch.nn.Linear(*base["fc1"].weight.shape[::-1])
        w["fc2"] = torch.nn.Linear(*base["fc2"].weight.shape[::-1])
        w["fc1"].load_state_dict(base["fc1"].state_dict())
        w["fc2"].load_state_dict(base["fc2"].state_dict())
        return w

    for name, fused in (("snnfunc fused (synaptic_scan)", True), ("snnfunc unfused (scan)", False)):
        w = clone()
        opt = torch.optim.Adam([*w["fc1"].parameters(), *w["fc2"].parameters()], lr=2e-4)

        def step(w: dict[str, Any] = w, opt: Any = opt, fused: bool = fused) -> float:
            loss = loss_of_membranes(snnfunc_forward(w, fused), w["targets"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()

        out[name] = step
    snntorch = peer("snntorch")
    if snntorch is not None:
        w = clone()
        lif1 = snntorch.Synaptic(alpha=ALPHA, beta=BETA)
        lif2 = snntorch.Synaptic(alpha=ALPHA, beta=BETA)
        opt = torch.optim.Adam([*w["fc1"].parameters(), *w["fc2"].parameters()], lr=2e-4)

        def snn_step(w: dict[str, Any] = w, opt: Any = opt) -> float:  # the tutorial's loop
            syn1, mem1 = lif1.init_synaptic()
            syn2, mem2 = lif2.init_synaptic()
            mems = []
            for _ in range(w["T"]):
                cur1 = w["fc1"](w["data"])
                spk1, syn1, mem1 = lif1(cur1, syn1, mem1)
                cur2 = w["fc2"](spk1)
                spk2, syn2, mem2 = lif2(cur2, syn2, mem2)
                mems.append(mem2)
            loss = loss_of_membranes(torch.stack(mems), w["targets"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()

        out["snnTorch Synaptic (tutorial loop)"] = snn_step
    return out


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(args.threads)
    reps = 3 if args.quick else max(7, args.reps)
    argv = [a for a in sys.argv[1:] if not a.startswith("--memory-case")]
    if args.memory_case:
        report_memory(trainers(args.quick)[args.memory_case])
        return
    steps = trainers(args.quick)
    print(f"## W2 training step ({machine()})\n")
    print(f"Peers: {versions('snntorch') or 'none found'}\n")
    # Same initial weights, same data: the first losses must agree (and keep agreeing).
    first = {name: [fn() for _ in range(2)] for name, fn in steps.items()}
    fused, unfused = first["snnfunc fused (synaptic_scan)"], first["snnfunc unfused (scan)"]
    for a, b in zip(fused, unfused, strict=True):
        assert abs(a - b) <= 1e-5 * abs(b), f"fused loss {a} != unfused loss {b}"
    times = time_interleaved(steps, reps, warmup=1)
    ours = times["snnfunc fused (synaptic_scan)"][0]
    rows = []
    for name in steps:
        mem = None if args.quick or args.no_memory else peak_memory(__file__, name, argv)
        rows.append(
            [
                name,
                fmt(times[name]),
                "-" if mem is None else f"{mem:.0f}",
                f"{first[name][0]:.6f}, {first[name][1]:.6f}",
                f"{times[name][0] / ours:.1f}x",
            ]
        )
    print(
        table(
            [
                "implementation",
                "ms per step, median (min)",
                "peak MB",
                "first two losses",
                "time / snnfunc fused",
            ],
            rows,
        )
    )
    print(
        "\nLosses: snnfunc fused vs unfused agree to "
        f"{max(abs(a - b) for a, b in zip(fused, unfused, strict=True)):.2e} "
        "(the second layer's GEMM runs on [T*B, 1000] at once vs per step)."
    )


if __name__ == "__main__":
    main()
