r"""Triton source generated from a traced :class:`~snnfunc.fused._trace.Plan`: the GPU kernels.

The same :class:`~snnfunc.fused._emit.Walk` as the C kernels, spelled in Triton: one program per
block of neurons, the state in registers, a loop over time inside the program::

    forward, program b:                         backward, program b:
      s = state[b]                                s = state[b]; W[0, b] = s
      for t < T:                                  for t < T - 1: s = F(s, x_t); W[t + 1, b] = s
        y_t[b], s = F(s, x_t[b], p[b])            gs = gs_T
      state_T[b] = s                              for t = T-1 .. 0:
                                                    gs, gx_t, gp += VJP(W[t, b], x_t, gy_t, gs)

``W`` is the backward's scratch ``[T, num_state, E]`` (freed when the backward returns: between
forward and backward nothing but the inputs is kept).

Storage dtypes float16 and bfloat16 are computed in float32 and every node's result is rounded
back to its dtype, as torch's eager ops do, so that the forward equals the eager step bit for bit
on the same graph of arithmetic, comparisons and selects; float32 and float64 are computed in
their own type. Division and ``sqrt`` are the correctly rounded ones (float32's ``/`` and
``tl.sqrt`` are approximate on the GPU: ``div.full.f32``, ``sqrt.approx``); ``exp``, ``log``,
``tanh`` and friends are Triton's and may differ from torch's in the last bits.
The kernels call only Triton builtins (``tl.full``, not the ``@jit`` library function
``tl.zeros``), so that one process can run them compiled and interpreted. Multiply-adds must not
be contracted where bit equality is claimed: kernels are launched with
``enable_fp_fusion=False`` (:mod:`snnfunc.fused._triton`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

from snnfunc.fused._emit import REDUCED, Walk, state_only
from snnfunc.fused._trace import Plan, Unsupported

__all__ = ["TritonDialect", "forward_source", "backward_source", "TRITON_TYPES", "signature"]

_aten = torch.ops.aten
_COMPUTE: dict[torch.dtype, str] = {
    torch.float16: "tl.float32",
    torch.bfloat16: "tl.float32",
    torch.float32: "tl.float32",
    torch.float64: "tl.float64",
    torch.bool: "tl.int1",
}
TRITON_TYPES: dict[torch.dtype, str] = {
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.float32: "fp32",
    torch.float64: "fp64",
    torch.bool: "i1",
}
"""Storage dtypes the Triton kernels take, with Triton's name (for ahead-of-time signatures)."""

_MIN = "tl.where({0} != {0}, {0}, tl.where({1} != {1}, {1}, tl.where({0} {op} {1}, {0}, {1})))"
_SIGN = "tl.where({0} != {0}, {0}, ({0} > 0).to({t}) - ({0} < 0).to({t}))"
_UNARY: dict[Any, str] = {
    _aten.neg: "(-{0})",
    _aten.reciprocal: "_div(1.0, {0})",
    _aten.exp: "tl.exp({0})",
    _aten.expm1: "_expm1({0})",
    _aten.log: "tl.log({0})",
    _aten.log1p: "_log1p({0})",
    _aten.sqrt: "_sqrt({0})",
    _aten.rsqrt: "_div(1.0, _sqrt({0}))",
    _aten.tanh: "_tanh({0})",
    _aten.sigmoid: "_div(1.0, 1.0 + tl.exp(-{0}))",
    _aten.abs: "tl.abs({0})",
    _aten.ceil: "tl.ceil({0})",
    _aten.floor: "tl.floor({0})",
    _aten.sign: _SIGN,
    _aten.sgn: _SIGN,
    _aten.erf: "tl.erf({0})",
    _aten.relu: "tl.where({0} < 0, 0.0, {0})",
    _aten.logical_not: "({0} == 0)",
    _aten.bitwise_not: "({0} == 0)",
}
_BINARY: dict[Any, str] = {
    _aten.add: "({0} + {1})",
    _aten.sub: "({0} - {1})",
    _aten.rsub: "({1} - {0})",
    _aten.mul: "({0} * {1})",
    _aten.div: "_div({0}, {1})",
    _aten.pow: "_pow({0}, {1})",
    _aten.gt: "({0} > {1})",
    _aten.ge: "({0} >= {1})",
    _aten.lt: "({0} < {1})",
    _aten.le: "({0} <= {1})",
    _aten.eq: "({0} == {1})",
    _aten.ne: "({0} != {1})",
    _aten.logical_and: "({0} & {1})",
    _aten.logical_or: "({0} | {1})",
    _aten.bitwise_and: "({0} & {1})",
    _aten.bitwise_or: "({0} | {1})",
    # ATen's backward formulas, in ATen's order of operations
    _aten.sigmoid_backward: "({0} * (1.0 - {1}) * {1})",
    _aten.tanh_backward: "({0} * (1.0 - {1} * {1}))",
    # NaN propagates, as in torch.minimum / torch.maximum
    _aten.minimum: _MIN.replace("{op}", "<"),
    _aten.maximum: _MIN.replace("{op}", ">"),
}


