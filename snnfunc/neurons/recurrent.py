r"""The recurrent variant of any neuron model, derived from it: ``recurrent(model)``.

.. math:: z_t, s_t = \text{core}_\text{base}\big(s_{t-1},\; x_t + W z_{t-1}\big)

The base model's core runs on its input plus the layer's own last spikes through a weight
matrix ``W`` ``[N, N]`` (``W[i, j]``: from neuron ``j`` to neuron ``i``, as
``torch.nn.functional.linear``). Nothing of the base model's math is written again:

* params: the base params, then ``weight`` (kind ``"matrix"``, ``[N, N]``, no default);
* state: the base state, then ``z`` (the last spikes, kind ``"spikes"``); a base model that
  already carries its last spikes as a ``z`` state field (adLIF) keeps that one field;
* name ``"r" + base name``; :func:`recurrent_base` gives the base model back (NIR maps
  ``"rlif"`` to the base ``"lif"`` node plus the recurrent weight).

The float association is the base model's on the summed input: for LIF,
``beta * v + (x + W z)``.

>>> import torch
>>> from snnfunc.neurons.lif import LIF
>>> rlif = recurrent(LIF)
>>> rlif.name, rlif.params_type._fields, rlif.state_type._fields
('rlif', ('beta', 'threshold', 'weight'), ('v', 'z'))
>>> recurrent_base(rlif) is LIF
True
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import torch.nn.functional as F
from torch import Tensor

from snnfunc.neurons._model import Field, NeuronModel
from snnfunc.reset import Firing

__all__ = ["recurrent", "recurrent_base", "RECURRENT_WEIGHT"]

RECURRENT_WEIGHT: Field = Field(-0.5, 0.5, kind="matrix")
"""The ``weight`` field every recurrent model adds (range: what property tests draw)."""

_BASES: weakref.WeakKeyDictionary[NeuronModel[Any, Any], NeuronModel[Any, Any]] = (
    weakref.WeakKeyDictionary()
)


def _named_tuple(name: str, fields: tuple[str, ...], module: str) -> type[tuple[Any, ...]]:
    make: Any = NamedTuple  # the functional form, with names known only here
    cls: type[tuple[Any, ...]] = make(name, [(f, Any) for f in fields])
    cls.__module__ = module
    return cls


def _shares_z(model: NeuronModel[Any, Any]) -> bool:
    spec = model.state.get("z")
    return spec is not None and spec.kind == "spikes"


def recurrent(
    model: NeuronModel[Any, Any],
    *,
    params_type: type[Any] | None = None,
    state_type: type[Any] | None = None,
) -> NeuronModel[Any, Any]:
    """The recurrent variant of ``model`` (module docstring).

    Args:
        model: a pointwise :class:`NeuronModel` (no ``"matrix"`` param of its own).
        params_type, state_type: NamedTuples to use (their fields must be the base's plus
            ``weight``, and plus ``z`` unless the base has it); default: made here, named
            ``R<Base>Params``/``R<Base>State``.
    Returns:
        A :class:`NeuronModel` named ``"r" + model.name``; :func:`recurrent_base` of it is
        ``model``.
    """
    if not isinstance(model, NeuronModel):
        raise TypeError(f"model must be a NeuronModel, got {type(model).__name__}")
    if any(spec.kind == "matrix" for spec in model.params.values()) or "weight" in model.params:
        raise ValueError(
            f"model {model.name!r} already has a matrix or 'weight' param; recurrent() takes a "
            "pointwise model"
        )
    shares_z = _shares_z(model)
    if "z" in model.state and not shares_z:
        raise ValueError(f"model {model.name!r} has a state field 'z' that is not its spikes")
    base_params_type: Any = model.params_type
    base_state_type: Any = model.state_type
    n_params, n_state = len(model.params), len(model.state)
    stem = base_params_type.__name__.removesuffix("Params")
    module = __name__
    if params_type is None:
        params_type = _named_tuple(f"R{stem}Params", (*model.params, "weight"), module)
    if state_type is None:
        fields = tuple(model.state) if shares_z else (*model.state, "z")
        state_type = _named_tuple(f"R{stem}State", fields, module)
    base_core = model.core
    new_params: Any = params_type
    new_state: Any = state_type

    def core(state: Any, x: Tensor, params: Any, firing: Firing) -> tuple[Tensor, Any]:
        base_state = base_state_type(*state[:n_state])
        base_params = base_params_type(*params[:n_params])
        z, new = base_core(base_state, x + F.linear(state.z, params.weight), base_params, firing)
        return z, new_state(*new) if shares_z else new_state(*new, z)

    core.__name__ = core.__qualname__ = f"r{model.name}_core"
    core.__module__ = module
    core.__doc__ = (
        rf".. math:: z, s' = \text{{{model.name}}}\big(s,\; x + W z_{{t-1}}\big)"
        f"\n\n(the {model.name} core on the input plus the recurrent current)"
    )
    constrain: Callable[[Any], Any] | None = None
    if model.constrain is not None:
        base_constrain = model.constrain

        def constrain(params: Any) -> Any:
            fixed = base_constrain(base_params_type(*params[:n_params]))
            return new_params(*fixed, params.weight)

    def membrane(state: Any) -> Tensor:
        return model.membrane(base_state_type(*state[:n_state]))

    state_fields = dict(model.state)
    if not shares_z:
        state_fields["z"] = Field(0.0, 1.0, kind="spikes")
    derived: NeuronModel[Any, Any] = NeuronModel(
        "r" + model.name,
        state_type,
        params_type,
        core,
        params={**model.params, "weight": RECURRENT_WEIGHT},
        state=state_fields,
        constrain=constrain,
        membrane=membrane,
        nir=None,
    )
    _BASES[derived] = model
    return derived


def recurrent_base(model: NeuronModel[Any, Any]) -> NeuronModel[Any, Any] | None:
    """The model :func:`recurrent` derived ``model`` from, or ``None`` if it was not."""
    return _BASES.get(model)
