r"""The fused scan as two torch operators: ``snnfunc::fused_scan`` and its backward.

Registered with :mod:`torch.library`, so that autograd, ``torch.func`` (``grad``, ``vjp``,
``vmap``, ``vmap(grad)``) and ``torch.compile`` see one operator (with a fake implementation for
tracing) instead of falling back to a Python loop. Operands are flat lists of leaves::

    fused_scan(key, T, static, xs, state, params) -> [*ys [T, *E], *state_T [*E]]
    fused_scan_backward(key, T, static, xs, state, params, gys, gstate_T)
        -> [*gxs, *gstate_0, *gparams [*E]]

``key`` names a registered :class:`~snnfunc.fused._trace.Plan` and backend; every leaf has the
element shape ``[*E]`` (``xs``: ``[T, *E]``, or ``[*E]`` when ``static``), a param may be 0-d.
The implementation runs the generated C kernel (:mod:`snnfunc.fused._emit_c`) for float32 and
float64 CPU tensors, and the graph executor (:mod:`snnfunc.fused._graph`) otherwise: both derive
from the one traced step.
"""

from __future__ import annotations

import ctypes
import functools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from snnfunc.fused import _build, _emit_c, _graph, _triton
from snnfunc.fused._trace import Plan, Unsupported

__all__ = ["Entry", "register", "fused_scan", "kernel_reason", "triton_reason", "LAST_RUN"]


@dataclass(frozen=True)
class Entry:
    """A registered plan and the backend asked for (``"auto"``, ``"kernel"``, ``"triton"``
    or ``"torch"``)."""

    plan: Plan
    backend: str


_ENTRIES: dict[str, Entry] = {}
_KERNELS: dict[tuple[Any, ...], Any] = {}
LAST_RUN: dict[str, str] = {}
"""What the last forward and backward ran: ``{"forward": "kernel" | "triton" | "torch", ...}``."""


def register(key: str, entry: Entry) -> None:
    _ENTRIES[key] = entry


def entry(key: str) -> Entry:
    return _ENTRIES[key]


def kernel_reason(plan: Plan, tensors: Sequence[Tensor]) -> str | None:
    """Why the C kernel cannot run these (plain) tensors, or ``None`` when it can."""
    reason = _build.disabled_reason()
    if reason is not None:
        return reason
    dtype = tensors[0].dtype
    if dtype not in (torch.float32, torch.float64):
        return f"the C kernel handles float32 and float64, got {dtype}"
    if any(t.device.type != "cpu" for t in tensors):
        return f"the C kernel runs on CPU, got {tensors[0].device}"
    if any(t.dtype != dtype for t in tensors) or any(d != dtype for d in plan.y_dtypes):
        return "the C kernel needs one dtype for every input, state, param and output"
    return None


def _kernel(plan: Plan, dtype: torch.dtype, kind: str, masks: Any = None) -> Any:
    """The compiled kernel, or the reason (a str) it failed to build."""
    key = (id(plan), dtype, kind, masks)
    if key not in _KERNELS:
        try:
            if kind == "forward":
                source, consts = _emit_c.forward_source(plan, dtype)
            else:
                source, consts = _emit_c.backward_source(plan, dtype, *masks)
            name = f"fused {kind} ({plan.describe()}, {str(dtype).removeprefix('torch.')})"
            fn = _build.compile_kernel(source, name, f"snnfunc_{kind}")
            array = (ctypes.c_double * max(1, len(consts)))(*consts)
            _KERNELS[key] = ((fn, array), plan)
        except (Unsupported, OSError) as err:
            _KERNELS[key] = (f"{type(err).__name__}: {err}", plan)
    return _KERNELS[key][0]


def kernel_build_error(plan: Plan, dtype: torch.dtype) -> str | None:
    """Why the forward kernel of ``plan`` failed to build (building it if needed), or ``None``."""
    fn = _kernel(plan, dtype, "forward")
    return fn if isinstance(fn, str) else None


_NOTICED: set[str] = set()


def _notice_once(plan: Plan, tensors: Sequence[Tensor]) -> None:
    """One line on stderr, once per process, when float32/float64 CPU work that the kernel
    would run falls back to the graph executor because no kernel can be built (no compiler,
    a failed build); ``SNNFUNC_NO_EXT=1`` is a choice and stays silent."""
    reason = kernel_reason(plan, tensors)
    if reason is None:
        built = kernel_build_error(plan, tensors[0].dtype)
        reason = built
    if reason is None or reason.startswith(("disabled by", "the C kernel")):
        return
    if reason not in _NOTICED:
        _NOTICED.add(reason)
        print(f"snnfunc: fused scans run without a C kernel ({reason})", file=sys.stderr)