class TritonDialect:
    """:class:`~snnfunc.fused._emit.Dialect` of Triton on a block: ``name = expr``. Constants
    are loaded from ``K`` once, before the time loop (:attr:`preloads`)."""

    def __init__(self) -> None:
        self.preloads: list[str] = []

    def ctype(self, dtype: torch.dtype) -> str:
        if dtype not in _COMPUTE:
            raise Unsupported(f"a value of dtype {dtype} (Triton kernels: float16/32/64, bf16)")
        return _COMPUTE[dtype]

    def cast(self, expr: str, to: str) -> str:
        return f"{expr}.to({to})"

    def nonzero(self, expr: str) -> str:
        return f"({expr} != 0)"

    def const(self, index: int, ctype: str) -> str:
        load = f"tl.load(K + {index})"
        value = f"({load} != 0)" if ctype == "tl.int1" else f"{load}.to({ctype})"
        self.preloads.append(f"k{index} = {value}")
        return f"k{index}"

    def zero(self, ctype: str) -> str:
        return "0.0"

    def unary(self, packet: Any, a: str, ctype: str) -> str | None:
        form = _UNARY.get(packet)
        return None if form is None else form.format(a, t=ctype)

    def binary(self, packet: Any, a: str, b: str, ctype: str) -> str | None:
        form = _BINARY.get(packet)
        return None if form is None else form.format(a, b, t=ctype)

    def select(self, cond: str, a: str, b: str) -> str:
        return f"tl.where({cond}, {a}, {b})"

    def power(self, base: str, exponent: float, ctype: str) -> str | None:
        return {
            2.0: f"({base} * {base})",
            3.0: f"({base} * {base} * {base})",
            1.0: base,
            0.5: f"_sqrt({base})",
            -0.5: f"_div(1.0, _sqrt({base}))",
            -1.0: f"_div(1.0, {base})",
            -2.0: f"_div(1.0, {base} * {base})",
            0.0: f"tl.full({base}.shape, 1.0, {ctype})",
        }.get(exponent)

    def let(self, name: str, ctype: str, expr: str) -> str:
        return f"{name} = {expr}"

    def round(self, expr: str, dtype: torch.dtype) -> str:
        if dtype in REDUCED:
            return f"{expr}.to(tl.{str(dtype).removeprefix('torch.')}).to(tl.float32)"
        return expr


def _body(
    gm: fx.GraphModule,
    inputs: Sequence[str],
    stores: Callable[[list[str]], list[str]],
    prefix: str,
    indent: str,
    consts: list[float],
    dialect: TritonDialect,
) -> str:
    walk = Walk(gm, inputs, prefix, consts, dialect)
    lines = walk.emit() + stores(walk.outputs())
    return "\n".join(indent + line for line in lines)


