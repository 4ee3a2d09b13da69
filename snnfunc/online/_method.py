r"""An online learning method as one value: the per-neuron state Jacobian it propagates traces with.

Every method shares the same loop (:func:`snnfunc.online.grad`): at each step the learning
signal :math:`\partial l_t/\partial s_{t-1}` meets the eligibility traces
:math:`M_{t-1} \approx ds_{t-1}/d\theta`, and the traces advance as

.. math:: M_t = D_t\, M_{t-1} + \frac{\partial s_t}{\partial \theta}

A method is what it takes for :math:`D_t`, per layer and per neuron (``decay``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import Tensor

from snnfunc.online._layout import Layout
from snnfunc.online._linearize import Linearization

REQUIRED: Any = object()
"""Marks a method option with no default."""

Decay = Callable[[Linearization, Layout, Mapping[str, Any], bool], list[Tensor | float]]
r"""``decay(lin, layout, options, first) -> per layer D``: a tensor ``[k, k, ..., N]``
(``D[c, c']`` = :math:`\partial s_t[c'] / \partial s_{t-1}[c]` at each neuron, ``k`` state
leaves) or a float (that number times the identity)."""


@dataclass(frozen=True)
class Method:
    """An online gradient method.

    Attributes:
        name: the registry key (``"eprop"``).
        decay: the per-neuron state Jacobian :math:`D_t` of each layer (:data:`Decay`).
        options: the method's keyword options and their defaults (:data:`REQUIRED`: none).
        summary: one line for messages and docs.
    """

    name: str
    decay: Decay
    options: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The options with defaults filled in; unknown or missing ones raise ``TypeError``."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            raise TypeError(
                f"method {self.name!r} takes no options {unknown}; its options are "
                f"{tuple(self.options)}"
            )
        resolved = {k: given.get(k, default) for k, default in self.options.items()}
        missing = [k for k, v in resolved.items() if v is REQUIRED]
        if missing:
            raise TypeError(f"method {self.name!r} needs the option(s) {missing}")
        return resolved


def registry(*methods: Method) -> Mapping[str, Method]:
    """A read-only name -> method mapping; names must be unique."""
    table: dict[str, Method] = {}
    for method in methods:
        if method.name in table:
            raise ValueError(f"two online methods are named {method.name!r}")
        table[method.name] = method
    return MappingProxyType(table)
