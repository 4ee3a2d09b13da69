"""A recurrent spiking layer over time: snnfunc's layerwise path against a plain eager loop.

The layer: ``Linear(C, N)`` input projection, then a recurrent neuron layer (rlif, rsynaptic,
radlif) with its ``[N, N]`` weight, over ``T`` steps of a ``[T, B, C]`` input; loss =
``(spikes * fixed random weights).sum()``, backward to every weight.

Implementations (the same numbers; spikes checked equal before timing):

* ``snnfunc fused layer (hidden)``: what :meth:`snnfunc.network.Network.forward` runs for a
  hidden recurrent layer: the input projection of all ``T`` in one matmul, then
  :func:`snnfunc.fused.recurrent.recurrent_scan`: one autograd node for the layer, per step one
  recurrent matmul and one call of the base step's fused kernel (forward and backward).
* ``snnfunc layerwise (output)``: :meth:`snnfunc.network.Network.forward` of this network, whose
  recurrent layer is the output: its membrane is recorded, so it runs ``scan`` of the step.
* ``snnfunc + fused step``: the per-step alternative it replaced: a Python loop whose pointwise
  update is the base model's fused scan (a whole ``fuse`` call with its own autograd node) on a
  ``[1, B, N]`` slice.
* ``eager nn loop``: what a user writes with modules: ``nn.Linear`` on each step, the recurrent
  weight as a second ``nn.Linear(N, N, bias=False)``, and the base model's checked step.

    python benchmarks/recurrent_layer.py           # T=100 B=64 N=256 and T=100 B=64 N=1024
    python benchmarks/recurrent_layer.py --quick   # tiny smoke run
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from _common import fmt, machine, parser, table, time_interleaved

from snnfunc.fused import FUSED, fuse
from snnfunc.network import Linear, Network, Neuron
from snnfunc.neurons import MODELS, recurrent_base
from snnfunc.reset import Firing

SIZES = [(100, 64, 100, 256), (100, 64, 100, 1024)]  # T, B, C, N
QUICK_SIZES = [(6, 3, 5, 8)]
NAMES = ("rlif", "rsynaptic", "radlif")


def _setup(name: str, size: tuple[int, int, int, int]) -> dict[str, Any]:
    t, b, c, n = size
    model = MODELS[name]
    values = model.default_params(threshold=0.5, weight=None)
    net = Network((c,), (Linear("fc", n), Neuron("rec", model, values, Firing())))
    g = torch.Generator().manual_seed(0)
    params = {k: v.requires_grad_() for k, v in net.init_params(generator=g).items()}
    x = (torch.rand(t, b, c, generator=g) < 0.2).float()
    readout = torch.randn(t, b, n, generator=g)
    return {"net": net, "params": params, "x": x, "readout": readout, "model": model}


def layerwise(s: dict[str, Any]) -> torch.Tensor:
    spikes: torch.Tensor = s["net"].forward(s["params"], s["x"]).spikes
    return spikes


def fused_layer(s: dict[str, Any]) -> torch.Tensor:
    """What ``Network.forward`` runs for a hidden recurrent layer: the projection of all ``T``
    in one matmul, then the model's fused scan (``FUSED[name]``, ``recurrent_scan``)."""
    model, p, x = s["model"], s["params"], s["x"]
    values = model.default_params(threshold=0.5, weight=p["rec.weight"])
    currents = F.linear(x, p["fc.weight"], p["fc.bias"])  # [T, B, N], one matmul
    spikes, _ = FUSED[model.name](model.init(currents.shape[1:]), currents, values)
    return spikes


def fused_step(s: dict[str, Any]) -> torch.Tensor:
    model, p, x = s["model"], s["params"], s["x"]
    base = recurrent_base(model)
    assert base is not None
    values = model.default_params(threshold=0.5, weight=None)
    base_values = base.params_type(*values[: len(base.params)])
    step = s.setdefault("fused", fuse(base.step))
    currents = F.linear(x, p["fc.weight"], p["fc.bias"])  # [T, B, N], one matmul
    state = base.init(currents.shape[1:])
    z = torch.zeros_like(currents[0])
    out = []
    for t in range(currents.shape[0]):
        y, state = step(
            state, (currents[t] + F.linear(z, p["rec.weight"])).unsqueeze(0), base_values
        )
        z = y[0]
        out.append(z)
    return torch.stack(out)


def eager_loop(s: dict[str, Any]) -> torch.Tensor:
    mods = s.setdefault("mods", _modules(s))
    fc, rec, model, values = mods
    state = model.init((s["x"].shape[1], rec.weight.shape[0]))
    z = torch.zeros(s["x"].shape[1], rec.weight.shape[0])
    out = []
    for x in s["x"]:
        z, state = model.step(state, fc(x) + rec(z), values)
        out.append(z)
    return torch.stack(out)


def _modules(s: dict[str, Any]) -> tuple[Any, ...]:
    p, model = s["params"], s["model"]
    base = recurrent_base(model)
    assert base is not None
    n, c = p["fc.weight"].shape
    fc, rec = torch.nn.Linear(c, n), torch.nn.Linear(n, n, bias=False)
    with torch.no_grad():
        fc.weight.copy_(p["fc.weight"])
        fc.bias.copy_(p["fc.bias"])
        rec.weight.copy_(p["rec.weight"])
    values = base.default_params(threshold=0.5)
    return fc, rec, base, values


def _backward(fn: Any, s: dict[str, Any]) -> None:
    (fn(s) * s["readout"]).sum().backward()


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    torch.set_num_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else SIZES
    reps = 3 if args.quick else args.reps
    impls = {"snnfunc fused layer (hidden)": fused_layer, "snnfunc layerwise (output)": layerwise}
    impls["snnfunc + fused step"] = fused_step
    impls["eager nn loop"] = eager_loop
    print(f"{machine()}; threads {args.threads}; median (min) ms over {reps} reps")
    rows = []
    for size in sizes:
        for name in NAMES:
            s = _setup(name, size)
            ref = eager_loop(s)
            for label, fn in impls.items():
                assert torch.equal(fn(s), ref), (label, name, size)
            fwd = time_interleaved(
                {k: partial(_no_grad, fn, s) for k, fn in impls.items()}, reps, warmup=1
            )
            both = time_interleaved(
                {k: partial(_backward, fn, s) for k, fn in impls.items()}, reps, warmup=1
            )
            base_fwd, base_both = fwd["eager nn loop"][0], both["eager nn loop"][0]
            for label in impls:
                rows.append(
                    [
                        "x".join(map(str, size)),
                        name,
                        label,
                        fmt(fwd[label]),
                        f"{base_fwd / fwd[label][0]:.2f}",
                        fmt(both[label]),
                        f"{base_both / both[label][0]:.2f}",
                    ]
                )
    headers = ["T x B x C x N", "model", "implementation", "forward ms", "speed-up"]
    headers += ["fwd+bwd ms", "speed-up"]
    print(table(headers, rows))


def _no_grad(fn: Any, s: dict[str, Any]) -> None:
    with torch.no_grad():
        fn(s)


if __name__ == "__main__":
    main()
