r"""The walk over a traced graph that every code generator shares; a :class:`Dialect` spells it.

A traced :class:`~snnfunc.fused._trace.Plan` graph is a list of pointwise ATen nodes. What each
node *means* is decided once, here: the type torch computes it in (its operands' promoted
dtype; Python scalars do not promote), where a value is cast, how ``clamp``,
``threshold_backward``, ``masked_fill`` and the factories decompose, and that a float16 or
bfloat16 result is rounded to its dtype after every node (torch's eager ops compute in float32
and round each result). A :class:`Dialect` only spells that in C (:mod:`._emit_c`) or Triton
(:mod:`._emit_triton`)::

    walk = Walk(graph, inputs, prefix, consts, dialect)
    lines = walk.emit()          # one statement per node
    values = walk.outputs()      # the graph's outputs, as expressions

Numbers in a graph are not written into the source: each becomes an entry of ``consts``, read
at run time from an array ``K`` (so that one kernel serves every value of a swept ``beta``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import fx

from snnfunc.fused._trace import FACTORIES, Unsupported

__all__ = ["Dialect", "Walk", "COMPARE", "IDENTITY", "REDUCED", "ROUNDS_SCALAR", "state_only"]

_aten = torch.ops.aten
COMPARE = frozenset({_aten.gt, _aten.ge, _aten.lt, _aten.le, _aten.eq, _aten.ne})
IDENTITY = frozenset({_aten.detach, _aten.alias, _aten.clone, _aten.lift_fresh_copy, _aten.expand})
REDUCED = frozenset({torch.float16, torch.bfloat16})
"""Storage dtypes computed in float32 and rounded back after every node, as torch does."""
ROUNDS_SCALAR = frozenset({_aten.add, _aten.sub, _aten.rsub, *COMPARE})
"""Ops whose Python-scalar operand torch rounds to a float16/bfloat16 tensor's dtype first
(measured on CPU: ``x + 1.6448`` adds 1.645, ``x * 1.6448`` multiplies by the float32 value)."""


class Dialect(Protocol):
    """How one target language spells the walk's operations on one element (or one block)."""

    def ctype(self, dtype: torch.dtype) -> str:
        """The type a value of ``dtype`` is held and computed in (``Unsupported`` if none)."""
        ...

    def cast(self, expr: str, to: str) -> str:
        """``expr`` converted to type ``to`` (a float to bool is :meth:`nonzero`)."""
        ...

    def nonzero(self, expr: str) -> str:
        """``expr != 0`` as a bool."""
        ...

    def const(self, index: int, ctype: str) -> str:
        """Entry ``index`` of ``K`` (a double) cast to ``ctype``."""
        ...

    def zero(self, ctype: str) -> str:
        """The literal ``0`` of ``ctype``."""
        ...

    def unary(self, packet: Any, a: str, ctype: str) -> str | None:
        """A one-operand op, or ``None`` if the dialect does not have it."""
        ...

    def binary(self, packet: Any, a: str, b: str, ctype: str) -> str | None:
        """A two-operand op, or ``None`` if the dialect does not have it."""
        ...

    def select(self, cond: str, a: str, b: str) -> str:
        """``cond ? a : b`` (both evaluated: they are pure)."""
        ...

    def power(self, base: str, exponent: float, ctype: str) -> str | None:
        """``base ** exponent`` in a form exact for this ``exponent`` (``x * x`` for 2), or
        ``None``: then :meth:`binary` of ``pow`` with the exponent read from ``K``."""
        ...

    def let(self, name: str, ctype: str, expr: str) -> str:
        """The statement binding ``name`` to ``expr``."""
        ...

    def round(self, expr: str, dtype: torch.dtype) -> str:
        """``expr`` rounded to ``dtype`` (a float16 value computed in float32), else itself."""
        ...