_HEADER = """\
# Generated by snnfunc.fused from a traced step ({what}). Do not edit: regenerated on demand.
import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def _div(x, y):  # correctly rounded, as torch's: a float32 `/` is approximate on the GPU
    if y.dtype == tl.float32:
        q = tl.div_rn(x, y)
    else:
        q = x / y
    return q


@triton.jit
def _sqrt(x):  # correctly rounded (float32's tl.sqrt is approximate)
    if x.dtype == tl.float32:
        r = tl.sqrt_rn(x)
    else:
        r = tl.sqrt(x)
    return r

{functions}
"""
_LIBDEVICE = """
@triton.jit
def _tanh(x):
    return libdevice.tanh(x)


@triton.jit
def _expm1(x):
    return libdevice.expm1(x)


@triton.jit
def _log1p(x):
    return libdevice.log1p(x)


@triton.jit
def _pow(x, c):
    return libdevice.pow(x, c)

"""
# Triton's interpreter has no libdevice: there the same functions come from exp and log, with
# the classic accurate forms (Kahan's expm1 and log1p), a few ulps from libm's.
_PORTABLE = """
@triton.jit
def _expm1(x):
    u = tl.exp(x)
    d = u - 1.0
    r = tl.where(u == 1.0, x, d * x / tl.log(u))
    return tl.where((d == -1.0) | (u == float("inf")), d, r)


@triton.jit
def _log1p(x):
    u = x + 1.0
    d = u - 1.0
    r = tl.where(d == 0.0, x, tl.log(u) * (x / d))
    return tl.where(u == float("inf"), u, r)


@triton.jit
def _tanh(x):
    e = _expm1(-2.0 * tl.abs(x))
    t = -e / (e + 2.0)
    return tl.where(x < 0, -t, t)


@triton.jit
def _pow(x, c):
    r = tl.exp(c * tl.log(tl.abs(x)))
    odd = tl.where(tl.floor(c * 0.5) * 2.0 != c, -1.0, 1.0)  # a whole odd c: (-x)^c = -(x^c)
    return tl.where(x < 0, tl.where(c != tl.floor(c), float("nan"), r * odd), r)

"""


def _header(what: str, portable: bool) -> str:
    return (
        _HEADER.format(what=what, functions=_PORTABLE if portable else _LIBDEVICE)
        + "\n@triton.jit\n"
    )


def _block(expr: str) -> str:
    """``expr`` as a block (a constant output is a scalar; a loop-carried value must not be)."""
    return f"tl.where(m, {expr}, {expr})"


def _compute(dtypes: Sequence[torch.dtype]) -> list[str]:
    return [_COMPUTE[d] if d in _COMPUTE else "?" for d in dtypes]


def _param_dtypes(plan: Plan) -> list[torch.dtype]:
    return [leaf.dtype for leaf in plan.param_leaves if leaf.dtype is not None]


def _prologue(plan: Plan, dialect: TritonDialect, consts_at: int) -> list[str]:
    """The block's offsets, its constants, initial states and params (``ps``: 0 for a scalar
    param, read at every neuron, else 1)."""
    ns = plan.num_state
    sc, pc = _compute(plan.state_dtypes), _compute(_param_dtypes(plan))
    lines = [
        "pid = tl.program_id(0)",
        "offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
        "m = offs < E",
        *dialect.preloads[consts_at:],
        *(f"sv{i} = tl.load(s{i} + offs, mask=m, other=0).to({sc[i]})" for i in range(ns)),
        *(
            f"pv{i} = tl.load(p{i} + offs * ps{i}, mask=m, other=0).to({pc[i]})"
            for i in range(plan.num_params)
        ),
    ]
    return lines


def _x_loads(plan: Plan, indent: str) -> str:
    xc = _compute(plan.x_dtypes)
    return "\n".join(
        f"{indent}xv{i} = tl.load(xp{i}, mask=m, other=0).to({xc[i]})" for i in range(plan.num_x)
    )


def _indent(lines: Sequence[str], indent: str) -> str:
    return "\n".join(indent + line for line in lines)


