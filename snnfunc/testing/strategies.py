"""Hypothesis strategies for snnfunc: shapes, tensors, currents, spike trains, states, params.

Every strategy draws plain Python floats and builds tensors from them (no numpy needed), in
``float64`` by default for tight tolerances. Model names are the keys of
:data:`snnfunc.neurons.MODELS`; each model's params and state are drawn inside the ranges its
registration declares (:class:`snnfunc.neurons.Field`; decays in [0, 1], thresholds > 0, then
the model's ``constrain``: ``dt < RC`` for Lapicque, ``alpha > beta`` for Alpha). Surrogates are
drawn from :data:`snnfunc.surrogate.SURROGATES`, each hyperparameter in its registered range.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from snnfunc import surrogate
from snnfunc.neurons import MODELS, Field
from snnfunc.reset import RESET_MODES

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

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
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
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {model!r}")


def states(
    model: str, shape: tuple[int, ...], *, dtype: torch.dtype = F64
) -> st.SearchStrategy[Any]:
    """A state of ``model`` with fields of ``shape`` (``[..., N]``), each in its registered range
    (membranes and currents in [-1, 1.5]; ALIF's adaptation ``a >= 0``; spike fields in {0, 1})."""
    _check_model(model)
    return _states(model, shape, dtype)


def _field(
    draw: st.DrawFn, spec: Field, shape: tuple[int, ...], n: int, dtype: torch.dtype
) -> Tensor:
    if spec.kind == "spikes":
        return draw(spike_trains(shape, dtype=dtype))
    size = (n, n) if spec.kind == "matrix" else shape
    return draw(tensors(size, min_value=spec.low, max_value=spec.high, dtype=dtype))


@st.composite
def _states(draw: st.DrawFn, model: str, shape: tuple[int, ...], dtype: torch.dtype) -> Any:
    spec = MODELS[model]
    n = shape[-1] if shape else 1
    return spec.state_type(*(_field(draw, f, shape, n, dtype) for f in spec.state.values()))


def params(
    model: str, n: int, *, per_neuron: bool | None = None, dtype: torch.dtype = F64
) -> st.SearchStrategy[Any]:
    """Params of ``model`` for ``n`` neurons: 0-d tensors or, with ``per_neuron``, ``[n]``.

    ``per_neuron=None`` draws the choice. Each field is drawn in its registered range
    (:class:`snnfunc.neurons.Field`), then the model's ``constrain`` maps it to a valid point;
    matrix fields (RLIF's weights) are ``[n, n]``.
    """
    _check_model(model)
    return _params(model, n, per_neuron, dtype)


@st.composite
def _params(
    draw: st.DrawFn, model: str, n: int, per_neuron: bool | None, dtype: torch.dtype
) -> Any:
    spec = MODELS[model]
    shape = (n,) if (draw(st.booleans()) if per_neuron is None else per_neuron) else ()
    drawn = spec.params_type(*(_field(draw, f, shape, n, dtype) for f in spec.params.values()))
    return spec.constrain(drawn) if spec.constrain is not None else drawn


@st.composite
def surrogates(draw: st.DrawFn) -> surrogate.Surrogate:
    """A built-in surrogate (:data:`snnfunc.surrogate.SURROGATES`) with a drawn hyperparameter
    in its registered range (or none)."""
    spec = surrogate.SURROGATES[draw(st.sampled_from(tuple(surrogate.SURROGATES)))]
    if spec.hyper_range is None:
        return spec.factory()
    return spec.factory(draw(st.floats(*spec.hyper_range)))


def step_options() -> st.SearchStrategy[dict[str, Any]]:
    """Reset options of a neuron step: ``reset``, ``reset_delay``, ``detach_reset``."""
    return st.fixed_dictionaries(
        {
            "reset": st.sampled_from(RESET_MODES),
            "reset_delay": st.booleans(),
            "detach_reset": st.booleans(),
        }
    )
