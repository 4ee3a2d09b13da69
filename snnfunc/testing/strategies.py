"""Hypothesis strategies for snnfunc: shapes, tensors, currents, spike trains, states, params.

Every strategy draws plain Python floats and builds tensors from them (no numpy needed), in
``float64`` by default for tight tolerances. Model names are the keys of
:data:`snnfunc.cell.BUILTIN_CELLS` (``"if"``, ``"lif"``, ``"synaptic"``, ``"lapicque"``,
``"alpha"``, ``"alif"``, ``"rlif"``); each model's params are drawn inside its documented
ranges (decays in [0, 1], thresholds > 0, ``dt < RC`` for Lapicque, ``alpha > beta`` for Alpha).
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from snnfunc import neurons, surrogate
from snnfunc.cell import BUILTIN_CELLS

__all__ = [
    "MODEL_NAMES",
    "shapes",
    "tensors",
    "input_currents",
    "spike_trains",
    "models",
    "states",
    "params",
    "surrogates",
    "step_options",
]

MODEL_NAMES: tuple[str, ...] = tuple(BUILTIN_CELLS)
"""The built-in model names, in a fixed order."""

F64 = torch.float64


def shapes(
    *, min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Tensor shapes, e.g. ``(3,)``, ``(2, 4)``, ``(1, 2, 3)``."""
    return st.integers(min_dims, max_dims).flatmap(
        lambda d: st.tuples(*[st.integers(min_side, max_side)] * d)
    )


@st.composite
def tensors(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    *,
    min_value: float = -1.0,
    max_value: float = 1.0,
    dtype: torch.dtype = F64,
) -> Tensor:
    """A tensor of ``shape`` with finite values in ``[min_value, max_value]``."""
    n = 1
    for side in shape:
        n *= side
    elems = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    values = draw(st.lists(elems, min_size=n, max_size=n))
    return torch.tensor(values, dtype=dtype).reshape(shape)


def input_currents(
    shape: tuple[int, ...],
    *,
    min_value: float = -1.0,
    max_value: float = 2.0,
    dtype: torch.dtype = F64,
) -> st.SearchStrategy[Tensor]:
    """Input currents, e.g. ``shape=(T, B, N)``: below and above a unit threshold."""
    return tensors(shape, min_value=min_value, max_value=max_value, dtype=dtype)


@st.composite
def spike_trains(draw: st.DrawFn, shape: tuple[int, ...], *, dtype: torch.dtype = F64) -> Tensor:
    """Binary spike trains in {0, 1} of ``shape`` (e.g. ``(T, B, N)``), dtype ``dtype``."""
    n = 1
    for side in shape:
        n *= side
    bits = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return torch.tensor(bits, dtype=dtype).reshape(shape)


def models() -> st.SearchStrategy[str]:
    """A built-in model name."""
    return st.sampled_from(MODEL_NAMES)


def _check_model(model: str) -> None:
    if model not in BUILTIN_CELLS:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {model!r}")


def states(
    model: str, shape: tuple[int, ...], *, dtype: torch.dtype = F64
) -> st.SearchStrategy[Any]:
    """A state of ``model`` with fields of ``shape`` (``[..., N]``).

    Membranes and currents in [-1, 1.5]; ALIF's adaptation ``a >= 0``; RLIF's ``z`` in {0, 1}.
    """
    _check_model(model)
    return _states(model, shape, dtype)


@st.composite
def _states(draw: st.DrawFn, model: str, shape: tuple[int, ...], dtype: torch.dtype) -> Any:
    state_type = type(BUILTIN_CELLS[model].init(1, dtype=dtype))
    fields = []
    for name in state_type._fields:
        if model == "rlif" and name == "z":
            fields.append(draw(spike_trains(shape, dtype=dtype)))
        elif model == "alif" and name == "a":
            fields.append(draw(tensors(shape, min_value=0.0, max_value=1.0, dtype=dtype)))
        else:
            fields.append(draw(tensors(shape, min_value=-1.0, max_value=1.5, dtype=dtype)))
    return state_type(*fields)