def _launch_shape(num_steps: int, elements: int, itemsize: int, num_state: int) -> tuple[int, int]:
    """``(chunk, threads)``: chunks of neurons with long contiguous rows, whose backward scratch
    (the states of all T steps) stays within ~2 MiB; one thread for small problems."""
    per_neuron = (num_state * (num_steps + 2) + 4) * itemsize
    chunk = max(64, min(4096, ((2 << 20) // per_neuron) // 16 * 16))
    big = num_steps * elements >= 32768
    threads = max(1, min(torch.get_num_threads() if big else 1, -(-elements // chunk)))
    return chunk, threads


def _call(
    fn: Any,
    num_steps: int,
    static: bool,
    params: Sequence[Tensor],
    ptrs: list[Tensor | None],
    elements: int,
    itemsize: int,
    num_state: int,
) -> None:
    chunk, threads = _launch_shape(num_steps, elements, itemsize, num_state)
    scalar = (ctypes.c_int64 * max(1, len(params)))(*(int(p.numel() == 1) for p in params))
    array = (ctypes.c_void_p * len(ptrs))(*(t.data_ptr() if t is not None else None for t in ptrs))
    kernel, consts = fn
    kernel(
        ctypes.c_int64(num_steps),
        ctypes.c_int64(elements),
        ctypes.c_int64(chunk),
        ctypes.c_int64(threads),
        ctypes.c_int64(int(static)),
        scalar,
        array,
        consts,
    )


_HUGE = 2 << 20  # a transparent huge page on x86-64 Linux
_MADV_HUGEPAGE = 14


@functools.cache
def _madvise() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def empty(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> Tensor:
    """``torch.empty(shape, dtype=dtype)``, backed by transparent huge pages when large.

    A kernel's large outputs are written once, fresh: with 4 KiB pages their first-touch page
    faults (the kernel zeroing each page) cost more than the kernel's own work (measured: a
    52 MB buffer takes 16 ms to fault in and 2.3 ms to fill). A 2 MiB-aligned region advised
    ``MADV_HUGEPAGE`` faults 512 times less often.
    """
    numel = math.prod(shape)
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    madvise = _madvise()
    if nbytes < 2 * _HUGE or madvise is None:
        return torch.empty(shape, dtype=dtype)
    raw = torch.empty(nbytes + _HUGE, dtype=torch.uint8)
    offset = -raw.data_ptr() % _HUGE
    madvise(raw.data_ptr() + offset, (nbytes // _HUGE) * _HUGE, _MADV_HUGEPAGE)
    return raw[offset : offset + nbytes].view(dtype).view(shape)


def _fresh(outs: list[Tensor], inputs: Sequence[Tensor]) -> list[Tensor]:
    """Outputs that alias no input (an operator may not return its inputs' storage)."""
    taken = {t.untyped_storage().data_ptr() for t in inputs}
    return [o.clone() if o.untyped_storage().data_ptr() in taken else o.contiguous() for o in outs]


def _wants_triton(e: Entry, like: Tensor) -> bool:
    """Whether this call is the Triton backend's: asked for, or ``"auto"`` on a CUDA tensor."""
    return e.backend == "triton" or (e.backend == "auto" and like.device.type == "cuda")


def triton_reason(e: Entry, tensors: Sequence[Tensor]) -> str | None:
    """Why the Triton kernels cannot run these tensors for ``e``, or ``None``."""
    return _triton.reason(e.plan, tensors)


def _notice_triton(e: Entry, tensors: Sequence[Tensor]) -> None:
    """One line on stderr, once per reason, when CUDA work runs the graph executor because
    the Triton kernels cannot (Triton missing)."""
    reason = triton_reason(e, tensors)
    if reason is not None and reason not in _NOTICED:
        _NOTICED.add(reason)
        print(f"snnfunc: fused scans on CUDA run without Triton ({reason})", file=sys.stderr)


def _scalar_strides(params: Sequence[Tensor]) -> list[int]:
    """Each param's stride over the neurons: 0 for one value read by every neuron, else 1."""
    return [int(p.numel() != 1) for p in params]


def _triton_forward(
    plan: Plan,
    num_steps: int,
    static: bool,
    xs: Sequence[Tensor],
    state: Sequence[Tensor],
    params: Sequence[Tensor],
) -> list[Tensor]:
    shape, device = state[0].shape, state[0].device
    params_c = [p.contiguous() for p in params]
    ys = [torch.empty((num_steps, *shape), dtype=d, device=device) for d in plan.y_dtypes]
    final = [torch.empty(shape, dtype=s.dtype, device=device) for s in state]
    elements = state[0].numel()
    _triton.launch(
        _triton.kernel(plan, "forward"),
        [*(x.contiguous() for x in xs), *(s.contiguous() for s in state), *params_c, *ys, *final],
        _scalar_strides(params_c),
        num_steps,
        elements,
        0 if static else elements,
    )
    return [*ys, *final]


def _triton_backward(
    plan: Plan,
    num_steps: int,
    static: bool,
    xs: Sequence[Tensor],
    state: Sequence[Tensor],
    params: Sequence[Tensor],
    present: Sequence[Tensor],
    masks: tuple[tuple[bool, ...], tuple[bool, ...]],
) -> list[Tensor]:
    shape, device = state[0].shape, state[0].device
    params_c = [p.contiguous() for p in params]
    elements = state[0].numel()
    gxs = [torch.empty(x.shape, dtype=x.dtype, device=device) for x in xs]
    g0 = [torch.empty(shape, dtype=s.dtype, device=device) for s in state]
    gps = [torch.empty(shape, dtype=p.dtype, device=device) for p in params]
    scratch = torch.empty(
        (num_steps, plan.num_state, elements), dtype=state[0].dtype, device=device
    )
    _triton.launch(
        _triton.kernel(plan, "backward", masks),
        [
            *(x.contiguous() for x in xs),
            *(s.contiguous() for s in state),
            *params_c,
            *(g.contiguous() for g in present),
            *gxs,
            *g0,
            *gps,
            scratch,
        ],
        _scalar_strides(params_c),
        num_steps,
        elements,
        0 if static else elements,
        STATIC=static,
    )
    return [*gxs, *g0, *gps]


@torch.library.custom_op("snnfunc::fused_scan", mutates_args=())
def _fused_scan_op(
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
) -> list[Tensor]:
    e = entry(key)
    plan = e.plan
    shape = state[0].shape
    if _wants_triton(e, state[0]):
        if triton_reason(e, [*xs, *state, *params]) is None:
            LAST_RUN["forward"] = "triton"
            return _triton_forward(plan, num_steps, static, xs, state, params)
        if e.backend == "auto":
            _notice_triton(e, [*xs, *state, *params])
    elif e.backend in ("auto", "kernel") and kernel_reason(plan, [*xs, *state, *params]) is None:
        fn = _kernel(plan, state[0].dtype, "forward")
        if not isinstance(fn, str):
            xs_c = [x.contiguous() for x in xs]
            state_c = [s.contiguous() for s in state]
            params_c = [p.contiguous() for p in params]
            ys = [empty((num_steps, *shape), d) for d in plan.y_dtypes]
            final = [torch.empty(shape, dtype=s.dtype) for s in state]
            _call(
                fn,
                num_steps,
                static,
                params_c,
                [*xs_c, *state_c, *params_c, *ys, *final],
                state[0].numel(),
                state[0].element_size(),
                plan.num_state,
            )
            LAST_RUN["forward"] = "kernel"
            return [*ys, *final]
        if e.backend == "kernel":
            raise RuntimeError(f"backend='kernel': the kernel did not build ({fn})")
    if e.backend == "auto":
        _notice_once(plan, [*xs, *state, *params])
    LAST_RUN["forward"] = "torch"
    return _fresh(
        _graph.forward(plan, num_steps, static, xs, state, params), [*xs, *state, *params]
    )


@torch.library.custom_op("snnfunc::fused_scan_backward", mutates_args=())
def _fused_scan_backward_op(
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
    gys: list[Tensor | None],
    gst: list[Tensor | None],
) -> list[Tensor]:
    e = entry(key)
    plan = e.plan
    shape = state[0].shape
    present = [g for g in (*gys, *gst) if g is not None]
    if _wants_triton(e, state[0]):
        if triton_reason(e, [*xs, *state, *params, *present]) is None:
            masks = (tuple(g is not None for g in gys), tuple(g is not None for g in gst))
            LAST_RUN["backward"] = "triton"
            return _triton_backward(plan, num_steps, static, xs, state, params, present, masks)
    elif (
        e.backend in ("auto", "kernel")
        and kernel_reason(plan, [*xs, *state, *params, *present]) is None
    ):
        masks = (tuple(g is not None for g in gys), tuple(g is not None for g in gst))
        fn = _kernel(plan, state[0].dtype, "backward", masks)
        if not isinstance(fn, str):
            c = [t.contiguous() for t in (*xs, *state, *params)]
            gc = [g.contiguous() for g in present]
            gxs = [empty(x.shape, x.dtype) for x in xs]
            g0 = [torch.empty(shape, dtype=s.dtype) for s in state]
            gps = [torch.empty(shape, dtype=s.dtype) for s in params]
            _call(
                fn,
                num_steps,
                static,
                c[len(xs) + len(state) :],
                [*c, *gc, *gxs, *g0, *gps],
                state[0].numel(),
                state[0].element_size(),
                plan.num_state,
            )
            LAST_RUN["backward"] = "kernel"
            return [*gxs, *g0, *gps]
        if e.backend == "kernel":
            raise RuntimeError(f"backend='kernel': the kernel did not build ({fn})")
    LAST_RUN["backward"] = "torch"
    outs = _graph.backward(plan, num_steps, static, xs, state, params, gys, gst)
    return _fresh(outs, [*xs, *state, *params, *present])


@_fused_scan_op.register_fake
def _(
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
) -> list[Tensor]:
    plan, shape = entry(key).plan, state[0].shape
    ys = [state[0].new_empty((num_steps, *shape), dtype=d) for d in plan.y_dtypes]
    return [*ys, *(s.new_empty(shape) for s in state)]


@_fused_scan_backward_op.register_fake
def _(
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
    gys: list[Tensor | None],
    gst: list[Tensor | None],
) -> list[Tensor]:
    shape = state[0].shape
    return [
        *(x.new_empty(x.shape) for x in xs),
        *(s.new_empty(shape) for s in state),
        *(p.new_empty(shape) for p in params),
    ]


class _FusedScan(torch.autograd.Function):
    """Autograd of ``snnfunc::fused_scan`` (an ``autograd.Function`` with ``setup_context``, so
    that ``torch.func.grad``/``vjp``/``jacrev`` accept it; under ``vmap`` its generated rule
    batches the two operators through their own vmap rules). Saves only the inputs."""

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        key: str, num_steps: int, static: bool, nx: int, ns: int, *tensors: Tensor
    ) -> tuple[Tensor, ...]:
        xs, state, params = tensors[:nx], tensors[nx : nx + ns], tensors[nx + ns :]
        out = torch.ops.snnfunc.fused_scan(key, num_steps, static, xs, state, params)
        return tuple(out)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        key, num_steps, static, nx, ns, *tensors = inputs
        ctx.meta = (key, num_steps, static, nx, ns, [p.shape for p in tensors[nx + ns :]])
        ctx.save_for_backward(*tensors)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Any, ...]:
        key, num_steps, static, nx, ns, p_shapes = ctx.meta
        saved = ctx.saved_tensors
        xs, state, params = list(saved[:nx]), list(saved[nx : nx + ns]), list(saved[nx + ns :])
        if all(g is None for g in grads):
            return (None,) * (5 + len(saved))
        mask = tuple(g is not None for g in grads)
        present = [g for g in grads if g is not None]
        outs = _FusedScanBackward.apply(  # type: ignore[no-untyped-call]
            key, num_steps, static, nx, ns, mask, *xs, *state, *params, *present
        )
        gps = [
            g.sum_to_size(shape) if g.shape != shape else g
            for g, shape in zip(outs[nx + ns :], p_shapes, strict=True)
        ]
        return (None,) * 5 + (*outs[: nx + ns], *gps)


class _FusedScanBackward(torch.autograd.Function):
    """``snnfunc::fused_scan_backward`` as a function of its own: first-order only (its
    backward raises), but visible to ``torch.func`` so that ``vmap(grad)`` and ``jacrev`` run."""

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        key: str,
        num_steps: int,
        static: bool,
        nx: int,
        ns: int,
        mask: tuple[bool, ...],
        *tensors: Tensor,
    ) -> tuple[Tensor, ...]:
        ny = entry(key).plan.num_y
        n_in = len(tensors) - sum(mask)
        npar = n_in - nx - ns
        xs, state = tensors[:nx], tensors[nx : nx + ns]
        params, present = tensors[nx + ns : n_in], iter(tensors[n_in:])
        grads = [next(present) if m else None for m in mask]
        del npar
        out = torch.ops.snnfunc.fused_scan_backward(
            key, num_steps, static, xs, state, params, grads[:ny], grads[ny:]
        )
        return tuple(out)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise RuntimeError(
            "fuse: second-order gradients (double backward) of a fused scan are not "
            "implemented; use backend='scan' for hessians and gradient penalties"
        )


def _batched(
    info: Any,
    in_dims: tuple[Any, ...],
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
    extra: Sequence[tuple[list[Tensor | None], bool]] = (),
) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[list[Tensor | None]]]:
    """Move each batch dim to the front of the element shape: ``[*E]`` -> ``[V, *E]``
    (time-major leaves ``[T, V, *E]``); unbatched leaves are expanded, 0-d params stay 0-d."""
    size = info.batch_size
    _, _, _, x_dims, s_dims, p_dims, *extra_dims = in_dims
    s0, d0 = state[0], s_dims[0]
    shape = s0.shape if d0 is None else s0.movedim(d0, 0).shape[1:]  # the element shape

    def element(t: Tensor, dim: int | None) -> Tensor:  # [*E] -> [V, *E]
        return (t if dim is None else t.movedim(dim, 0)).expand(size, *shape)

    def timed(t: Tensor, dim: int | None, has_time: bool) -> Tensor:  # [T, *E] -> [T, V, *E]
        if not has_time:
            return element(t, dim)
        t = t.unsqueeze(1) if dim is None else t.movedim(dim, 1)
        return t.expand(-1, size, *shape)

    def param(p: Tensor, dim: int | None) -> Tensor:  # a 0-d param stays 0-d when unbatched
        if dim is None:
            return p if p.dim() == 0 else p.expand(size, *shape)
        p = p.movedim(dim, 0)
        if p.dim() == 1:  # a batched 0-d param: one value per batch entry
            p = p.reshape(size, *([1] * len(shape)))
        return p.expand(size, *shape)

    xs_b = [timed(x, d, not static) for x, d in zip(xs, x_dims, strict=True)]
    state_b = [element(s, d) for s, d in zip(state, s_dims, strict=True)]
    params_b = [param(p, d) for p, d in zip(params, p_dims, strict=True)]
    extra_b = [
        [None if g is None else timed(g, d, has_time) for g, d in zip(gs, dims, strict=True)]
        for (gs, has_time), dims in zip(extra, extra_dims, strict=True)
    ]
    return xs_b, state_b, params_b, extra_b


def _vmap_forward(
    info: Any,
    in_dims: tuple[Any, ...],
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
) -> Any:
    xs_b, state_b, params_b, _ = _batched(info, in_dims, static, xs, state, params)
    outs = _fused_scan_op(key, num_steps, static, xs_b, state_b, params_b)
    ny = entry(key).plan.num_y
    return outs, [1] * ny + [0] * (len(outs) - ny)


def _vmap_backward(
    info: Any,
    in_dims: tuple[Any, ...],
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
    gys: list[Tensor | None],
    gst: list[Tensor | None],
) -> Any:
    xs_b, state_b, params_b, (gys_b, gst_b) = _batched(
        info, in_dims, static, xs, state, params, ((gys, True), (gst, False))
    )
    outs = _fused_scan_backward_op(key, num_steps, static, xs_b, state_b, params_b, gys_b, gst_b)
    nx = len(xs)
    return outs, [0 if static else 1] * nx + [0] * (len(outs) - nx)


if hasattr(torch.library, "register_vmap"):
    torch.library.register_vmap(_fused_scan_op, _vmap_forward)
    torch.library.register_vmap(_fused_scan_backward_op, _vmap_backward)
VMAP_SUPPORTED = hasattr(torch.library, "register_vmap")


def fused_scan(
    key: str,
    num_steps: int,
    static: bool,
    xs: list[Tensor],
    state: list[Tensor],
    params: list[Tensor],
) -> list[Tensor]:
    """The fused scan with autograd (``torch.func`` and ``torch.compile`` aware)."""
    if not torch.is_grad_enabled() or not any(
        t.requires_grad for t in (*xs, *state, *params)
    ):  # no graph to record: the operator alone (no autograd.Function overhead)
        out_: list[Tensor] = torch.ops.snnfunc.fused_scan(key, num_steps, static, xs, state, params)
        return out_
    out = _FusedScan.apply(key, num_steps, static, len(xs), len(state), *xs, *state, *params)  # type: ignore[no-untyped-call]
    return list(out)