def forward_source(plan: Plan, *, portable: bool = False) -> tuple[str, list[float]]:
    """``snnfunc_forward(*xs, *state_0, *params, *ys, *state_T, K, *ps, T, E, x_step, BLOCK)``:
    ``x_step`` is ``E`` (or 0 for a static input), ``ps`` the params' strides (0 or 1).
    ``portable``: for Triton's interpreter (no libdevice)."""
    ns, nx, npar, ny = plan.num_state, plan.num_x, plan.num_params, plan.num_y
    dialect = TritonDialect()
    consts: list[float] = []
    sc = _compute(plan.state_dtypes)
    inputs = [
        *(f"sv{i}" for i in range(ns)),
        *(f"xv{i}" for i in range(nx)),
        *(f"pv{i}" for i in range(npar)),
    ]

    def stores(outs: list[str]) -> list[str]:
        lines = [f"tl.store(yp{i}, {outs[i]}.to(y{i}.dtype.element_ty), mask=m)" for i in range(ny)]
        return lines + [f"sv{i} = {_block(outs[ny + i])}.to({sc[i]})" for i in range(ns)]

    body = _body(plan.forward, inputs, stores, "v", "        ", consts, dialect)
    args = [
        *(f"x{i}" for i in range(nx)),
        *(f"s{i}" for i in range(ns)),
        *(f"p{i}" for i in range(npar)),
        *(f"y{i}" for i in range(ny)),
        *(f"f{i}" for i in range(ns)),
        "K",
        *(f"ps{i}" for i in range(npar)),
        "T",
        "E",
        "x_step",
        "BLOCK: tl.constexpr",
    ]
    lines = [
        *_prologue(plan, dialect, 0),
        *(f"xp{i} = x{i} + offs" for i in range(nx)),
        *(f"yp{i} = y{i} + offs" for i in range(ny)),
    ]
    advance = [
        *(f"xp{i} += x_step" for i in range(nx)),
        *(f"yp{i} += E" for i in range(ny)),
    ]
    final = [f"tl.store(f{i} + offs, sv{i}.to(f{i}.dtype.element_ty), mask=m)" for i in range(ns)]
    source = (
        _header("forward", portable)
        + f"def snnfunc_forward({', '.join(args)}):\n"
        + _indent(lines, "    ")
        + "\n    for t in range(T):\n"
        + _x_loads(plan, "        ")
        + "\n"
        + body
        + "\n"
        + _indent(advance, "        ")
        + "\n"
        + _indent(final, "    ")
        + "\n"
    )
    return source, consts


