"""A neuron model as one value: its types, its math (an unchecked core) and what consumers need.

A model file writes its ``Params``/``State`` NamedTuples and one *core*, the model's math for one
step with the firing options already validated::

    core(state, x, params, firing) -> (spike, state)        # no checks: for time loops

and registers a :class:`NeuronModel`. Everything else is derived from that value: the checked
public ``<model>_step`` and ``<model>_init``, the unchecked step that :func:`snnfunc.scan` runs
after its first (checked) step, the field ranges :mod:`snnfunc.testing` draws from, the default
params of :mod:`snnfunc.nn` modules and of the application's models, and the contract tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any, Generic, Literal, Protocol, TypeVar

import torch
from torch import Tensor

from snnfunc._checks import (
    as_shape,
    check_broadcasts_to,
    check_dtype_device,
    check_floating,
    check_param_like,
)
from snnfunc.reset import FIRING_OPTIONS, Firing, Reset
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn

__all__ = ["Field", "NeuronModel", "Step", "Init"]

S = TypeVar("S", bound=tuple[Any, ...])
P = TypeVar("P", bound=tuple[Any, ...])
S_co = TypeVar("S_co", covariant=True)
P_contra = TypeVar("P_contra", contravariant=True)
S_inv = TypeVar("S_inv")


class Step(Protocol[S_inv, P_contra]):
    """A checked neuron step: ``step(state, x, params, **firing options) -> (spike, state)``."""

    def __call__(
        self,
        state: S_inv,
        x: Tensor,
        params: P_contra,
        *,
        spike_fn: SpikeFn = ...,
        reset: Reset = ...,
        reset_delay: bool = ...,
        detach_reset: bool = ...,
    ) -> tuple[Tensor, S_inv]: ...


class Init(Protocol[S_co]):
    """A resting-state constructor: ``init(shape, *, dtype, device) -> state``."""

    def __call__(
        self,
        shape: int | tuple[int, ...] | torch.Size,
        *,
        dtype: torch.dtype = ...,
        device: torch.device | str | None = ...,
    ) -> S_co: ...


@dataclass(frozen=True)
class Field:
    """One params or state field: its documented range and, for params, its default.

    Attributes:
        low, high: the range property tests draw from (:mod:`snnfunc.testing.strategies`),
            before the model's ``constrain`` (which may read a draw as a fraction).
        default: the value a layer gets when none is given (params only; ``None``: required).
        kind: ``"neuron"`` (broadcastable to ``[..., N]``), ``"matrix"`` (``[N, N]``, e.g.
            recurrent weights) or ``"spikes"`` (a state field in {0, 1}).
    """

    low: float
    high: float
    default: float | None = None
    kind: Literal["neuron", "matrix", "spikes"] = "neuron"


def _v(state: Any) -> Tensor:
    v: Tensor = state.v
    return v


@dataclass(frozen=True, eq=False)
class NeuronModel(Generic[S, P]):
    """A neuron model, written once; every consumer derives what it needs from this value.

    Attributes:
        name: the model's name (``"lif"``); its public functions are ``<name>_step``/``_init``.
        state_type, params_type: the NamedTuples (Tensor leaves, ``[..., N]``).
        core: ``core(state, x, params, firing) -> (spike, state)``, the math, unchecked.
        params: a :class:`Field` per params field, in order.
        state: a :class:`Field` per state field, in order (ranges for property tests).
        constrain: maps params drawn inside the ranges to a valid point, for parameters whose
            valid range depends on another (Lapicque's ``dt < RC``, Alpha's ``alpha > beta``).
        membrane: ``state -> [..., N]`` membrane (default ``state.v``), e.g. the output layer's
            membrane a network records for its loss.
        nir: the NIR node type the model exports to and imports from (``"LIF"``, ``"CubaLIF"``,
            ``"IF"``; :mod:`snnfunc.interop.nir` holds the conversions), ``None`` if none.
    Derived (not arguments): ``init``, ``step`` (checked), see :meth:`bind` for the unchecked
    step.

    Params fields may be floats or tensors (learnable), used as given by every path: a float is
    a Python scalar to torch, so float16/bfloat16 arithmetic uses its full value, exactly as the
    reference step does (a 0-d tensor of ``x``'s dtype would round it first).
    """

    name: str
    state_type: type[S]
    params_type: type[P]
    core: Callable[[S, Tensor, P, Firing], tuple[Tensor, S]]
    params: Mapping[str, Field]
    state: Mapping[str, Field]
    constrain: Callable[[P], P] | None = None
    membrane: Callable[[S], Tensor] = _v
    nir: str | None = None
    init: Init[S] = field(init=False, repr=False)
    step: Step[S, P] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "state", MappingProxyType(dict(self.state)))
        for what, mapping, tuple_type in (
            ("params", self.params, self.params_type),
            ("state", self.state, self.state_type),
        ):
            names: tuple[str, ...] = tuple_type._fields  # type: ignore[union-attr]
            if tuple(mapping) != names:
                raise ValueError(
                    f"{self.name}: {what} fields {tuple(mapping)} must be "
                    f"{tuple_type.__name__}'s fields {names}, in order"
                )
        object.__setattr__(self, "init", _make_init(self))
        object.__setattr__(self, "step", _make_step(self))

    # --- derived -----------------------------------------------------------------------------
    def bind(self, params: P, firing: Firing) -> Callable[[S, Tensor], tuple[Tensor, S]]:
        """The unchecked step ``(state, x) -> (spike, state)`` with ``params`` and ``firing``
        bound: what time loops run once the inputs were checked at their boundary."""
        step: Callable[[S, Tensor], tuple[Tensor, S]] = partial(
            self.core,
            params=params,  # type: ignore[call-arg]
            firing=firing,  # type: ignore[call-arg]
        )
        return step

    def default_params(self, **overrides: Any) -> P:
        """Params from the fields' defaults, with ``overrides`` by name (floats or tensors).

        A ``"matrix"`` field may be given as ``None`` explicitly: a
        :class:`~snnfunc.network.Neuron` layer then draws it (fan-in init) and trains it."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise ValueError(
                f"{self.name} has no params {unknown}; its params are {tuple(self.params)}"
            )
        values: list[Any] = []
        for name, spec in self.params.items():
            value = overrides.get(name, spec.default)
            if value is None and not (name in overrides and spec.kind == "matrix"):
                raise ValueError(
                    f"{self.name} needs params.{name} ({spec.kind}); it has no default"
                )
            values.append(value)
        return self.params_type(*values)

    def check(self, state: Any, x: Any, params: Any) -> None:
        """The metadata checks of one step's inputs (no data is read)."""
        check_floating("x", x)
        _check_tuple("state", state, self.state_type)
        _check_tuple("params", params, self.params_type)
        for name, value in zip(self.state, state, strict=True):
            if not isinstance(value, Tensor):
                raise TypeError(f"state.{name} must be a Tensor, got {type(value).__name__}")
            if value.shape != x.shape:
                raise ValueError(
                    f"state.{name} has shape {tuple(value.shape)} but x has shape "
                    f"{tuple(x.shape)}; they must match (create the state with "
                    f"{self.name}_init(x.shape))"
                )
            if value.dtype != x.dtype or value.device != x.device:
                raise TypeError(
                    f"state.{name} is {value.dtype} on {value.device} but x is {x.dtype} on "
                    f"{x.device}; they must match"
                )
        for (name, spec), value in zip(self.params.items(), params, strict=True):
            if spec.kind == "matrix":
                _check_matrix(f"params.{name}", value, x)
            else:
                check_broadcasts_to(f"params.{name}", value, x.shape)
                check_param_like(f"params.{name}", value, x)


