r"""Online gradients: one forward pass with eligibility traces, memory constant in ``T``.

Semantics (the exact gradient that the methods approximate; ``l_t = loss_fn(y_t, t)``)::

    L = 0
    for t, x in enumerate(xs):
        y, state = step(state, x, params)
        L = L + loss_fn(y, t)
    grads = d L / d params                           # what BPTT computes, storing all T steps

:func:`grad` computes it forward in time instead. With :math:`M_t \approx ds_t/d\theta` (the
eligibility traces, one per parameter direction) the chain rule splits into

.. math::
    \frac{dL}{d\theta} = \sum_t \Big( \frac{\partial l_t}{\partial \theta}
        + \frac{\partial l_t}{\partial s_{t-1}} \cdot M_{t-1} \Big), \qquad
    M_t = D_t M_{t-1} + \frac{\partial s_t}{\partial \theta}

where both partials come from this step alone (one VJP) and :math:`D_t` is the method's
per-neuron state Jacobian (:data:`snnfunc.online.METHODS`). Nothing of past steps is kept but
the traces, so memory does not grow with ``T``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.func import vjp
from torch.utils._pytree import tree_flatten, tree_unflatten

from snnfunc._checks import check_choice
from snnfunc.online._layout import Layout, ParamSpec, layout
from snnfunc.online._linearize import Leaves, Linearization
from snnfunc.online._method import Method, registry
from snnfunc.online.eprop import EPROP
from snnfunc.online.ottt import OTTT

METHODS = registry(EPROP, OTTT)
"""Every online method by name (read-only): ``"eprop"``, ``"ottt"``."""

Traces = list[list[Tensor]]  # per param spec, per own state leaf: [K, ..., N]


def _check_inputs(step: Any, xs: Any, loss_fn: Any, method: Any) -> Method:
    if not callable(step):
        raise TypeError(f"step must be callable step(state, x, params), got {type(step).__name__}")
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable loss_fn(y_t, t) -> scalar, got {type(loss_fn).__name__}"
        )
    if not isinstance(xs, Tensor):
        raise TypeError(f"xs must be a tensor [T, ...], got {type(xs).__name__}")
    if xs.dim() == 0:
        raise ValueError("xs must have a leading time dim [T, ...], got a 0-d tensor")
    if xs.shape[0] < 1:
        raise ValueError("xs must have at least one time step (T >= 1), got T = 0")
    check_choice("method", method, tuple(METHODS))
    return METHODS[method]


def _step_fn(
    step: Callable[..., Any],
    x: Tensor,
    state_spec: Any,
    params: list[Any],
    diff: list[int],
    param_spec: Any,
) -> Callable[[Leaves, Leaves], tuple[Any, Leaves]]:
    def fn(state: Leaves, values: Leaves) -> tuple[Any, Leaves]:
        leaves = list(params)
        for i, value in zip(diff, values, strict=True):
            leaves[i] = value
        y, new = step(
            tree_unflatten(list(state), state_spec), x, tree_unflatten(leaves, param_spec)
        )
        new_leaves, new_spec = tree_flatten(new)
        if new_spec != state_spec:
            raise ValueError(
                f"step must return a state of the structure it was given: {state_spec} "
                f"then {new_spec}"
            )
        return y, tuple(new_leaves)

    return fn


def _loss_cotangent(loss_fn: Callable[[Any, int], Any], y: Any, t: int) -> tuple[Tensor, Any]:
    loss, pull = vjp(lambda out: loss_fn(out, t), y)  # type: ignore[misc]
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        what = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar (0-d) tensor per step, got {what}")
    (g_y,) = pull(torch.ones_like(loss))
    return loss, g_y


def _immediate(lin: Linearization, spec: ParamSpec, slot: int, value: Tensor) -> Leaves:
    """:math:`\\partial s_t / \\partial \\theta` along each of ``spec``'s directions."""

    def make(j: Tensor) -> tuple[None, Leaves]:
        leaves = list(lin.zeros_params)
        leaves[slot] = spec.direction(j, value)
        return None, tuple(leaves)

    return lin.state_tangents(make, torch.arange(spec.directions, device=value.device))


def _advance(decay: Tensor | float, trace: list[Tensor], immediate: list[Tensor]) -> list[Tensor]:
    if isinstance(decay, float):
        return [decay * m + i for m, i in zip(trace, immediate, strict=True)]
    return [
        sum((decay[c, c_out] * m for c, m in enumerate(trace)), immediate[c_out])
        for c_out in range(len(trace))
    ]


