"""Fused scans follow the NaN policy exactly as the reference scan does (README, "NaN policy").

NaN, +inf and -inf in the input, the initial state or the params: the fused backends (the
generated C kernel, the graph executor) must give the spikes and final state of
``scan(<model>_step)`` with NaN in the same places (finite values bit for bit), and gradients with
the same NaN (and inf) entries and close finite values. The loss may use the spikes, the final
state or both: a gradient no path of the reference's graph carries is absent, not zero
(``0 * S'(nan)`` is NaN, no term is not).

Models are elementwise, so one run holds many cases side by side: neuron ``k`` of
:func:`test_every_placement_matches_scan` carries its own non-finite value at its own place.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from _fused_models import FUSED_MODELS, Model
from hypothesis import given, settings
from torch import Tensor

import snnfunc as sf
from snnfunc import surrogate
from snnfunc.fused import _build
from snnfunc.neurons import MODELS as NEURON_MODELS

F64 = torch.float64
NAN, INF = math.nan, math.inf
BACKENDS = ["kernel", "torch"] if _build.disabled_reason() is None else ["torch"]


# The pointwise models' fused scans. The recurrent ones (rlif, rsynaptic, radlif: an [N, N]
# weight the draws here do not make) are checked against scan in tests/test_fused.py and
# tests/test_recurrent.py, with finite values only.
MODELS = [m for m in FUSED_MODELS if "weight" not in m.param_names]
# every built-in surrogate and a custom one (all traced into the generated kernels)
SURROGATES = [
    surrogate.atan(),
    surrogate.fast_sigmoid(),
    surrogate.superspike(),
    surrogate.sigmoid(),
    surrogate.triangle(0.7),
    surrogate.boxcar(),
    surrogate.straight_through(),
    surrogate.heaviside(),
    surrogate.custom(lambda x: torch.exp(-x.abs()), name="laplace"),
]
RESET_OPTIONS = [
    {"reset": reset, "reset_delay": delay, "detach_reset": detach}
    for reset in ("subtract", "zero", "none")
    for delay in (False, True)
    for detach in (False, True)
]


def _range(model: Model, name: str) -> tuple[float, float]:
    """The registered range of a param (snnfunc.neurons.MODELS)."""
    field = NEURON_MODELS[model.name].params[name]
    return field.low, field.high


def _losses(model: Model) -> list[str]:
    """The outputs a loss reads: ``z`` the spikes, digit ``k`` the final state's field ``k``."""
    fields = "".join(str(k) for k in range(len(model.state._fields)))
    two = ["1", fields, "z" + fields] if len(fields) > 1 else []
    return ["z0", "z", "0", *two]


def _backend(backend: str, spike_fn: Any) -> str:
    """Every surrogate runs in the kernel (its derivative is traced with the step)."""
    del spike_fn
    return backend


def _run(
    model: Model,
    backend: str,
    state: Any,
    xs: Tensor,
    params: Any,
    opts: dict[str, Any],
    losses: list[str],
    num_steps: int | None = None,
) -> tuple[Tensor, tuple[Tensor, ...], list[list[Tensor]]]:
    """Spikes, final state and, per loss, the gradients of every tensor leaf (zeros for None)."""
    if backend == "scan":
        step = partial(model.step, params=params, **opts)
        spikes, final = sf.scan(step, state, xs, num_steps=num_steps)
    else:
        spikes, final = model.fused(state, xs, params, num_steps=num_steps, backend=backend, **opts)
    leaves = [xs, *state, *(p for p in params if isinstance(p, Tensor) and p.requires_grad)]
    w = torch.linspace(-1.0, 2.0, spikes.numel(), dtype=spikes.dtype).reshape(spikes.shape)
    grads = []
    for k, loss_kind in enumerate(losses):
        terms = []
        if "z" in loss_kind:
            terms.append((spikes * w).sum())
        for k, field in enumerate(final):
            if str(k) in loss_kind:
                terms.append((field * (1.5 if k == 0 else -2.5 - k)).sum())
        loss = torch.stack(terms).sum()
        got = torch.autograd.grad(loss, leaves, allow_unused=True, retain_graph=k < len(losses) - 1)
        grads.append(
            [torch.zeros_like(t) if g is None else g for t, g in zip(leaves, got, strict=True)]
        )
    return spikes.detach(), tuple(f.detach() for f in final), grads


