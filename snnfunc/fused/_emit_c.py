# ruff: noqa: E501  (the C templates below are kept one C line per line)
r"""C source generated from a traced :class:`~snnfunc.fused._trace.Plan`: the CPU kernels.

Each ATen node of a graph becomes one C statement on one element, inside a ``#pragma omp simd``
loop over a chunk of neurons; the time loop runs inside the chunk, the state stays in a
chunk-local buffer, chunks are shared among OpenMP threads::

    for chunk of neurons (threads):          for chunk (threads):
      s = state[chunk]                          recompute s_0 .. s_{T-1} into scratch [T, chunk]
      for t < T:                                gs = gs_T
        for k in chunk (simd):                  for t = T-1 .. 0:
          y_t[k], s[k] = F(s[k], x_t[k], p[k])    for k (simd): gs, gx_t, gp += VJP(s_t, x_t, gy_t, gs)
      state_T[chunk] = s                        gstate_0, gparams = gs, gp

Arithmetic is emitted as the same IEEE operations, in the same order and precision as torch's
eager CPU kernels (Python scalars rounded to the tensor's type, ``-ffp-contract=off``), so the
forward of a graph of arithmetic, comparisons, ``where``, ``abs``, ``clamp``, ``minimum`` and
``maximum`` equals the eager step bit for bit. ``exp``, ``log``, ``tanh``, ``sigmoid`` and
friends call libm, whose last bit may differ from torch's vectorised (Sleef) versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

from snnfunc.fused._emit import Walk, state_only
from snnfunc.fused._trace import Plan, Unsupported

__all__ = ["forward_source", "backward_source", "C_TYPES", "CDialect"]

_aten = torch.ops.aten
C_TYPES: dict[torch.dtype, str] = {
    torch.float32: "float",
    torch.float64: "double",
    torch.bool: "bool",
}


# ATen overload packet -> C expression of the (already cast) operands; {t} is the compute type,
# {f} the libm suffix ("f" for float).
_UNARY: dict[Any, str] = {
    _aten.neg: "(-{0})",
    _aten.reciprocal: "(({t})1 / {0})",
    _aten.exp: "exp{f}({0})",
    _aten.expm1: "expm1{f}({0})",
    _aten.log: "log{f}({0})",
    _aten.log1p: "log1p{f}({0})",
    _aten.sqrt: "sqrt{f}({0})",
    _aten.rsqrt: "(({t})1 / sqrt{f}({0}))",
    _aten.tanh: "tanh{f}({0})",
    _aten.sigmoid: "(({t})1 / (({t})1 + exp{f}(-{0})))",
    _aten.abs: "fabs{f}({0})",
    _aten.ceil: "ceil{f}({0})",
    _aten.floor: "floor{f}({0})",
    _aten.sign: "({0} != {0} ? {0} : ({t})(({0} > 0) - ({0} < 0)))",
    _aten.sgn: "({0} != {0} ? {0} : ({t})(({0} > 0) - ({0} < 0)))",
    _aten.erf: "erf{f}({0})",
    _aten.relu: "({0} < ({t})0 ? ({t})0 : {0})",
    _aten.logical_not: "(!{0})",
    _aten.bitwise_not: "(!{0})",
}
_BINARY: dict[Any, str] = {
    _aten.add: "({0} + {1})",
    _aten.sub: "({0} - {1})",
    _aten.rsub: "({1} - {0})",
    _aten.mul: "({0} * {1})",
    _aten.div: "({0} / {1})",
    _aten.pow: "pow{f}({0}, {1})",  # a constant exponent (the exact forms: CDialect.power)
    _aten.gt: "({0} > {1})",
    _aten.ge: "({0} >= {1})",
    _aten.lt: "({0} < {1})",
    _aten.le: "({0} <= {1})",
    _aten.eq: "({0} == {1})",
    _aten.ne: "({0} != {1})",
    _aten.logical_and: "({0} && {1})",
    _aten.logical_or: "({0} || {1})",
    _aten.bitwise_and: "({0} && {1})",
    _aten.bitwise_or: "({0} || {1})",
    # ATen's backward formulas, in ATen's order of operations
    _aten.sigmoid_backward: "({0} * (({t})1 - {1}) * {1})",
    _aten.tanh_backward: "({0} * (({t})1 - {1} * {1}))",
    # NaN propagates, as in torch.minimum / torch.maximum
    _aten.minimum: "({0} != {0} ? {0} : {1} != {1} ? {1} : {0} < {1} ? {0} : {1})",
    _aten.maximum: "({0} != {0} ? {0} : {1} != {1} ? {1} : {0} > {1} ? {0} : {1})",
}


class CDialect:
    """:class:`~snnfunc.fused._emit.Dialect` of C99 on one element: ``const T v = ...;``."""

    def ctype(self, dtype: torch.dtype) -> str:
        if dtype not in C_TYPES:
            raise Unsupported(f"a value of dtype {dtype} (the C kernel: float32, float64, bool)")
        return C_TYPES[dtype]

    def cast(self, expr: str, to: str) -> str:
        return f"(({to}){expr})"

    def nonzero(self, expr: str) -> str:
        return f"({expr} != 0)"

    def const(self, index: int, ctype: str) -> str:
        return f"(({ctype})K[{index}])"

    def zero(self, ctype: str) -> str:
        return f"({ctype})0"

    def unary(self, packet: Any, a: str, ctype: str) -> str | None:
        form = _UNARY.get(packet)
        return None if form is None else form.format(a, t=ctype, f=_suffix(ctype))

    def binary(self, packet: Any, a: str, b: str, ctype: str) -> str | None:
        form = _BINARY.get(packet)
        return None if form is None else form.format(a, b, t=ctype, f=_suffix(ctype))

    def select(self, cond: str, a: str, b: str) -> str:
        return f"({cond} ? {a} : {b})"

    def power(self, base: str, exponent: float, ctype: str) -> str | None:
        f = _suffix(ctype)
        return {
            2.0: f"({base} * {base})",
            3.0: f"({base} * {base} * {base})",
            1.0: base,
            0.5: f"sqrt{f}({base})",
            -0.5: f"(({ctype})1 / sqrt{f}({base}))",
            -1.0: f"(({ctype})1 / {base})",
            -2.0: f"(({ctype})1 / ({base} * {base}))",
            0.0: f"(({ctype})1)",
        }.get(exponent)

    def let(self, name: str, ctype: str, expr: str) -> str:
        return f"const {ctype} {name} = {expr};"

    def round(self, expr: str, dtype: torch.dtype) -> str:
        return expr  # float32 and float64 only: every C operation already rounds to its type


def _suffix(ctype: str) -> str:
    """libm's suffix: ``expf`` for float, ``exp`` for double."""
    return "f" if ctype == "float" else ""