def grad(
    step: Callable[..., tuple[Any, Any]],
    state: Any,
    xs: Tensor,
    params: Any,
    loss_fn: Callable[[Any, int], Tensor],
    *,
    method: str = "eprop",
    layers: bool = False,
    **options: Any,
) -> tuple[Any, Any]:
    r"""Gradient of :math:`\sum_t l_t` with respect to ``params``, online (no time history).

    Args:
        step: ``step(state, x, params) -> (y, state)``, pure; ``params`` may hold input weights
            (the step calls ``F.linear(x, W)`` itself), neuron parameters and floats.
        state: the initial state, a pytree of floating tensors ``[..., N]`` (e.g.
            ``lif_init((B, N))``).
        xs: inputs, time-major ``[T, ...]``, ``T >= 1``.
        params: a pytree (NamedTuples, tuples); every floating-point tensor leaf gets a gradient.
            A leaf is a neuron parameter (broadcasts to ``[..., N]``) or a weight ``[N, ...]``
            whose row ``i`` acts on neuron ``i`` (see :mod:`snnfunc.online._layout`).
        loss_fn: ``loss_fn(y_t, t) -> scalar`` for step ``t``'s output.
        method: a key of :data:`METHODS`: ``"eprop"`` (default) or ``"ottt"``.
        layers: ``False``: the step is one layer. ``True``: ``state`` and ``params`` are
            tuples with one entry per layer, aligned; each layer's traces stay in that layer.
        **options: the method's options (``recurrent=`` for e-prop, ``leak=`` for OTTT).
    Returns:
        ``(grads, state)``: ``grads`` with the structure of ``params`` (plain tensors, ``None``
        for leaves that are not floating-point tensors) and the final state.

    Memory is the traces, ``K x [..., N]`` per parameter leaf (``K`` = 1, or ``M`` for a weight
    ``[N, M]``), whatever ``T``; each step costs one VJP and one JVP per trace direction.

    >>> import torch, torch.nn.functional as F
    >>> from snnfunc import LIFParams, lif_init, lif_step
    >>> def step(state, x, params):
    ...     w, neuron = params
    ...     return lif_step(state, F.linear(x, w), neuron)
    >>> params = (torch.full((2, 3), 0.5), LIFParams(torch.full((2,), 0.9), 1.0))
    >>> grads, _ = grad(step, lif_init((4, 2)), torch.ones(5, 4, 3), params,
    ...                 lambda z, t: z.sum())
    >>> grads[0].shape, grads[1].threshold
    (torch.Size([2, 3]), None)
    """
    chosen = _check_inputs(step, xs, loss_fn, method)
    resolved = chosen.resolve(options)
    lay: Layout = layout(state, params, layers=layers)
    state_leaves, state_spec = tree_flatten(state)
    param_leaves, param_spec = tree_flatten(params)
    diff = [spec.leaf for spec in lay.params]
    values = tuple(param_leaves[i].detach() for i in diff)
    s: Leaves = tuple(leaf.detach() for leaf in state_leaves)
    traces: Traces = [
        [s[leaf].new_zeros(spec.directions, *s[leaf].shape) for leaf in lay.own(spec.layer)]
        for spec in lay.params
    ]
    total = [torch.zeros_like(v) for v in values]
    inputs = xs.detach()
    for t in range(inputs.shape[0]):
        x = inputs[t]  # a view per step: a list of all T views would grow with T
        fn = _step_fn(step, x, state_spec, param_leaves, diff, param_spec)
        lin = Linearization(fn, s, values)
        _, g_y = _loss_cotangent(loss_fn, lin.y, t)
        g_state, g_params = lin.pullback(g_y)
        for slot, spec in enumerate(lay.params):
            own = lay.own(spec.layer)
            total[slot] = total[slot] + g_params[slot]
            for m, leaf in zip(traces[slot], own, strict=True):
                total[slot] = total[slot] + spec.reduce(g_state[leaf], m)
        decays = chosen.decay(lin, lay, resolved, t == 0)
        for slot, spec in enumerate(lay.params):
            own = lay.own(spec.layer)
            tangent = _immediate(lin, spec, slot, values[slot])
            traces[slot] = _advance(decays[spec.layer], traces[slot], [tangent[i] for i in own])
        s = tuple(leaf.detach() for leaf in lin.state)
    out: list[Any] = [None] * len(param_leaves)
    for slot, i in enumerate(diff):
        out[i] = total[slot]
    return tree_unflatten(out, param_spec), tree_unflatten(list(s), state_spec)
