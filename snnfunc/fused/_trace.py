r"""Trace a pure step into pointwise graphs: one step forward, and its VJP derived from it.

``trace(step, state, x, params)`` runs ``step(state, x, params=params)`` once under
``make_fx(tracing_mode="fake")`` on stand-in tensors of shape ``[3]`` (the flattened element
shape; the step must be pointwise, so the size never matters), and the one-step VJP
``torch.func.vjp`` of the same function. The result is a :class:`Plan`: ATen graphs that the
generated kernels (:mod:`snnfunc.fused._emit_c`) and the graph executor
(:mod:`snnfunc.fused._graph`) both run, so a model's math is written once, in its step.

Leaves (``torch.utils._pytree``) are ordered ``state, x, params``; a param that is not a Tensor
(a float, ``None``) is a constant baked into the graphs. Every tensor param is traced at the
element shape: a scalar param is broadcast when it is read, so that its VJP stays pointwise
(a 0-d param would add a reduction) and the graphs equal the eager ops.

What cannot be traced or is not pointwise raises :class:`Unsupported` with the reason:
the caller falls back to :func:`snnfunc.scan`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, fx
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten

__all__ = ["Unsupported", "Plan", "trace", "POINTWISE", "TRACE_SIZE"]

TRACE_SIZE = 3
"""The stand-in element count of the traced tensors (a shape ``[3]`` in a graph is the element
shape; factory ops of that shape are broadcast constants)."""

_aten = torch.ops.aten

# Every ATen op a fused graph may hold, by overload packet. The emitters map each one; a graph
# with anything else (a matmul, a reduction, a view) is not pointwise and is not fused.
POINTWISE: frozenset[Any] = frozenset(
    {
        _aten.add,
        _aten.sub,
        _aten.rsub,
        _aten.mul,
        _aten.div,
        _aten.neg,
        _aten.reciprocal,
        _aten.pow,
        _aten.exp,
        _aten.expm1,
        _aten.log,
        _aten.log1p,
        _aten.sqrt,
        _aten.rsqrt,
        _aten.tanh,
        _aten.sigmoid,
        _aten.abs,
        _aten.ceil,
        _aten.floor,
        _aten.sign,
        _aten.sgn,
        _aten.erf,
        _aten.relu,
        _aten.sigmoid_backward,
        _aten.tanh_backward,
        _aten.threshold_backward,
        _aten.masked_fill,
        _aten.clamp,
        _aten.clamp_min,
        _aten.clamp_max,
        _aten.minimum,
        _aten.maximum,
        _aten.where,
        _aten.gt,
        _aten.ge,
        _aten.lt,
        _aten.le,
        _aten.eq,
        _aten.ne,
        _aten.logical_not,
        _aten.logical_and,
        _aten.logical_or,
        _aten.bitwise_not,
        _aten.bitwise_and,
        _aten.bitwise_or,
        _aten.detach,
        _aten.alias,
        _aten.clone,
        _aten.lift_fresh_copy,
        _aten._to_copy,
        _aten.zeros_like,
        _aten.ones_like,
        _aten.full_like,
        _aten.full,
        _aten.zeros,
        _aten.ones,
        _aten.scalar_tensor,
        _aten.new_zeros,
        _aten.new_ones,
        _aten.new_full,
        _aten.expand,
    }
)
FACTORIES: frozenset[Any] = frozenset(
    {_aten.full, _aten.zeros, _aten.ones, _aten.new_zeros, _aten.new_ones, _aten.new_full}
)


class Unsupported(Exception):  # noqa: N818  (a reason, not an error: the caller falls back)
    """The step cannot be fused; ``str(err)`` says why."""


@dataclass(frozen=True)
class Leaf:
    """One leaf of ``state, x, params``: a traced tensor (its dtype) or a baked constant."""

    dtype: torch.dtype | None  # None: a constant (not a Tensor)
    value: Any = None  # the constant


@dataclass(eq=False)
class Plan:
    """The traced graphs of one step for one structure of ``(state, x, params)``.

    ``forward``: ``(*state, *x, *tensor_params) -> (*y, *state')``. ``backward(y_mask, s_mask)``:
    ``(*state, *x, *tensor_params, *gy[y_mask], *gs'[s_mask]) -> (*gstate, *gx, *gparams)``;
    a cotangent left out of the mask is *absent* (no term), as in autograd.
    """

    step: Callable[..., Any]
    state_spec: TreeSpec
    x_spec: TreeSpec
    params_spec: TreeSpec
    param_leaves: tuple[Leaf, ...]
    state_dtypes: tuple[torch.dtype, ...]
    x_dtypes: tuple[torch.dtype, ...]
    y_spec: TreeSpec
    y_dtypes: tuple[torch.dtype, ...]
    forward: fx.GraphModule
    _backward: dict[tuple[tuple[bool, ...], tuple[bool, ...]], fx.GraphModule] = field(
        default_factory=dict
    )

    @property
    def num_state(self) -> int:
        return len(self.state_dtypes)

    @property
    def num_x(self) -> int:
        return len(self.x_dtypes)

    @property
    def num_params(self) -> int:
        """Tensor params (the graphs' inputs); constants are baked in."""
        return sum(leaf.dtype is not None for leaf in self.param_leaves)

    @property
    def num_y(self) -> int:
        return len(self.y_dtypes)

    def call(self, flat: Sequence[Any]) -> tuple[Any, ...]:
        """The step on flat leaves ``(*state, *x, *tensor_params)`` -> ``(*y, *state')``."""
        ns, nx = self.num_state, self.num_x
        state = tree_unflatten(list(flat[:ns]), self.state_spec)
        x = tree_unflatten(list(flat[ns : ns + nx]), self.x_spec)
        tensors = iter(flat[ns + nx :])
        params = tree_unflatten(
            [next(tensors) if leaf.dtype is not None else leaf.value for leaf in self.param_leaves],
            self.params_spec,
        )
        y, new_state = self.step(state, x, params=params)
        y_leaves, _ = tree_flatten(y)
        s_leaves, s_spec = tree_flatten(new_state)
        if s_spec != self.state_spec:
            raise Unsupported(f"the step returned a state of another structure: {s_spec}")
        return (*y_leaves, *s_leaves)

    def describe(self) -> str:
        """A short name for messages: the step's name."""
        step = self.step
        while isinstance(step, functools.partial):
            step = step.func
        return str(getattr(step, "__name__", type(step).__name__))

    def present_before(
        self, y_mask: tuple[bool, ...], s_mask: tuple[bool, ...]
    ) -> tuple[bool, ...]:
        """Which state cotangents the step before receives, given this step's present ones:
        those its VJP graph computes from a cotangent (autograd never runs the others: their
        gradient is absent, not zero, which matters when a value is NaN or inf)."""
        if not any(y_mask) and not any(s_mask):
            return (False,) * self.num_state
        gm = self.backward(y_mask, s_mask)
        placeholders = gm.graph.find_nodes(op="placeholder")
        reached = set(placeholders[self.num_state + self.num_x + self.num_params :])
        for node in gm.graph.nodes:
            if node.op == "call_function" and any(a in reached for a in node.all_input_nodes):
                reached.add(node)
        outs = gm.graph.find_nodes(op="output")[0].args[0][: self.num_state]
        return tuple(isinstance(o, fx.Node) and o in reached for o in outs)

    def mask_sequence(
        self, y_mask: tuple[bool, ...], s_last: tuple[bool, ...]
    ) -> list[tuple[bool, ...]]:
        """The present state cotangents of the steps ``T-1, T-2, ...``: a short prefix, then
        the last entry repeats for every earlier step (a fixed point).

        Raises:
            Unsupported: the presence cycles instead of settling (a state that swaps fields).
        """
        sequence = [s_last]
        while True:
            before = self.present_before(y_mask, sequence[-1])
            if before == sequence[-1]:
                return sequence
            if before in sequence:
                raise Unsupported("the gradients' paths through the state cycle between steps")
            sequence.append(before)

    def backward(self, y_mask: tuple[bool, ...], s_mask: tuple[bool, ...]) -> fx.GraphModule:
        """The one-step VJP graph for these present cotangents (traced once, then cached)."""
        key = (y_mask, s_mask)
        if key not in self._backward:
            self._backward[key] = _trace_vjp(self, y_mask, s_mask)
        return self._backward[key]


def _stand_in(dtype: torch.dtype) -> Tensor:
    return torch.zeros(TRACE_SIZE, dtype=dtype)


def _make_fx(fn: Callable[..., Any], args: Sequence[Tensor]) -> fx.GraphModule:
    try:
        gm = make_fx(fn, tracing_mode="fake")(*args)
        if any(_mutates(node) for node in gm.graph.nodes):
            # in-place ops (a step's own, or autograd's) made out-of-place: trace the ATen
            # graph again, functionalized (autograd.Functions are gone from it by now)
            gm = make_fx(torch.func.functionalize(gm), tracing_mode="fake")(*args)
    except Unsupported:
        raise
    except Exception as err:  # any failure to trace is a reason to fall back, reported
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if "FakeTensor" in message:  # make_fx meets a captured tensor that requires grad
            raise Unsupported(
                "the step reads a captured tensor that requires grad (a learnable value "
                "outside the params would get no gradient): pass it as a param"
            ) from err
        raise Unsupported(
            f"the step could not be traced ({type(err).__name__}: {message})"
        ) from err
    gm.graph.eliminate_dead_code()
    gm.recompile()
    _check_pointwise(gm)
    return gm


def _mutates(node: fx.Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return node.op == "call_function" and schema is not None and schema.is_mutable


def _shape_ok(val: Any) -> bool:
    return isinstance(val, Tensor) and tuple(val.shape) in ((), (TRACE_SIZE,))


def _check_pointwise(gm: fx.GraphModule) -> None:
    """Raise :class:`Unsupported` unless every node is a supported pointwise op on the element
    shape (or a scalar constant)."""
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            value = getattr(gm, node.target)
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise Unsupported(
                    "the step reads a captured tensor of shape "
                    f"{tuple(value.shape) if isinstance(value, Tensor) else '?'} (only "
                    "one-element captured tensors are fused: pass per-neuron values as params)"
                )
            if value.requires_grad:
                raise Unsupported(
                    "the step reads a captured tensor that requires grad (e.g. a learnable "
                    "surrogate hyperparameter): pass it as a param to get its gradient"
                )
        elif node.op == "call_function":
            packet = getattr(node.target, "overloadpacket", None)
            if packet not in POINTWISE:
                raise Unsupported(f"the step uses {node.target}, which is not a pointwise op")
            if packet is _aten.div and node.kwargs.get("rounding_mode") is not None:
                raise Unsupported(f"{node.target} with a rounding_mode is not fused")
            if packet is _aten.add or packet is _aten.sub:
                if node.kwargs.get("alpha", 1) != 1:
                    raise Unsupported(f"{node.target} with alpha != 1 is not fused")
            if not _shape_ok(node.meta.get("val")):
                raise Unsupported(
                    f"{node.target} makes a value of shape "
                    f"{tuple(getattr(node.meta.get('val'), 'shape', ()))}: the step must be "
                    "pointwise over the neurons (no reshapes, reductions or indexing)"
                )
            dtype = node.meta["val"].dtype
            if not (dtype.is_floating_point or dtype == torch.bool):
                raise Unsupported(f"{node.target} makes a {dtype} value (fused: float or bool)")
            if packet is _aten.pow and not isinstance(node.args[1], (int, float)):
                raise Unsupported("pow with a tensor exponent is not fused")


def trace(step: Callable[..., Any], state: Any, x: Any, params: Any) -> Plan:
    """Trace ``step(state, x, params=params)`` (only dtypes and structure are read).

    Raises:
        Unsupported: with the reason, when the step cannot be fused.
    """
    s_leaves, state_spec = tree_flatten(state)
    x_leaves, x_spec = tree_flatten(x)
    p_leaves, params_spec = tree_flatten(params)
    for what, leaves in (("state", s_leaves), ("x", x_leaves)):
        if not leaves:
            raise Unsupported(f"the {what} holds no tensors")
        for leaf in leaves:
            if not isinstance(leaf, Tensor) or not leaf.dtype.is_floating_point:
                raise Unsupported(f"every {what} leaf must be a floating-point Tensor")
    param_leaves = []
    for leaf in p_leaves:
        if isinstance(leaf, Tensor):
            if not leaf.dtype.is_floating_point:
                raise Unsupported(f"a param tensor has dtype {leaf.dtype} (fused: floating point)")
            param_leaves.append(Leaf(leaf.dtype))
        elif leaf is None or isinstance(leaf, (bool, int, float)):
            param_leaves.append(Leaf(None, leaf))
        else:
            raise Unsupported(f"a param is a {type(leaf).__name__} (fused: Tensor or number)")
    y_found: list[tuple[TreeSpec, tuple[Any, ...]]] = []

    def record(state_: Any, x_: Any, *, params: Any) -> Any:
        y, new_state = step(state_, x_, params=params)
        y_leaves, y_spec = tree_flatten(y)
        y_found.append((y_spec, tuple(getattr(t, "dtype", None) for t in y_leaves)))
        return y, new_state

    probe = Plan(
        record,
        state_spec,
        x_spec,
        params_spec,
        tuple(param_leaves),
        tuple(t.dtype for t in s_leaves),
        tuple(t.dtype for t in x_leaves),
        state_spec,
        (),
        fx.GraphModule({}, fx.Graph()),
    )
    stand_ins = [
        *map(_stand_in, probe.state_dtypes),
        *map(_stand_in, probe.x_dtypes),
        *(_stand_in(leaf.dtype) for leaf in probe.param_leaves if leaf.dtype is not None),
    ]
    forward = _make_fx(lambda *flat: probe.call(flat), stand_ins)
    y_spec, y_dtypes = y_found[-1]
    if any(d is None or not (d.is_floating_point or d == torch.bool) for d in y_dtypes):
        raise Unsupported("every output leaf of the step must be a float or bool Tensor")
    out_nodes = forward.graph.find_nodes(op="output")[0].args[0]
    for node, want in zip(out_nodes[len(y_dtypes) :], probe.state_dtypes, strict=True):
        got = getattr(node.meta.get("val"), "dtype", None) if isinstance(node, fx.Node) else None
        if got != want:
            raise Unsupported(f"the step returns a state leaf of dtype {got} for one of {want}")
    plan = dataclasses.replace(probe, step=step, y_spec=y_spec, y_dtypes=y_dtypes, forward=forward)
    # The VJP with every cotangent present (every backward's steps but the last) is traced
    # now: what only the backward reads (a surrogate's learnable hyperparameter, an op with
    # no pointwise derivative) decides between fusing and scan before the forward runs.
    plan.backward((True,) * plan.num_y, (True,) * plan.num_state)
    return plan


def _trace_vjp(plan: Plan, y_mask: tuple[bool, ...], s_mask: tuple[bool, ...]) -> fx.GraphModule:
    ns, nx, npar = plan.num_state, plan.num_x, plan.num_params
    present = [i for i, keep in enumerate((*y_mask, *s_mask)) if keep]
    if not present:
        raise ValueError("a backward needs at least one present cotangent")

    def one_step(*flat: Tensor) -> tuple[Tensor, ...]:
        outs = plan.call(flat)
        return tuple(outs[i] for i in present)

    def joint(*args: Tensor) -> tuple[Tensor, ...]:
        primals, cotangents = args[: ns + nx + npar], args[ns + nx + npar :]
        vjp_fn = torch.func.vjp(one_step, *primals)[1]
        return tuple(vjp_fn(tuple(cotangents)))

    dtypes = [
        *plan.state_dtypes,
        *plan.x_dtypes,
        *(leaf.dtype for leaf in plan.param_leaves if leaf.dtype is not None),
    ]
    out_dtypes = (*plan.y_dtypes, *plan.state_dtypes)
    cot = [_stand_in(out_dtypes[i]) for i in present]
    return _make_fx(joint, [*map(_stand_in, dtypes), *cot])  # type: ignore[arg-type]