def _check_tuple(what: str, value: Any, tuple_type: type) -> None:
    fields: tuple[str, ...] = tuple_type._fields  # type: ignore[attr-defined]
    if not isinstance(value, tuple) or len(value) != len(fields):
        raise TypeError(
            f"{what} must be a {tuple_type.__name__}{fields}, got {type(value).__name__}"
        )


def _check_matrix(name: str, w: Any, x: Tensor) -> None:
    if x.dim() == 0:
        raise ValueError(
            "x must have a neuron dim [..., N] for a recurrent layer, got a 0-d tensor"
        )
    n = x.shape[-1]
    if not isinstance(w, Tensor):
        raise TypeError(f"{name} must be a Tensor [N, N], got {type(w).__name__}")
    if w.shape != (n, n):
        raise ValueError(
            f"{name} must be [N, N] = [{n}, {n}] for x of shape {tuple(x.shape)}, "
            f"got {tuple(w.shape)}"
        )
    if w.dtype != x.dtype or w.device != x.device:
        raise TypeError(
            f"{name} is {w.dtype} on {w.device} but x is {x.dtype} on {x.device}; they must match"
        )


def _make_init(model: NeuronModel[Any, Any]) -> Init[Any]:
    def init(
        shape: int | tuple[int, ...] | torch.Size,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Any:
        dtype, dev = check_dtype_device(dtype, device)
        size = as_shape(shape)
        zeros = (torch.zeros(size, dtype=dtype, device=dev) for _ in model.state)
        return model.state_type(*zeros)

    init.__name__ = init.__qualname__ = f"{model.name}_init"
    init.__module__ = model.core.__module__
    init.__doc__ = (
        f"Resting state of the {model.name} model (every field zero), e.g. ``shape=(N,)`` per "
        f"example or ``(B, N)`` batched.\n\nReturns:\n    :class:`{model.state_type.__name__}` "
        f"with fields {tuple(model.state)}, each of ``shape``."
    )
    return init


def _make_step(model: NeuronModel[Any, Any]) -> Step[Any, Any]:
    core = model.core

    def step(
        state: Any,
        x: Tensor,
        params: Any,
        *,
        spike_fn: SpikeFn = DEFAULT_SPIKE,
        reset: Reset = "subtract",
        reset_delay: bool = False,
        detach_reset: bool = True,
    ) -> tuple[Tensor, Any]:
        model.check(state, x, params)
        return core(state, x, params, Firing(spike_fn, reset, reset_delay, detach_reset))

    def bind_unchecked(**keywords: Any) -> Callable[..., Any] | None:
        # scan's fast path for ``partial(step, params=..., **options)``: None if they do not fit.
        if "params" not in keywords or not set(keywords) <= {"params", *FIRING_OPTIONS}:
            return None
        options = {k: v for k, v in keywords.items() if k != "params"}
        try:
            firing = Firing.of(**options)
        except (TypeError, ValueError):
            return None  # the checked step raises the error on the first step
        return model.bind(keywords["params"], firing)

    step.__name__ = step.__qualname__ = f"{model.name}_step"
    step.__module__ = core.__module__
    step.__doc__ = _step_doc(model)
    setattr(step, "bind_unchecked", bind_unchecked)  # noqa: B010 (a function attribute)
    setattr(step, "model", model)  # noqa: B010
    return step


def _step_doc(model: NeuronModel[Any, Any]) -> str:
    summary = (model.core.__doc__ or "").strip()
    return (
        f"Advance a {model.name} neuron one step, checking the inputs "
        f"(the math: :func:`{model.core.__module__}.{model.core.__name__}`).\n\n"
        f"{summary}\n\n"
        "Args:\n"
        f"    state: :class:`{model.state_type.__name__}`, fields ``[..., N]``.\n"
        "    x: input current ``[..., N]``, floating point.\n"
        f"    params: :class:`{model.params_type.__name__}`, each a float or a Tensor "
        "broadcastable to ``[..., N]``.\n"
        "    spike_fn: spike function (:mod:`snnfunc.surrogate`), default ``atan()``.\n"
        '    reset: ``"subtract"``, ``"zero"`` or ``"none"`` (:mod:`snnfunc.reset`).\n'
        "    reset_delay: apply the reset one step late (snnTorch's default).\n"
        "    detach_reset: keep the reset out of the gradient.\n"
        "Returns:\n"
        "    ``(z, state)``: spikes ``[..., N]`` in {0, 1} (dtype of ``x``) and the new state.\n"
    )


def registry(*models: NeuronModel[Any, Any]) -> Mapping[str, NeuronModel[Any, Any]]:
    """A read-only name -> model mapping; names must be unique."""
    table: dict[str, NeuronModel[Any, Any]] = {}
    for model in models:
        if model.name in table:
            raise ValueError(f"two neuron models are named {model.name!r}")
        table[model.name] = model
    return MappingProxyType(table)
