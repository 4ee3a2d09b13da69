r"""Which eligibility traces exist: the layers, their neurons and the parameters they own.

A *layer* is a group of state leaves of one shape ``[..., N]`` (``N`` neurons, the last dim)
and the parameter leaves that act on them. Each differentiable parameter leaf (a floating-point
tensor) is one of two kinds:

* a **neuron parameter**, whose shape broadcasts to the layer's ``[..., N]`` (``beta``,
  ``threshold``: a scalar, ``[N]``, ``[1, N]``): one trace direction, the all-ones tangent;
  state element :math:`i` may depend on the parameter only through its own entry.
* a **weight** ``[N, *rest]`` whose row :math:`i` acts on neuron :math:`i` only (a step that
  calls ``F.linear(x, W)`` with ``W: [N, M]``): one trace direction per entry of ``rest``
  (``K = prod(rest)``), the one-hot column tangent :math:`\partial W = e_j` in every row. The
  trace ``[K, ..., N]`` then holds :math:`\partial s_{t}[i] / \partial W[i, j]` for all
  :math:`i, j` without materialising the :math:`[N, N, M]` Jacobian.

The reduction of a learning signal :math:`g` (``[..., N]``) with a trace :math:`M` gives the
parameter's gradient: ``sum_to_size(g * M, p.shape)`` for a neuron parameter, and
:math:`\sum_{\ldots} g[\ldots, i] M[j, \ldots, i]` at ``[i, j]`` for a weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten


@dataclass(frozen=True)
class ParamSpec:
    """One differentiable parameter leaf: its layer and its kind."""

    leaf: int  # index among all param leaves
    layer: int
    weight: bool  # True: [N, *rest] with one direction per entry of rest; False: neuron param
    shape: torch.Size

    @property
    def directions(self) -> int:
        return math.prod(self.shape[1:]) if self.weight else 1

    def direction(self, j: Tensor, like: Tensor) -> Tensor:
        """The tangent of direction ``j`` (0-d index; ``vmap``-safe), shaped like the leaf."""
        if not self.weight:
            return torch.ones_like(like)
        count = self.directions
        hot = (torch.arange(count, device=like.device) == j).to(like.dtype)
        return hot.reshape(1, *self.shape[1:]).expand(self.shape)

    def reduce(self, g: Tensor, trace: Tensor) -> Tensor:
        """Gradient contribution of learning signal ``g [..., N]`` and trace ``[K, ..., N]``."""
        if not self.weight:
            return (g * trace[0]).sum_to_size(self.shape)
        per_direction = (g * trace).reshape(trace.shape[0], -1, trace.shape[-1]).sum(1)  # [K, N]
        return per_direction.T.reshape(self.shape)


@dataclass(frozen=True)
class Layout:
    """The layers of a step: state leaves per layer, their shape, and the parameter specs."""

    state_layer: tuple[int, ...]  # layer of each state leaf
    shapes: tuple[torch.Size, ...]  # each layer's state shape [..., N]
    params: tuple[ParamSpec, ...]  # the differentiable param leaves

    def own(self, layer: int) -> list[int]:
        """The state leaves of ``layer``."""
        return [i for i, k in enumerate(self.state_layer) if k == layer]


def _groups(tree: Any, layers: bool, what: str) -> list[list[Any]]:
    if not layers:
        return [tree_flatten(tree)[0]]
    if type(tree) not in (tuple, list):
        raise TypeError(
            f"with layers=True, {what} must be a plain tuple or list with one entry per layer, "
            f"got {type(tree).__name__}"
        )
    return [tree_flatten(entry)[0] for entry in tree]


def layout(state: Any, params: Any, *, layers: bool) -> Layout:
    """Group ``state`` and ``params`` into layers and classify each param leaf.

    With ``layers=False`` the whole step is one layer; with ``layers=True`` ``state`` and
    ``params`` are tuples with one entry per layer, aligned. Raises ``ValueError``/``TypeError``
    naming what does not fit.
    """
    state_groups = _groups(state, layers, "state")
    param_groups = _groups(params, layers, "params")
    if len(state_groups) != len(param_groups):
        raise ValueError(
            f"with layers=True, state and params must have one entry per layer; got "
            f"{len(state_groups)} states and {len(param_groups)} params"
        )
    state_layer: list[int] = []
    shapes: list[torch.Size] = []
    for k, leaves in enumerate(state_groups):
        if not leaves:
            raise ValueError(f"layer {k} has no state tensors")
        for leaf in leaves:
            if not isinstance(leaf, Tensor) or not leaf.is_floating_point():
                raise TypeError(
                    f"every state leaf must be a floating-point tensor, got "
                    f"{type(leaf).__name__ if not isinstance(leaf, Tensor) else leaf.dtype}"
                )
        found = {tuple(leaf.shape) for leaf in leaves}
        if len(found) != 1 or leaves[0].dim() == 0:
            hint = "" if layers else " (for several layers pass layers=True, one entry each)"
            raise ValueError(
                f"the state leaves of a layer must share one shape [..., N] with a neuron dim; "
                f"layer {k} has shapes {sorted(found)}{hint}"
            )
        shapes.append(leaves[0].shape)
        state_layer.extend([k] * len(leaves))
    specs: list[ParamSpec] = []
    offset = 0
    for k, leaves in enumerate(param_groups):
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, Tensor) and leaf.is_floating_point():
                specs.append(_classify(offset + i, k, leaf, shapes[k]))
        offset += len(leaves)
    return Layout(tuple(state_layer), tuple(shapes), tuple(specs))


def _broadcasts(shape: Sequence[int], target: torch.Size) -> bool:
    try:
        return bool(torch.broadcast_shapes(tuple(shape), target) == target)  # type: ignore[no-untyped-call]
    except RuntimeError:
        return False


def _classify(leaf: int, layer: int, p: Tensor, shape: torch.Size) -> ParamSpec:
    n = shape[-1]
    looks_neuron = p.dim() <= 1 or all(d == 1 for d in p.shape[:-1])
    if looks_neuron and _broadcasts(p.shape, shape):
        return ParamSpec(leaf, layer, weight=False, shape=p.shape)
    if p.dim() < 2:
        raise ValueError(
            f"param leaf {leaf} of shape {tuple(p.shape)} must broadcast to its layer's "
            f"state {tuple(shape)} (a neuron parameter), or be a weight [N, ...] with "
            f"N = {n} rows"
        )
    if p.shape[0] != n:
        raise ValueError(
            f"param leaf {leaf} of shape {tuple(p.shape)} is read as a weight [N, ...] whose "
            f"row i acts on neuron i, but its layer has N = {n} neurons (state "
            f"{tuple(shape)}); with several layers pass layers=True"
        )
    return ParamSpec(leaf, layer, weight=True, shape=p.shape)