def _body(
    gm: fx.GraphModule,
    inputs: Sequence[str],
    stores: Callable[[list[str]], list[str]],
    prefix: str,
    indent: str,
    consts: list[float],
) -> str:
    walk = Walk(gm, inputs, prefix, consts, CDialect())
    lines = walk.emit()
    lines += stores(walk.outputs())
    return "\n".join(indent + line for line in lines)


_HEADER = """\
// Generated by snnfunc.fused from a traced step ({what}). Do not edit: regenerated on demand.
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
typedef {S} S;
static inline int64_t min64(int64_t a, int64_t b) {{ return a < b ? a : b; }}
"""


def _load_chunk(nx: int, ns: int, npar: int) -> str:
    """At a chunk's start: its initial states into ``sb``, its params into ``pb`` (a scalar
    param broadcast). Shared by the forward and the backward, whose pointers both start
    ``*xs, *state_0, *params``."""
    states = [
        f"      for (int64_t k = 0; k < n; ++k) sb[{i} * chunk + k] = ((const S*)ptr[{nx + i}])[j0 + k];"
        for i in range(ns)
    ]
    params = [
        f"      {{ const S* src = (const S*)p[{i}]; S* dst = pb + {i} * chunk;\n"
        f"        if (pscalar[{i}]) for (int64_t k = 0; k < n; ++k) dst[k] = src[0];\n"
        f"        else for (int64_t k = 0; k < n; ++k) dst[k] = src[j0 + k]; }}"
        for i in range(npar)
    ]
    return "\n".join(states) + "\n" + "\n".join(params)


def _x_pointers(nx: int) -> str:
    """Step ``t``'s input rows of the chunk (a static input is read at every step)."""
    return "\n".join(
        f"        const S* x{i} = (const S*)ptr[{i}] + (x_static ? 0 : t * E) + j0;"
        for i in range(nx)
    )


