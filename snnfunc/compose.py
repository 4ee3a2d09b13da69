"""Networks as one step: :func:`sequential` composes stateless layers and neuron layers
(:func:`neuron`, :func:`stateless`) into one pure step ``(states, x) -> (y, states)`` that
:func:`snnfunc.scan` unrolls. :mod:`snnfunc.network` describes whole feed-forward models on top.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import Tensor

from snnfunc.reset import FIRING_OPTIONS, Firing
from snnfunc.scan import StepFn

__all__ = ["Layer", "stateless", "neuron", "sequential"]


@dataclass(frozen=True)
class Layer:
    """One stage of a :func:`sequential` network.

    ``fn`` is ``x -> y`` for a stateless layer and ``(state, x) -> (y, state)`` for a stateful one.
    """

    fn: Callable[..., Any]
    stateful: bool
    unchecked: Callable[..., Any] | None = None  # fn without input checks, for time loops


def stateless(fn: Callable[[Any], Any]) -> Layer:
    """A stateless layer ``x -> y``, e.g. ``partial(F.linear, weight=W, bias=b)``."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    return Layer(fn, stateful=False)


def neuron(step: Callable[..., tuple[Tensor, Any]], params: Any, **options: Any) -> Layer:
    """A neuron layer: ``step(state, x, params, **options) -> (spike, state)`` with ``params`` and
    the static ``options`` (``spike_fn``, ``reset``, ...) bound.

    The options are checked here, once, not at the first step: a keyword ``step`` does not take
    raises ``TypeError``, and ``reset``/``reset_delay``/``detach_reset``/``spike_fn`` are
    validated as :class:`snnfunc.reset.Firing` does. A built-in step's layer runs its unchecked
    core after the first step of a scan (:func:`unchecked`).
    """
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    try:
        signature = inspect.signature(step)
    except (TypeError, ValueError):  # builtins and some C callables have none
        signature = None
    if signature is not None:
        try:
            signature.bind_partial(params=params, **options)
        except TypeError as err:
            raise TypeError(
                f"options do not fit step {getattr(step, '__name__', step)!r}: {err}"
            ) from err
    bind = getattr(step, "bind_unchecked", None)
    Firing.of(**{k: v for k, v in options.items() if k in FIRING_OPTIONS})  # validates them
    bound = partial(step, params=params, **options)
    return Layer(bound, stateful=True, unchecked=bind(params=params, **options) if bind else None)


def sequential(*layers: Layer | Callable[[Any], Any], record_states: bool = False) -> StepFn:
    """Compose layers into one network step ``(states, x) -> (y, states)``.

    ``states`` is a tuple with one state per stateful layer, in order. A plain callable is taken
    as a stateless layer. With ``record_states=True`` the output is ``(y, states)`` so that
    :func:`scan` also returns every layer's state over time (membranes for plots and losses).

    >>> import torch, torch.nn.functional as F
    >>> from snnfunc import LIFParams, lif_init, lif_step, scan
    >>> W = torch.eye(2)
    >>> net = sequential(partial(F.linear, weight=W), neuron(lif_step, LIFParams(0.9, 1.0)))
    >>> spikes, states = scan(net, (lif_init(2),), torch.ones(3, 2))
    >>> spikes[:, 0]
    tensor([0., 1., 1.])
    """
    stages = [layer if isinstance(layer, Layer) else stateless(layer) for layer in layers]
    if not stages:
        raise ValueError("sequential needs at least one layer")
    n_stateful = sum(stage.stateful for stage in stages)

    def check(states: Any) -> None:
        if not isinstance(states, (tuple, list)) or hasattr(states, "_fields"):
            raise ValueError(
                f"states must be a plain tuple of {n_stateful} layer states (one per stateful "
                f"layer), got {type(states).__name__}; wrap a single state as (state,)"
            )
        if len(states) != n_stateful:
            raise ValueError(
                f"states must be a tuple of {n_stateful} layer states (one per stateful "
                f"layer), got {len(states)}"
            )

    def compose(fns: list[Callable[..., Any]]) -> StepFn:
        def run(states: tuple[Any, ...], x: Any) -> tuple[Any, tuple[Any, ...]]:
            new_states = []
            k = 0
            for stage, fn in zip(stages, fns, strict=True):
                if stage.stateful:
                    x, s = fn(states[k], x)
                    new_states.append(s)
                    k += 1
                else:
                    x = fn(x)
            out = tuple(new_states)
            return ((x, out) if record_states else x), out

        return run

    fast = compose([stage.unchecked or stage.fn for stage in stages])
    checked = compose([stage.fn for stage in stages])

    def step(states: tuple[Any, ...], x: Any) -> tuple[Any, tuple[Any, ...]]:
        check(states)
        return checked(states, x)

    step.unchecked = fast  # type: ignore[attr-defined]  # scan's time loop (see unchecked())
    return step