def params(
    model: str, n: int, *, per_neuron: bool | None = None, dtype: torch.dtype = F64
) -> st.SearchStrategy[Any]:
    """Params of ``model`` for ``n`` neurons: 0-d tensors or, with ``per_neuron``, ``[n]``.

    ``per_neuron=None`` draws the choice. Ranges: decays in [0, 1] (Alpha: ``beta`` in
    [0, 0.9] and ``alpha`` in ``(beta, 1]``), thresholds in [0.25, 2], ALIF ``rho`` in [0, 1]
    and ``jump`` in [0, 1], Lapicque ``R, C`` in [0.5, 5] and ``dt = f R C`` with f in
    [0.05, 0.95], RLIF weights ``[n, n]`` in [-0.5, 0.5].
    """
    _check_model(model)
    return _params(model, n, per_neuron, dtype)


@st.composite
def _params(
    draw: st.DrawFn, model: str, n: int, per_neuron: bool | None, dtype: torch.dtype
) -> Any:
    vector = draw(st.booleans()) if per_neuron is None else per_neuron
    shape = (n,) if vector else ()

    def field(lo: float, hi: float) -> Tensor:
        return draw(tensors(shape, min_value=lo, max_value=hi, dtype=dtype))

    if model == "if":
        return neurons.IFParams(field(0.25, 2.0))
    if model == "lif":
        return neurons.LIFParams(field(0.0, 1.0), field(0.25, 2.0))
    if model == "synaptic":
        return neurons.SynapticParams(field(0.0, 1.0), field(0.0, 1.0), field(0.25, 2.0))
    if model == "lapicque":
        r, c = field(0.5, 5.0), field(0.5, 5.0)
        return neurons.LapicqueParams(r, c, field(0.05, 0.95) * r * c, field(0.25, 2.0))
    if model == "alpha":
        beta = field(0.0, 0.9)
        alpha = beta + field(0.05, 1.0) * (1 - beta)
        return neurons.AlphaParams(alpha, beta, field(0.25, 2.0))
    if model == "alif":
        return neurons.ALIFParams(field(0.0, 1.0), field(0.25, 2.0), field(0.0, 1.0), field(0, 1))
    weight = draw(tensors((n, n), min_value=-0.5, max_value=0.5, dtype=dtype))
    return neurons.RLIFParams(field(0.0, 1.0), field(0.25, 2.0), weight)


_SURROGATES: dict[str, tuple[Any, float, float]] = {
    "atan": (surrogate.atan, 0.5, 10.0),
    "fast_sigmoid": (surrogate.fast_sigmoid, 1.0, 50.0),
    "superspike": (surrogate.superspike, 1.0, 100.0),
    "sigmoid": (surrogate.sigmoid, 0.5, 20.0),
    "triangle": (surrogate.triangle, 0.1, 2.0),
    "boxcar": (surrogate.boxcar, 0.1, 2.0),
}


@st.composite
def surrogates(draw: st.DrawFn) -> surrogate.Surrogate:
    """A built-in surrogate spike function with a drawn hyperparameter (or none)."""
    name = draw(st.sampled_from([*_SURROGATES, "straight_through", "heaviside"]))
    if name == "straight_through":
        return surrogate.straight_through()
    if name == "heaviside":
        return surrogate.heaviside()
    factory, lo, hi = _SURROGATES[name]
    result: surrogate.Surrogate = factory(draw(st.floats(lo, hi)))
    return result


def step_options() -> st.SearchStrategy[dict[str, Any]]:
    """Reset options of a neuron step: ``reset``, ``reset_delay``, ``detach_reset``."""
    return st.fixed_dictionaries(
        {
            "reset": st.sampled_from(["subtract", "zero", "none"]),
            "reset_delay": st.booleans(),
            "detach_reset": st.booleans(),
        }
    )