def forward_source(plan: Plan, dtype: torch.dtype) -> tuple[str, list[float]]:
    """``snnfunc_forward(T, E, chunk, nthreads, x_static, pscalar, ptrs)``; ``ptrs``:
    ``*xs, *state_0, *params, *ys, *state_T``."""
    ns, nx, npar, ny = plan.num_state, plan.num_x, plan.num_params, plan.num_y
    inputs = [
        *(f"sb[{i} * chunk + k]" for i in range(ns)),
        *(f"x{i}[k]" for i in range(nx)),
        *(f"pb[{i} * chunk + k]" for i in range(npar)),
    ]

    def stores(outs: list[str]) -> list[str]:
        lines = [f"y{i}[k] = (S){outs[i]};" for i in range(ny)]
        return lines + [f"sb[{i} * chunk + k] = (S){outs[ny + i]};" for i in range(ns)]

    consts: list[float] = []
    body = _body(plan.forward, inputs, stores, "v", "          ", consts)
    # pointer order: xs, state_0, params, ys, state_T
    y_ptr = [f"        S* y{i} = (S*)ptr[{nx + ns + npar + i}] + t * E + j0;" for i in range(ny)]
    source = (
        _HEADER.format(what="forward", S=C_TYPES[dtype])
        + f"""
void snnfunc_forward(int64_t T, int64_t E, int64_t chunk, int64_t nthreads, int64_t x_static,
                     const int64_t* pscalar, void** ptr, const double* K) {{
  void** p = ptr + {nx + ns};
  const int64_t nchunks = (E + chunk - 1) / chunk;
#pragma omp parallel num_threads(nthreads)
  {{
    S* sb = (S*)malloc(sizeof(S) * chunk * {ns + npar});
    S* pb = sb + {ns} * chunk;
#pragma omp for schedule(dynamic)
    for (int64_t c = 0; c < nchunks; ++c) {{
      const int64_t j0 = c * chunk, n = min64(chunk, E - j0);
{_load_chunk(nx, ns, npar)}
      for (int64_t t = 0; t < T; ++t) {{
{_x_pointers(nx)}
{chr(10).join(y_ptr)}
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) {{
{body}
        }}
      }}
{chr(10).join(f"      for (int64_t k = 0; k < n; ++k) ((S*)ptr[{nx + ns + npar + ny + i}])[j0 + k] = sb[{i} * chunk + k];" for i in range(ns))}
    }}
    free(sb);
  }}
}}
"""
    )
    return source, consts