class Walk:
    """Statements for one graph: one per node, each binding ``PREFIX<N>``."""

    def __init__(
        self,
        gm: fx.GraphModule,
        inputs: Sequence[str],
        prefix: str,
        consts: list[float],
        dialect: Dialect,
    ) -> None:
        self.gm, self.prefix, self.consts, self.d = gm, prefix, consts, dialect
        self.names: dict[fx.Node, str] = {}
        self.lines: list[str] = []
        placeholders = gm.graph.find_nodes(op="placeholder")
        for i, (node, expr) in enumerate(zip(placeholders, inputs, strict=True)):
            # loaded once, first: the stores at the end may overwrite the buffer read here
            name = f"{prefix}in{i}"
            self.lines.append(dialect.let(name, self.type_of(node), expr))
            self.names[node] = name

    def type_of(self, node: fx.Node) -> str:
        return self.d.ctype(node.meta["val"].dtype)

    def const(self, value: Any, ctype: str) -> str:
        """A number of the graph, read at run time from ``K``, cast as torch casts a scalar."""
        self.consts.append(float(value))
        return self.d.const(len(self.consts) - 1, ctype)

    def operand(self, arg: Any, ctype: str, scalar_dtype: torch.dtype | None = None) -> str:
        """A node's value or a number, as ``ctype``; a number rounded to ``scalar_dtype`` first
        where torch rounds it (:data:`ROUNDS_SCALAR`)."""
        if isinstance(arg, fx.Node):
            name = self.names[arg]
            return name if self.type_of(arg) == ctype else self.d.cast(name, ctype)
        if isinstance(arg, (bool, int, float)):
            value = self.const(arg, ctype)
            return self.d.round(value, scalar_dtype) if scalar_dtype is not None else value
        raise Unsupported(f"an operand {arg!r} of type {type(arg).__name__}")

    def promoted(self, node: fx.Node) -> torch.dtype:
        """The dtype torch promotes a node's operands to (Python scalars do not promote)."""
        vals = [a.meta["val"] for a in node.args if isinstance(a, fx.Node)]
        scalars = [a for a in node.args if isinstance(a, (bool, int, float))]
        if len(vals) >= 2:
            return torch.promote_types(vals[0].dtype, vals[1].dtype)
        return torch.result_type(*vals, *scalars)

    def compute_type(self, node: fx.Node) -> str:
        """The type torch computes a node in: its operands' promoted dtype (scalars do not
        promote), else the result's."""
        packet = node.target.overloadpacket  # type: ignore[union-attr]
        if packet in COMPARE:
            return self.d.ctype(self.promoted(node))
        if packet in (_aten.logical_and, _aten.logical_or):
            return self.d.ctype(torch.bool)
        return self.type_of(node)

    def value(self, node: fx.Node, name: str, out: str, t: str) -> str:
        """The expression of ``node`` in its compute type ``t`` (``out``: its own type)."""
        d, packet, args = self.d, node.target.overloadpacket, node.args  # type: ignore[union-attr]
        if packet in IDENTITY:
            return self.operand(args[0], out)
        if packet is _aten._to_copy:
            if node.meta["val"].dtype == torch.bool:
                return d.nonzero(self.operand(args[0], self.type_of(args[0])))  # type: ignore[arg-type]
            return self.operand(args[0], out)
        if packet in (_aten.zeros_like, _aten.ones_like, _aten.full_like, _aten.scalar_tensor):
            fill: Any = {_aten.zeros_like: 0, _aten.ones_like: 1}.get(packet)
            if fill is None:
                fill = args[1] if packet is _aten.full_like else args[0]
            return self.const(fill, out)
        if packet in FACTORIES:
            fill = {_aten.zeros: 0, _aten.new_zeros: 0, _aten.ones: 1, _aten.new_ones: 1}.get(
                packet
            )
            return self.const(fill if fill is not None else args[-1], out)
        if packet is _aten.threshold_backward:  # (grad, x, threshold)
            g, x = self.operand(args[0], t), self.operand(args[1], t)
            le = d.binary(_aten.le, x, self.operand(args[2], t), t)
            return d.select(le, d.zero(t), g)  # type: ignore[arg-type]
        if packet is _aten.masked_fill:  # (x, mask, value)
            cond = self.operand(args[1], d.ctype(torch.bool))
            return d.select(cond, self.operand(args[2], t), self.operand(args[0], t))
        if packet is _aten.where:
            cond = self.operand(args[0], d.ctype(torch.bool))
            return d.select(cond, self.operand(args[1], t), self.operand(args[2], t))
        if packet in (_aten.clamp, _aten.clamp_min, _aten.clamp_max):
            return self.clamp(node, name, t)
        if packet is _aten.pow:  # by a constant: a cheaper form where one is exact
            base, exponent = self.operand(args[0], t), float(args[1])  # type: ignore[arg-type]
            special = d.power(base, exponent, t)
            if special is not None:
                return special
            return d.binary(packet, base, self.const(exponent, t), t)  # type: ignore[return-value]
        if len(args) == 1 or packet in (_aten.relu, _aten.sign, _aten.sgn):
            expr = d.unary(packet, self.operand(args[0], t), t)
        else:
            rounds = self.promoted(node) if packet in ROUNDS_SCALAR else None
            a, b = (self.operand(arg, t, rounds) for arg in args[:2])
            expr = d.binary(packet, a, b, t)
        if expr is None:  # pragma: no cover - _trace.POINTWISE and the dialects move together
            raise Unsupported(f"no form for {node.target}")
        return expr

    def clamp(self, node: fx.Node, name: str, t: str) -> str:
        """torch's ``min(max(x, lo), hi)``, where ``max(a, b) = a < b ? b : a`` keeps NaN and
        ``-0.0``: each bound applied to a named intermediate."""
        d, packet, args = self.d, node.target.overloadpacket, node.args  # type: ignore[union-attr]
        lo = args[1] if packet is not _aten.clamp_max else None
        hi = (
            (args[2] if len(args) > 2 else None)
            if packet is _aten.clamp
            else (args[1] if packet is _aten.clamp_max else None)
        )
        if packet is _aten.clamp:
            lo = node.kwargs.get("min", lo)
        expr = self.operand(args[0], t)
        if lo is not None:
            self.lines.append(d.let(f"{name}l", t, expr))
            low = self.operand(lo, t)
            expr = d.select(d.binary(_aten.lt, f"{name}l", low, t), low, f"{name}l")  # type: ignore[arg-type]
        if hi is not None:
            self.lines.append(d.let(f"{name}h", t, expr))
            high = self.operand(hi, t)
            expr = d.select(d.binary(_aten.lt, high, f"{name}h", t), high, f"{name}h")  # type: ignore[arg-type]
        return expr

    def node(self, node: fx.Node) -> None:
        name = f"{self.prefix}{len(self.names)}"
        out, t = self.type_of(node), self.compute_type(node)
        expr = self.value(node, name, out, t)
        if t != out:
            expr = self.d.cast(expr, out)
        self.lines.append(self.d.let(name, out, self.d.round(expr, node.meta["val"].dtype)))
        self.names[node] = name

    def emit(self) -> list[str]:
        for node in self.gm.graph.nodes:
            if node.op == "call_function":
                self.node(node)
            elif node.op == "get_attr":
                value = getattr(self.gm, node.target)  # type: ignore[arg-type]
                self.names[node] = self.const(value.item(), self.d.ctype(value.dtype))
        return self.lines

    def outputs(self) -> list[str]:
        return [
            self.names[arg] if isinstance(arg, fx.Node) else self.const(arg, self.d.ctype(dtype))
            for arg, dtype in zip(
                self.gm.graph.find_nodes(op="output")[0].args[0], self._out_dtypes(), strict=True
            )
        ]

    def _out_dtypes(self) -> list[torch.dtype]:
        outs = self.gm.graph.find_nodes(op="output")[0].args[0]
        return [
            a.meta["val"].dtype if isinstance(a, fx.Node) else torch.float64
            for a in outs  # a number output: a double constant, cast where it is stored
        ]


def state_only(gm: fx.GraphModule, ny: int) -> fx.GraphModule:
    """``gm`` with the outputs ``y`` dropped (the backward's recompute needs only the states)."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in gm.graph.nodes:
        if node.op == "output":
            graph.output(tuple(env[o] if isinstance(o, fx.Node) else o for o in node.args[0][ny:]))
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    graph.eliminate_dead_code()
    return fx.GraphModule(gm, graph)