def backward_source(
    plan: Plan, y_mask: tuple[bool, ...], s_mask: tuple[bool, ...], *, portable: bool = False
) -> tuple[str, list[float]]:
    """``snnfunc_backward(*xs, *state_0, *params, *gys[y_mask], *gstate_T[s_mask], *gxs,
    *gstate_0, *gparams, W, K, *ps, T, E, x_step, BLOCK, STATIC)``; ``W``: scratch
    ``[T, num_state, E]`` for the recomputed states. As in the C kernel, each step runs the
    VJP graph of the state cotangents present there (:meth:`Plan.mask_sequence`)."""
    ns, nx, npar, ny = plan.num_state, plan.num_x, plan.num_params, plan.num_y
    gy_idx = [i for i in range(ny) if y_mask[i]]
    dialect = TritonDialect()
    consts: list[float] = []
    sc, xc, pc = _compute(plan.state_dtypes), _compute(plan.x_dtypes), _compute(_param_dtypes(plan))
    fwd_inputs = [
        *(f"sv{i}" for i in range(ns)),
        *(f"xv{i}" for i in range(nx)),
        *(f"pv{i}" for i in range(npar)),
    ]

    def fwd_stores(outs: list[str]) -> list[str]:
        return [f"sv{i} = {_block(outs[i])}.to({sc[i]})" for i in range(ns)]

    recompute = _body(
        state_only(plan.forward, ny), fwd_inputs, fwd_stores, "v", "        ", consts, dialect
    )
    common = [
        *(f"st{i}" for i in range(ns)),
        *(f"xv{i}" for i in range(nx)),
        *(f"pv{i}" for i in range(npar)),
        *(f"gyv{j}" for j in range(len(gy_idx))),
    ]

    def bwd_stores(outs: list[str]) -> list[str]:
        lines = [f"gs{i} = {_block(outs[i])}.to({sc[i]})" for i in range(ns)]
        lines += [f"dx{i} = {_block(outs[ns + i])}.to({xc[i]})" for i in range(nx)]
        lines += [f"dp{i} = {_block(outs[ns + nx + i])}.to({pc[i]})" for i in range(npar)]
        return lines

    masks = plan.mask_sequence(y_mask, s_mask)
    pad = "        " if len(masks) == 1 else "            "
    variants = []
    for j, mask in enumerate(masks):
        if not any(y_mask) and not any(mask):  # nothing reaches these steps: gx = 0
            zero = [f"gs{i} = gs{i}" for i in range(ns)]
            zero += [f"dx{i} = tl.full([BLOCK], 0, {xc[i]})" for i in range(nx)]
            zero += [f"dp{i} = tl.full([BLOCK], 0, {pc[i]})" for i in range(npar)]
            variants.append(_indent(zero, pad))
            continue
        gs_in = [f"gs{i}" for i in range(ns) if mask[i]]
        graph = plan.backward(y_mask, mask)
        variants.append(_body(graph, common + gs_in, bwd_stores, f"b{j}_", pad, consts, dialect))
    branches = []  # steps T-1, T-2, ... (i = 0, 1, ...) take masks[0], masks[1], ...; then the last
    for j, body in enumerate(variants):
        if len(variants) == 1:
            branches.append(body)
            break
        head = "if" if j == 0 else "elif"
        cond = f"{head} i == {j}:" if j < len(variants) - 1 else "else:"
        branches.append(f"        {cond}\n{body}")
    reverse = "\n".join(branches)
    args = [
        *(f"x{i}" for i in range(nx)),
        *(f"s{i}" for i in range(ns)),
        *(f"p{i}" for i in range(npar)),
        *(f"gy{j}" for j in range(len(gy_idx))),
        *(f"gt{i}" for i in range(ns) if s_mask[i]),
        *(f"gx{i}" for i in range(nx)),
        *(f"g0{i}" for i in range(ns)),
        *(f"gp{i}" for i in range(npar)),
        "W",
        "K",
        *(f"ps{i}" for i in range(npar)),
        "T",
        "E",
        "x_step",
        "BLOCK: tl.constexpr",
        "STATIC: tl.constexpr",
    ]
    start = [
        *_prologue(plan, dialect, 0),
        "wp = W + offs",
        *(f"tl.store(wp + {i} * E, sv{i}.to(W.dtype.element_ty), mask=m)" for i in range(ns)),
        *(f"xp{i} = x{i} + offs" for i in range(nx)),
    ]
    recompute_loop = (
        "    for t in range(T - 1):\n"
        + _x_loads(plan, "        ")
        + "\n"
        + recompute
        + "\n"
        + _indent(
            [
                f"wp += {ns} * E",
                *(
                    f"tl.store(wp + {i} * E, sv{i}.to(W.dtype.element_ty), mask=m)"
                    for i in range(ns)
                ),
                *(f"xp{i} += x_step" for i in range(nx)),
            ],
            "        ",
        )
    )
    present = [i for i in range(ns) if s_mask[i]]
    last = "(T - 1).to(tl.int64)"
    reverse_start = [
        *(
            f"gs{i} = tl.load(gt{i} + offs, mask=m, other=0).to({sc[i]})"
            if i in present
            else f"gs{i} = tl.full([BLOCK], 0, {sc[i]})"
            for i in range(ns)
        ),
        *(f"ga{i} = tl.full([BLOCK], 0, {pc[i]})" for i in range(npar)),
        *(f"gxa{i} = tl.full([BLOCK], 0, {xc[i]})" for i in range(nx)),
        *(f"xp{i} = x{i} + offs + {last} * x_step" for i in range(nx)),
        *(f"gyp{j} = gy{j} + offs + {last} * E" for j in range(len(gy_idx))),
        *(f"gxp{i} = gx{i} + offs + {last} * x_step" for i in range(nx)),
    ]
    gy_types = [_COMPUTE[plan.y_dtypes[i]] for i in gy_idx]
    loads = [
        *(f"st{i} = tl.load(wp + {i} * E, mask=m, other=0).to({sc[i]})" for i in range(ns)),
        *(
            f"gyv{j} = tl.load(gyp{j}, mask=m, other=0).to({gy_types[j]})"
            for j in range(len(gy_idx))
        ),
    ]
    after = [
        *(
            f"if STATIC:\n            gxa{i} += dx{i}\n        else:\n"
            f"            tl.store(gxp{i}, dx{i}.to(gx{i}.dtype.element_ty), mask=m)"
            for i in range(nx)
        ),
        *(f"ga{i} += dp{i}" for i in range(npar)),
        f"wp -= {ns} * E",
        *(f"xp{i} -= x_step" for i in range(nx)),
        *(f"gyp{j} -= E" for j in range(len(gy_idx))),
        *(f"gxp{i} -= x_step" for i in range(nx)),
    ]
    end = [
        *(f"tl.store(g0{i} + offs, gs{i}.to(g0{i}.dtype.element_ty), mask=m)" for i in range(ns)),
        *(f"tl.store(gp{i} + offs, ga{i}.to(gp{i}.dtype.element_ty), mask=m)" for i in range(npar)),
        *(
            f"if STATIC:\n        tl.store(gx{i} + offs, gxa{i}.to(gx{i}.dtype.element_ty), mask=m)"
            for i in range(nx)
        ),
    ]
    source = (
        _header("backward", portable)
        + f"def snnfunc_backward({', '.join(args)}):\n"
        + _indent(start, "    ")
        + "\n"
        + recompute_loop
        + "\n"
        + _indent(reverse_start, "    ")
        + "\n    for i in range(T):\n"
        + _x_loads(plan, "        ")
        + "\n"
        + _indent(loads, "        ")
        + "\n"
        + reverse
        + "\n"
        + _indent(after, "        ")
        + "\n"
        + _indent(end, "    ")
        + "\n"
    )
    return source, consts


