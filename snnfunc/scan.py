"""Unrolling over time: :func:`scan` (and :func:`unchecked`, its fast path for checked steps).

Convention (deliberate, stated once here): a step takes the state first, like ``jax.lax.scan``'s
carry, and returns ``(output, state)``, like ``torch.nn.RNN``'s ``(output, h_n)``::

    step(state, x) -> (y, state)
    scan(step, state, xs) -> (ys, state)

Tensors are time-major: ``xs`` is ``[T, ...]`` (``[T, B, N]`` for a batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
import torch.utils.checkpoint
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from snnfunc._checks import check_int_at_least

StepFn = Callable[[Any, Any], tuple[Any, Any]]

__all__ = ["scan", "unchecked", "StepFn"]


def _detach(tree: Any) -> Any:
    return tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


def _stack(ys: Sequence[Any]) -> Any:
    """Stack a list of equal pytrees leafwise along a new dim 0."""
    if not ys:
        raise ValueError("scan needs at least one step (T >= 1)")
    if all(isinstance(y, Tensor) for y in ys):  # the common case, without pytree work per step
        return torch.stack(list(ys))
    leaves0, spec = tree_flatten(ys[0])
    columns: list[list[Any]] = [[] for _ in leaves0]
    for y in ys:
        leaves, s = tree_flatten(y)
        if s != spec:
            raise ValueError(f"step returned outputs of changing structure: {spec} then {s}")
        for column, leaf in zip(columns, leaves, strict=True):
            column.append(leaf)
    return tree_unflatten(
        [torch.stack(c) if isinstance(c[0], Tensor) else c for c in columns], spec
    )


def time_length(tensors: Sequence[Tensor]) -> int:
    """The leading time dim ``T`` that every tensor of ``xs`` shares (``ValueError`` naming
    what is wrong: a 0-d tensor, different lengths, ``T = 0``)."""
    if any(t.dim() == 0 for t in tensors):
        raise ValueError(
            "xs must have a leading time dim [T, ...]; got a 0-d tensor "
            "(pass num_steps= for a static input)"
        )
    lengths = {t.shape[0] for t in tensors}
    if len(lengths) != 1:
        raise ValueError(f"every tensor in xs must have the same leading time dim, got {lengths}")
    (length,) = lengths
    if length < 1:
        raise ValueError("xs must have at least one time step (T >= 1), got T = 0")
    return int(length)


def _time_slices(xs: Any, num_steps: int | None) -> tuple[list[Any], int]:
    """``xs`` as a list of per-step inputs (unbound once: indexing in the loop is O(T^2))."""
    if num_steps is not None:
        check_int_at_least("num_steps", num_steps, 1)
        return [xs] * num_steps, num_steps
    if isinstance(xs, Tensor) and xs.dim() > 0 and xs.shape[0] >= 1:  # the common case
        return list(xs.unbind(0)), xs.shape[0]
    leaves, spec = tree_flatten(xs)
    tensors = [leaf for leaf in leaves if isinstance(leaf, Tensor)]
    if not tensors:
        raise ValueError(
            "xs must hold tensors with a leading time dim [T, ...], or pass "
            "num_steps= to feed the same input every step"
        )
    length = time_length(tensors)
    unbound = [leaf.unbind(0) if isinstance(leaf, Tensor) else [leaf] * length for leaf in leaves]
    return [tree_unflatten([u[t] for u in unbound], spec) for t in range(length)], length


def unchecked(step: StepFn) -> StepFn:
    """The step :func:`scan` runs after the first: ``step`` without its input checks, where it
    offers one, else ``step`` itself.

    A step offers one as an attribute ``step.unchecked`` (networks from :func:`sequential`), or,
    bound with ``functools.partial(f, params=..., **options)``, through
    ``f.bind_unchecked(**keywords)`` (every built-in ``<model>_step``). The first step runs the
    checked ``step``, so bad inputs still raise their clear error, once, at the boundary; the
    time loop then runs the model's unchecked core. Both give the same numbers.
    """
    fast = getattr(step, "unchecked", None)
    if fast is None and isinstance(step, partial) and not step.args:
        bind = getattr(step.func, "bind_unchecked", None)
        fast = bind(**step.keywords) if bind is not None else None
    return fast if callable(fast) else step


def _loop(
    step: StepFn, state: Any, xs: Sequence[Any], start: int, truncate: int | None
) -> tuple[list[Any], Any]:
    ys = []
    run = step if start > 0 else None  # the first step of a scan runs checked
    for offset, x in enumerate(xs):
        if run is None:
            y, state = step(state, x)
            run = unchecked(step)
        else:
            y, state = run(state, x)
        ys.append(y)
        if truncate is not None and (start + offset + 1) % truncate == 0:
            state = _detach(state)
    return ys, state


def _step_hint(step: Any) -> str:
    """What to do with a common non-step: a ``sequential`` layer (``sf.neuron``/``stateless``)."""
    if type(step).__name__ == "Layer" and hasattr(step, "stateful") and hasattr(step, "fn"):
        return (
            ": a Layer (from sf.neuron(...) or sf.stateless(...)) is one stage of a network; "
            "compose it with sf.sequential(layer, ...) and scan that (its state is a tuple, "
            "one per stateful layer: (init,)), or scan the layer's step, layer.fn"
        )
    return ""


def scan(
    step: StepFn,
    state: Any,
    xs: Any,
    *,
    num_steps: int | None = None,
    truncate: int | None = None,
    checkpoint: int | None = None,
) -> tuple[Any, Any]:
    """Apply ``step`` along dim 0 of ``xs``, threading ``state``; stack the outputs.

    ``step :: (state, x) -> (y, state)``. Semantics, as the plain loop::

        ys = []
        for x in xs:                       # xs: [T, ...] (or a pytree of such)
            y, state = step(state, x)
            ys.append(y)
        return stack(ys), state            # ys: [T, ...] (a pytree if y is one)

    Args:
        step: a pure step function; bind params with ``functools.partial`` or a closure.
        state: the initial state, any pytree of tensors (e.g. a NamedTuple or a tuple of them).
        xs: inputs ``[T, ...]``, a tensor or a pytree of tensors sharing ``T``. With
            ``num_steps``, one input fed unchanged at every step (static input; not copied T times).
        num_steps: number of steps for a static input (``xs`` then has no time dim).
        truncate: truncated BPTT: detach the carried state after every ``truncate`` steps, so
            gradients flow back at most ``truncate`` steps through the state (outputs and the
            forward values are unchanged).
        checkpoint: recompute segments of ``checkpoint`` steps in backward
            (``torch.utils.checkpoint``, non-reentrant) instead of storing their intermediates:
            same values and gradients, memory ~ ``T/checkpoint`` states plus one segment.
            Use with ``.backward()``/``torch.autograd.grad``; torch.func transforms do not support
            ``torch.utils.checkpoint``.
    Returns:
        ``(ys, state)``: stacked outputs ``[T, ...]`` and the final state.

    Checks run once: the first step calls ``step`` as given (a built-in ``<model>_step`` checks
    its inputs there), later steps call its unchecked form where it has one (:func:`unchecked`).

    >>> import torch
    >>> ys, total = scan(lambda c, x: (c + x, c + x), torch.tensor(0.0), torch.arange(4.0))
    >>> ys, total
    (tensor([0., 1., 3., 6.]), tensor(6.))
    """
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}{_step_hint(step)}")
    if truncate is not None:
        check_int_at_least("truncate", truncate, 1)
    if checkpoint is not None:
        check_int_at_least("checkpoint", checkpoint, 1)
    slices, length = _time_slices(xs, num_steps)
    if checkpoint is None or not torch.is_grad_enabled():
        ys, state = _loop(step, state, slices, 0, truncate)
        return _stack(ys), state
    segments = []
    for start in range(0, length, checkpoint):
        ys_seg, state = _checkpointed_segment(
            step, state, slices[start : start + checkpoint], start, truncate
        )
        segments.append(ys_seg)
    leaves_spec = [tree_flatten(s) for s in segments]
    spec = leaves_spec[0][1]
    joined = [torch.cat([ls[0][k] for ls in leaves_spec]) for k in range(len(leaves_spec[0][0]))]
    return tree_unflatten(joined, spec), state


def _checkpointed_segment(
    step: StepFn, state: Any, xs: list[Any], start: int, truncate: int | None
) -> tuple[Any, Any]:
    state_leaves, state_spec = tree_flatten(state)
    xs_leaves, xs_spec = tree_flatten(xs)
    n_state = len(state_leaves)
    out_spec: dict[str, Any] = {}

    def run(*flat: Tensor) -> tuple[Tensor, ...]:
        st = tree_unflatten(list(flat[:n_state]), state_spec)
        seg = tree_unflatten(list(flat[n_state:]), xs_spec)
        ys, st = _loop(step, st, seg, start, truncate)
        ys_leaves, out_spec["ys"] = tree_flatten(_stack(ys))
        st_leaves, out_spec["state"] = tree_flatten(st)
        out_spec["n_ys"] = len(ys_leaves)
        return (*ys_leaves, *st_leaves)

    try:
        out = torch.utils.checkpoint.checkpoint(run, *state_leaves, *xs_leaves, use_reentrant=False)
    except RuntimeError as err:
        if "saved tensor hooks" not in str(err):
            raise
        raise ValueError(
            "checkpoint= is not supported inside torch.func.grad/vjp/jacrev (they do not support "
            "the saved-tensor hooks torch.utils.checkpoint needs); use checkpoint=None there, "
            "or .backward()/torch.autograd.grad outside torch.func"
        ) from err
    n_ys = out_spec["n_ys"]
    ys = tree_unflatten(list(out[:n_ys]), out_spec["ys"])
    return ys, tree_unflatten(list(out[n_ys:]), out_spec["state"])