def _assert_matches(got: Any, ref: Any, what: str, losses: list[str]) -> None:
    exact = {"equal_nan": True, "rtol": 0, "atol": 0}
    tol = 1e-9 if got[0].dtype == F64 else 1e-4
    torch.testing.assert_close(got[0], ref[0], **exact, msg=lambda m: f"{what}: spikes\n{m}")
    for k, (a, b) in enumerate(zip(got[1], ref[1], strict=True)):
        torch.testing.assert_close(a, b, **exact, msg=lambda m, k=k: f"{what}: state {k}\n{m}")
    for gs, rs, loss in zip(got[2], ref[2], losses, strict=True):
        for k, (a, b) in enumerate(zip(gs, rs, strict=True)):
            torch.testing.assert_close(
                a,
                b,
                equal_nan=True,
                rtol=tol,
                atol=tol / 10,
                msg=lambda m, k=k, loss=loss: f"{what}: gradient of leaf {k} ({loss})\n{m}",
            )


def _placements(model: Model, steps: int) -> list[tuple[str, int, float]]:
    """(where, time step, value): one per neuron, then a clean neuron."""
    places = [("xs", t, v) for t in sorted({0, steps // 2, steps - 1}) for v in (NAN, INF, -INF)]
    for name in (*model.state._fields, *model.param_names):
        places += [(name, 0, v) for v in (NAN, INF, -INF)]
    return [*places, ("clean", 0, 0.0)]


def _placement_case(
    model: Model, steps: int, seed: int, dtype: torch.dtype = F64
) -> tuple[Tensor, Any, Any]:
    places = _placements(model, steps)
    n = len(places)
    g = torch.Generator().manual_seed(seed)
    xs = torch.rand(steps, 2, n, generator=g, dtype=dtype) * 1.6 - 0.2
    state = {f: torch.rand(2, n, generator=g, dtype=dtype) for f in model.state._fields}
    params = {}
    for name in model.param_names:
        lo, hi = _range(model, name)
        params[name] = lo + (hi - lo) * torch.rand(n, generator=g, dtype=dtype)
    for k, (where, t, value) in enumerate(places):
        if where == "xs":
            xs[t, 0, k] = value
        elif where in state:
            state[where][0, k] = value
        elif where in params:
            params[where][k] = value
    return (
        xs.requires_grad_(True),
        model.state(*(state[f].requires_grad_(True) for f in model.state._fields)),
        model.params(*(params[p].requires_grad_(True) for p in model.param_names)),
    )


def _check_placements(
    model: Model, backend: str, dtype: torch.dtype, spike_fn: Any, reset_opts: dict[str, Any]
) -> None:
    losses = _losses(model)
    xs, state, params = _placement_case(model, 4, seed=3, dtype=dtype)
    opts = {"spike_fn": spike_fn, **reset_opts}
    ref = _run(model, "scan", state, xs, params, opts, losses)
    got = _run(model, backend, state, xs, params, opts, losses)
    _assert_matches(got, ref, f"{backend} {reset_opts}", losses)


# float32 runs the kernel's other instantiation: once per reset option, on LIF (each distinct
# step and loss builds its own kernels, ~0.2 s each)
PLACEMENT_RUNS = [(m, b, F64) for m in MODELS for b in BACKENDS] + (
    [(m, "kernel", torch.float32) for m in MODELS if m.name == "lif"]
    if "kernel" in BACKENDS
    else []
)


@pytest.mark.parametrize(("model", "backend", "dtype"), PLACEMENT_RUNS, ids=str)
@pytest.mark.parametrize("reset_opts", RESET_OPTIONS, ids=str)
def test_every_placement_matches_scan(
    model: Model, backend: str, dtype: torch.dtype, reset_opts: dict[str, Any]
) -> None:
    """NaN / inf / -inf in xs (first, middle, last step), each state field and each param, for
    every model, reset mode, reset_delay, detach_reset and loss (spikes, final state fields,
    both). Each row holds about 40 neurons, so the kernel's vector loops run."""
    _check_placements(model, backend, dtype, surrogate.atan(), reset_opts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spike_fn", SURROGATES, ids=repr)
def test_every_surrogate_placement_matches_scan(backend: str, spike_fn: Any) -> None:
    """Every surrogate's derivative at NaN / inf (LIF, the reset through the spike)."""
    reset_opts = {"reset": "subtract", "reset_delay": False, "detach_reset": False}
    _check_placements(
        MODELS[[m.name for m in MODELS].index("lif")], backend, F64, spike_fn, reset_opts
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_heaviside_nan_gradient(backend: str) -> None:
    """The reported case: one NaN input, heaviside surrogate; x.grad is NaN where scan's is."""
    xs = torch.rand(5, 2, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    xs[2, 1, 1] = NAN
    counts = {}
    for b in ("scan", backend):
        x = xs.clone().requires_grad_(True)
        z, s = sf.lif_scan(
            sf.lif_init((2, 3), dtype=F64),
            x,
            sf.LIFParams(0.9, 1.0),
            spike_fn=surrogate.heaviside(),
            backend=b,  # type: ignore[arg-type]
        )
        (z.sum() + s.v.sum()).backward()
        assert x.grad is not None
        counts[b] = x.grad.isnan()
    assert int(counts["scan"].sum()) == 5
    assert torch.equal(counts[backend], counts["scan"])


# --- property test ---------------------------------------------------------------------------
values = st.sampled_from([NAN, INF, -INF])


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    model = draw(st.sampled_from(MODELS))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    steps = draw(st.integers(1, 5))
    static = draw(st.booleans())
    kinds = {
        p: draw(st.sampled_from(["float", "scalar", "neuron", "full"])) for p in model.param_names
    }
    targets = ["xs", *model.state._fields, *model.param_names]
    hits = draw(
        st.lists(st.tuples(st.sampled_from(targets), st.integers(0, 10**6), values), max_size=3)
    )
    loss = draw(st.sampled_from(_losses(model)))
    return {
        "model": model,
        "shape": shape,
        "steps": steps,
        "static": static,
        "kinds": kinds,
        "hits": hits,
        "loss": loss,
        "seed": draw(st.integers(0, 2**16)),
        "spike_fn": draw(st.sampled_from(SURROGATES)),
        "reset_opts": draw(st.sampled_from(RESET_OPTIONS)),
    }


def _drawn_case(c: dict[str, Any]) -> tuple[Tensor, Any, Any]:
    model, shape, steps = c["model"], c["shape"], c["steps"]
    g = torch.Generator().manual_seed(c["seed"])
    xs = torch.rand(shape if c["static"] else (steps, *shape), generator=g, dtype=F64) * 1.6 - 0.2
    state = {f: torch.rand(shape, generator=g, dtype=F64) for f in model.state._fields}
    params: dict[str, Any] = {}
    for name, kind in c["kinds"].items():
        lo, hi = _range(model, name)
        size = {"float": (), "scalar": (), "neuron": shape[-1:], "full": shape}[kind]
        params[name] = lo + (hi - lo) * torch.rand(size, generator=g, dtype=F64)
    for where, index, value in c["hits"]:
        t = xs if where == "xs" else state.get(where, params.get(where))
        t.view(-1)[index % t.numel()] = value
    return (
        xs.requires_grad_(True),
        model.state(*(state[f].requires_grad_(True) for f in model.state._fields)),
        model.params(
            *(
                params[p].item() if c["kinds"][p] == "float" else params[p].requires_grad_(True)
                for p in model.param_names
            )
        ),
    )


@settings(max_examples=60)  # each drawn structure builds kernels (~0.3 s each)
@given(c=cases())
def test_nonfinite_property(c: dict[str, Any]) -> None:
    """Drawn shapes, model, options, surrogate, loss, and NaN/inf/-inf at drawn places."""
    model = c["model"]
    xs, state, params = _drawn_case(c)
    opts = {"spike_fn": c["spike_fn"], **c["reset_opts"]}
    num_steps = c["steps"] if c["static"] else None
    ref = _run(model, "scan", state, xs, params, opts, [c["loss"]], num_steps)
    for backend in BACKENDS:
        b = _backend(backend, c["spike_fn"])
        got = _run(model, b, state, xs, params, opts, [c["loss"]], num_steps)
        _assert_matches(got, ref, f"{b} {model} {c['reset_opts']}", [c["loss"]])