def signature(plan: Plan, kind: str, dtype: torch.dtype, masks: Any = None) -> dict[str, str]:
    """The kernel's argument types for ahead-of-time compilation (``triton.compile``), every
    float leaf stored as ``dtype`` (spikes and other outputs as their own dtype)."""
    ns, nx, npar, ny = plan.num_state, plan.num_x, plan.num_params, plan.num_y
    t = TRITON_TYPES[dtype]
    sig: dict[str, str] = {}
    sig.update({f"x{i}": f"*{t}" for i in range(nx)})
    sig.update({f"s{i}": f"*{t}" for i in range(ns)})
    sig.update({f"p{i}": f"*{t}" for i in range(npar)})
    if kind == "forward":
        sig.update({f"y{i}": f"*{_y_type(plan.y_dtypes[i], dtype)}" for i in range(ny)})
        sig.update({f"f{i}": f"*{t}" for i in range(ns)})
    else:
        y_mask, s_mask = masks
        sig.update({f"gy{j}": f"*{t}" for j in range(sum(y_mask))})
        sig.update({f"gt{i}": f"*{t}" for i in range(ns) if s_mask[i]})
        sig.update({f"gx{i}": f"*{t}" for i in range(nx)})
        sig.update({f"g0{i}": f"*{t}" for i in range(ns)})
        sig.update({f"gp{i}": f"*{t}" for i in range(npar)})
        sig["W"] = f"*{t}"
    sig["K"] = "*fp64"
    sig.update({f"ps{i}": "i32" for i in range(npar)})
    sig.update({"T": "i32", "E": "i32", "x_step": "i32", "BLOCK": "constexpr"})
    if kind == "backward":
        sig["STATIC"] = "constexpr"
    return sig


def _y_type(y: torch.dtype, dtype: torch.dtype) -> str:
    return "i1" if y == torch.bool else TRITON_TYPES[dtype]