def backward_source(
    plan: Plan, dtype: torch.dtype, y_mask: tuple[bool, ...], s_mask: tuple[bool, ...]
) -> tuple[str, list[float]]:
    """``snnfunc_backward(T, E, chunk, nthreads, x_static, pscalar, ptrs)``; ``ptrs``:
    ``*xs, *state_0, *params, *gys[y_mask], *gstate_T[s_mask], *gxs, *gstate_0, *gparams``.

    Scratch per chunk: the recomputed states ``[T, ns, chunk]``. Each step runs the VJP graph
    of the state cotangents present there (:meth:`Plan.mask_sequence`): a gradient autograd
    never computes is absent, not zero (no ``0 * nan`` terms).
    """
    ns, nx, npar, ny = plan.num_state, plan.num_x, plan.num_params, plan.num_y
    gy_idx = [i for i in range(ny) if y_mask[i]]
    n_gs_last = sum(s_mask)
    base_gy = nx + ns + npar
    base_gs = base_gy + len(gy_idx)
    base_gx = base_gs + n_gs_last
    base_g0 = base_gx + nx
    base_gp = base_g0 + ns
    fwd_inputs = [
        *(f"sb[{i} * chunk + k]" for i in range(ns)),
        *(f"x{i}[k]" for i in range(nx)),
        *(f"pb[{i} * chunk + k]" for i in range(npar)),
    ]

    def fwd_stores(outs: list[str]) -> list[str]:
        return [f"sb[{i} * chunk + k] = (S){outs[i]};" for i in range(ns)]

    consts: list[float] = []
    recompute = _body(
        state_only(plan.forward, ny), fwd_inputs, fwd_stores, "v", "          ", consts
    )
    bwd_inputs_common = [
        *(f"st[{i} * chunk + k]" for i in range(ns)),
        *(f"x{i}[k]" for i in range(nx)),
        *(f"pb[{i} * chunk + k]" for i in range(npar)),
        *(f"gy{j}[k]" for j in range(len(gy_idx))),
    ]

    def bwd_stores(outs: list[str]) -> list[str]:
        lines = [f"gsb[{i} * chunk + k] = (S){outs[i]};" for i in range(ns)]
        lines += [
            f"if (x_static) gxb[{i} * chunk + k] += (S){outs[ns + i]}; else gx{i}[k] = (S){outs[ns + i]};"
            for i in range(nx)
        ]
        lines += [f"gpb[{i} * chunk + k] += (S){outs[ns + nx + i]};" for i in range(npar)]
        return lines

    # one VJP graph per distinct presence of the state cotangents: steps T-1, T-2, ... take
    # masks[0], masks[1], ...; every earlier step takes the last (a fixed point)
    masks = plan.mask_sequence(y_mask, s_mask)
    variants = []
    for j, mask in enumerate(masks):
        if not any(y_mask) and not any(mask):  # nothing reaches these steps: gx = 0
            zero = [f"if (!x_static) gx{i}[k] = 0;" for i in range(nx)]
            variants.append("\n".join("            " + line for line in zero))
            continue
        gs_in = [f"gsb[{i} * chunk + k]" for i in range(ns) if mask[i]]
        variants.append(
            _body(
                plan.backward(y_mask, mask),
                bwd_inputs_common + gs_in,
                bwd_stores,
                f"b{j}_",
                "            ",
                consts,
            )
        )
    branches = []
    for j, body in enumerate(variants):
        head = "" if j == 0 else "else "
        cond = "" if j == len(variants) - 1 else f"if (T - 1 - t == {j}) "
        branches.append(
            f"        {head}{cond}{{\n#pragma omp simd\n          for (int64_t k = 0; k < n; ++k) {{\n"
            f"{body}\n          }}\n        }}"
        )
    reverse_body = "\n".join(branches)
    x_ptr = _x_pointers(nx)
    gy_ptr = "\n".join(
        f"        const S* gy{j} = (const S*)ptr[{base_gy + j}] + t * E + j0;"
        for j in range(len(gy_idx))
    )
    gx_ptr = "\n".join(
        f"        S* gx{i} = (S*)ptr[{base_gx + i}] + (x_static ? 0 : t * E) + j0;"
        for i in range(nx)
    )
    gs_init = "\n".join(
        f"      for (int64_t k = 0; k < n; ++k) gsb[{i} * chunk + k] = ((const S*)ptr[{base_gs + j}])[j0 + k];"
        for j, i in enumerate(i for i in range(ns) if s_mask[i])
    )
    source = (
        _HEADER.format(what="backward", S=C_TYPES[dtype])
        + f"""
void snnfunc_backward(int64_t T, int64_t E, int64_t chunk, int64_t nthreads, int64_t x_static,
                      const int64_t* pscalar, void** ptr, const double* K) {{
  void** p = ptr + {nx + ns};
  const int64_t nchunks = (E + chunk - 1) / chunk;
#pragma omp parallel num_threads(nthreads)
  {{
    S* sb = (S*)malloc(sizeof(S) * chunk * ({ns} * (T + 2) + {npar} * 2 + {nx} + 1));
    S* pb = sb + {ns} * chunk;
    S* gsb = pb + {npar} * chunk;
    S* gpb = gsb + {ns} * chunk;
    S* gxb = gpb + {npar} * chunk;
    S* scratch = gxb + {nx} * chunk;
#pragma omp for schedule(dynamic)
    for (int64_t c = 0; c < nchunks; ++c) {{
      const int64_t j0 = c * chunk, n = min64(chunk, E - j0);
{_load_chunk(nx, ns, npar)}
      for (int64_t k = 0; k < {npar} * chunk; ++k) gpb[k] = 0;
      for (int64_t k = 0; k < {nx} * chunk; ++k) gxb[k] = 0;
      for (int64_t k = 0; k < {ns} * chunk; ++k) gsb[k] = 0;  // absent gradients stay 0
      for (int64_t t = 0; t < T; ++t) {{
        S* st = scratch + t * {ns} * chunk;
        for (int64_t k = 0; k < {ns} * chunk; ++k) st[k] = sb[k];
        if (t == T - 1) break;
{x_ptr}
#pragma omp simd
        for (int64_t k = 0; k < n; ++k) {{
{recompute}
        }}
      }}
{gs_init}
      for (int64_t t = T - 1; t >= 0; --t) {{
        const S* st = scratch + t * {ns} * chunk;
{x_ptr}
{gy_ptr}
{gx_ptr}
{reverse_body}
      }}
{chr(10).join(f"      for (int64_t k = 0; k < n; ++k) ((S*)ptr[{base_g0 + i}])[j0 + k] = gsb[{i} * chunk + k];" for i in range(ns))}
{chr(10).join(f"      for (int64_t k = 0; k < n; ++k) ((S*)ptr[{base_gp + i}])[j0 + k] = gpb[{i} * chunk + k];" for i in range(npar))}
{chr(10).join(f"      if (x_static) for (int64_t k = 0; k < n; ++k) ((S*)ptr[{base_gx + i}])[j0 + k] = gxb[{i} * chunk + k];" for i in range(nx))}
    }}
    free(sb);
  }}
}}
"""
    )
    return source, consts
