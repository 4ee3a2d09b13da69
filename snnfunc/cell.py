"""Cells: a neuron model as one value, built-in or your own ``(init, step)`` pair.

A :class:`Cell` bundles what every part of snnfunc needs to know about a recurrent model::

    init(shape, *, dtype, device) -> state               # resting state, fields [..., N]
    step(state, x, params, **options) -> (out, state)     # one time step, pure

and, optionally, a fused multi-step path ``scan_fn(state, xs, params, **options) -> (ys, state)``
that must equal ``scan(step)`` (check it with :func:`snnfunc.testing.assert_scan_equivalent`).
With a cell you get the unroll (:meth:`Cell.unroll`, which takes the fused path when there is
one), a :func:`snnfunc.sequential` layer (:meth:`Cell.layer`), an ``nn.Module``
(:class:`snnfunc.nn.Neuron`) and the property checks of :mod:`snnfunc.testing`, for free.

The state and params should be NamedTuples (or any pytree) of tensors, so that ``vmap``,
``grad`` and ``jacrev`` see every leaf; static choices (surrogate, reset) are keyword options.

>>> import torch
>>> from typing import NamedTuple
>>> class LeakState(NamedTuple):
...     v: torch.Tensor
>>> class LeakParams(NamedTuple):
...     beta: torch.Tensor
>>> def leak_init(shape, *, dtype=torch.float32, device=None):
...     return LeakState(torch.zeros(shape, dtype=dtype, device=device))
>>> def leak_step(state, x, params):
...     v = params.beta * state.v + x
...     return v, LeakState(v)
>>> leak = cell(leak_init, leak_step, name="leak")
>>> ys, state = leak.unroll(leak.init(2), torch.ones(3, 2), LeakParams(torch.tensor(0.5)))
>>> ys[:, 0]
tensor([1.0000, 1.5000, 1.7500])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from snnfunc.compose import Layer, neuron
from snnfunc.fused.scans import FUSED
from snnfunc.neurons import MODELS, NeuronModel
from snnfunc.scan import StepFn, scan

__all__ = ["Cell", "cell", "BUILTIN_CELLS"]


@dataclass(frozen=True)
class Cell:
    """A recurrent model: ``init``, ``step`` and an optional fused ``scan_fn``.

    Attributes:
        init: ``init(shape, *, dtype, device) -> state``.
        step: ``step(state, x, params, **options) -> (out, state)``, pure.
        name: a short name for messages and reprs.
        scan_fn: optional ``scan_fn(state, xs, params, **options) -> (ys, state)`` over
            ``xs: [T, ...]``, equal to ``scan(step)``; :meth:`unroll` uses it when given.
    """

    init: Callable[..., Any]
    step: Callable[..., tuple[Any, Any]]
    name: str = "cell"
    scan_fn: Callable[..., tuple[Any, Any]] | None = None

    def __call__(self, state: Any, x: Any, params: Any, **options: Any) -> tuple[Any, Any]:
        """One step: ``self.step(state, x, params, **options)``."""
        return self.step(state, x, params, **options)

    def bind(self, params: Any, **options: Any) -> StepFn:
        """The step with ``params`` and options bound: ``(state, x) -> (out, state)``."""
        return partial(self.step, params=params, **options)

    def layer(self, params: Any, **options: Any) -> Layer:
        """A stateful :func:`snnfunc.sequential` layer."""
        return neuron(self.step, params, **options)

    def unroll(self, state: Any, xs: Any, params: Any, **options: Any) -> tuple[Any, Any]:
        """Run ``xs: [T, ...]`` through the cell: ``(ys [T, ...], final state)``.

        Uses ``scan_fn`` when the cell has one, else ``scan(self.bind(params, **options))``.
        """
        if self.scan_fn is not None:
            return self.scan_fn(state, xs, params, **options)
        return scan(self.bind(params, **options), state, xs)


def cell(
    init: Callable[..., Any],
    step: Callable[..., tuple[Any, Any]],
    *,
    name: str = "cell",
    scan_fn: Callable[..., tuple[Any, Any]] | None = None,
) -> Cell:
    """Make a :class:`Cell` from your own ``(init, step)`` pair (checked to be callables).

    Args:
        init: ``init(shape, *, dtype=..., device=...) -> state`` (a NamedTuple of tensors).
        step: ``step(state, x, params, **options) -> (out, state)``.
        name: a name for messages.
        scan_fn: an optional fused multi-step equivalent of ``scan(step)``.
    Returns:
        The :class:`Cell`.
    """
    for arg, value in (("init", init), ("step", step)):
        if not callable(value):
            raise TypeError(f"{arg} must be callable, got {type(value).__name__}")
    if scan_fn is not None and not callable(scan_fn):
        raise TypeError(f"scan_fn must be callable or None, got {type(scan_fn).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    return Cell(init, step, name, scan_fn)


def _builtin(model: NeuronModel[Any, Any]) -> Cell:
    def fused_or_scan(state: Any, xs: Any, params: Any, **options: Any) -> tuple[Any, Any]:
        fused = FUSED.get(model.name)
        if fused is not None:
            result: tuple[Any, Any] = fused(state, xs, params, **options)
            return result
        return scan(partial(model.step, params=params, **options), state, xs)

    return Cell(model.init, model.step, model.name, fused_or_scan)


BUILTIN_CELLS: Mapping[str, Cell] = MappingProxyType(
    {name: _builtin(model) for name, model in MODELS.items()}
)
"""Every built-in neuron model (:data:`snnfunc.neurons.MODELS`) as a :class:`Cell`, by name
(read-only). Their :meth:`Cell.unroll` takes the model's fused scan
(:data:`snnfunc.fused.FUSED`, e.g. ``lif_scan``) where it has one, else ``scan``."""
