r"""``fuse(step)``: write the step, get the fused kernel.

::

    fused = fuse(step)                     # step(state, x, params) -> (y, state), pointwise
    ys, state = fused(state, xs, params)   # == scan(partial(step, params=params), state, xs)

The step is traced once per structure of ``(state, x, params)`` (and per dtype), into the graph
of one step and the graph of its VJP, derived by ``torch.func.vjp`` from the same trace (the
spike's surrogate derivative included). From that one definition come the generated C kernel on
CPU, the generated Triton kernels on CUDA, and the graph executor elsewhere: a forward over all
``T`` and a reverse-time backward that saves only the inputs and recomputes the states. Nothing
about a model is written twice.

Backends (``backend=``):

* ``"auto"``: the C kernel for float32/float64 CPU tensors when a compiler is found, the
  Triton kernels for CUDA tensors when Triton is installed, else the graph executor; the
  reference :func:`~snnfunc.scan` when the step cannot be fused.
* ``"kernel"``: the C kernel or a ``ValueError`` saying why not.
* ``"triton"``: the Triton kernels (float16, bfloat16, float32, float64) or a ``ValueError``
  saying why not; CPU tensors run them under Triton's interpreter (``TRITON_INTERPRET=1``),
  which is how they are tested without a GPU.
* ``"torch"``: the graph executor (any device and dtype; the same memory profile).
* ``"scan"``: the reference unroll.

What fuses: pointwise arithmetic, comparisons, ``where``, ``exp``/``log``/``tanh``/``sigmoid``/
``abs``/``clamp``/``minimum``/``maximum``/``pow`` by a constant, ``detach``, casts, scalar and
per-neuron params, and spikes from :mod:`snnfunc.surrogate` (``custom`` ones too, when their
derivative is traceable). Anything else (a matmul, a reduction, a view, data-dependent Python
control flow, a captured tensor that requires grad) runs :func:`~snnfunc.scan`, with the reason
given by :meth:`Fused.explain`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor
from torch._functorch.pyfunctorch import temporarily_clear_interpreter_stack
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.fused import _op
from snnfunc.fused._trace import Plan, Unsupported, trace
from snnfunc.scan import scan, time_length

__all__ = ["fuse", "Fused", "Explanation", "FUSE_BACKENDS"]

Backend = Literal["auto", "kernel", "triton", "torch", "scan"]
FUSE_BACKENDS: tuple[str, ...] = ("auto", "kernel", "triton", "torch", "scan")
_COUNTER = itertools.count()


@dataclass(frozen=True)
class Explanation:
    """Which implementation a fused call runs, and why.

    Attributes:
        backend: ``"kernel"`` (generated C), ``"triton"`` (generated Triton), ``"torch"``
            (graph executor) or ``"scan"``.
        reason: why this one (empty when it is the first choice).
    """

    backend: str
    reason: str = ""


def _broadcasts(shape: torch.Size, target: torch.Size) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (without growing it)."""
    if len(shape) > len(target):
        return False
    return all(a in (1, b) for a, b in zip(reversed(shape), reversed(target), strict=False))


def _scan_reason() -> str | None:
    """Why the active transforms need the reference scan, or ``None``: forward-mode AD (the
    operator has no jvp rule; ``scan`` of a forward-mode spike has one), and ``vmap`` on a torch
    without ``torch.library.register_vmap`` (before 2.5)."""
    if torch.compiler.is_compiling():
        return None
    jvp = "forward-mode AD (jvp) runs the reference scan"
    if torch.autograd.forward_ad._current_level >= 0:
        return jvp
    keys = {i.key() for i in torch._C._functorch.get_interpreter_stack() or []}
    if torch._C._functorch.TransformType.Jvp in keys:
        return jvp
    if torch._C._functorch.TransformType.Vmap in keys and not _op.VMAP_SUPPORTED:
        return "vmap of the fused operator needs torch >= 2.5 (torch.library.register_vmap)"
    return None


class _Call(NamedTuple):
    """One call's inputs, flattened and checked (:meth:`Fused._normalise`)."""

    x_leaves: list[Tensor]
    x_spec: TreeSpec
    s_leaves: list[Tensor]
    s_spec: TreeSpec
    values: list[Any]  # the params' leaves as the step sees them
    p_spec: TreeSpec
    shape: torch.Size  # the element shape E
    length: int  # T
    static: bool


class Fused:
    """``fused(state, xs, params, *, num_steps=None) -> (ys, state)``: the fused scan of a step.

    Equal to ``scan(functools.partial(step, params=params), state, xs, num_steps=num_steps)``:
    outputs and states bit for bit where the step's ops allow (module docstring), gradients to
    ``xs``, the initial state and every tensor param to rounding.
    """

    def __init__(self, step: Callable[..., Any], backend: Backend = "auto") -> None:
        if not callable(step):
            raise TypeError(f"step must be callable, got {type(step).__name__}")
        check_choice("backend", backend, FUSE_BACKENDS)
        self.step = step
        self.backend = backend
        self._plans: dict[Any, str | Unsupported] = {}
        functools.update_wrapper(self, step, updated=())

    def __repr__(self) -> str:
        return f"fuse({getattr(self.step, '__name__', self.step)!r}, backend={self.backend!r})"

    # -- planning -----------------------------------------------------------------------------
    def _normalise(self, state: Any, xs: Any, params: Any, num_steps: int | None) -> _Call:
        """The call's flat leaves, element shape ``E``, ``T`` and static flag; the params as
        the step sees them (one-element tensors made 0-d in the state's dtype, constants)."""
        if num_steps is not None:
            check_int_at_least("num_steps", num_steps, 1)
        x_leaves, x_spec = tree_flatten(xs)
        s_leaves, s_spec = tree_flatten(state)
        p_leaves, p_spec = tree_flatten(params)
        for name, leaves in (("xs", x_leaves), ("state", s_leaves)):
            if not leaves or not all(isinstance(t, Tensor) for t in leaves):
                raise Unsupported(f"{name} must be a Tensor or a pytree of Tensors")
        static = num_steps is not None
        length = num_steps if num_steps is not None else time_length(x_leaves)
        dtype = s_leaves[0].dtype
        values: list[Any] = []
        for p in p_leaves:
            if isinstance(p, Tensor) and p.numel() == 1 and (p.dim() == 0 or p.dtype == dtype):
                values.append(p.reshape(()).to(dtype) if p.dtype.is_floating_point else p)
            else:
                values.append(p)
        step_shapes = [t.shape if static else t.shape[1:] for t in x_leaves]
        full = [p.shape for p in values if isinstance(p, Tensor) and p.dim() > 0]
        shapes = [s.shape for s in s_leaves] + step_shapes
        try:
            same = all(s == shapes[0] for s in shapes)
            shape = shapes[0] if same else torch.broadcast_shapes(*shapes)  # type: ignore[no-untyped-call]
        except RuntimeError:
            raise Unsupported(
                "the state and one step of xs do not have one element shape: "
                f"{[tuple(s.shape) for s in s_leaves]}, {[tuple(s) for s in step_shapes]}"
            ) from None
        for p_shape in full:
            if not _broadcasts(p_shape, shape):
                raise Unsupported(
                    f"a param of shape {tuple(p_shape)} does not broadcast to the element shape "
                    f"{tuple(shape)} (a pointwise step reads params per neuron, not a matrix)"
                )
        return _Call(x_leaves, x_spec, s_leaves, s_spec, values, p_spec, shape, length, static)

    def _plan(self, call: _Call) -> str:
        """The key of the traced plan for this structure, dtypes and constants (traced once)."""
        signature = (
            call.s_spec,
            call.x_spec,
            call.p_spec,
            tuple(t.dtype for t in call.s_leaves),
            tuple(t.dtype for t in call.x_leaves),
            tuple(
                ("T", p.dtype) if isinstance(p, Tensor) else ("C", type(p), p) for p in call.values
            ),
        )
        found = self._plans.get(signature)
        if found is None:
            x_one = [t if call.static else t[0] for t in call.x_leaves]
            try:
                with temporarily_clear_interpreter_stack(), torch.enable_grad():
                    plan: Plan = trace(
                        self.step,
                        tree_unflatten(list(call.s_leaves), call.s_spec),
                        tree_unflatten(x_one, call.x_spec),
                        tree_unflatten(call.values, call.p_spec),
                    )
                found = f"{next(_COUNTER)}:{getattr(self.step, '__name__', 'step')}"
                _op.register(found, _op.Entry(plan, self.backend))
            except Unsupported as err:
                found = err
            self._plans[signature] = found
        if isinstance(found, Unsupported):
            raise found
        return found

    # -- calling ------------------------------------------------------------------------------
    def explain(
        self, state: Any, xs: Any, params: Any, *, num_steps: int | None = None
    ) -> Explanation:
        """Which backend ``self(state, xs, params, num_steps=num_steps)`` runs, and why."""
        if self.backend == "scan":
            return Explanation("scan", "backend='scan' was asked for")
        reason = _scan_reason()
        if reason is not None:
            return Explanation("scan", reason)
        try:
            call = self._normalise(state, xs, params, num_steps)
            key = self._plan(call)
        except Unsupported as err:
            return Explanation("scan", str(err))
        if self.backend == "torch":
            return Explanation("torch", "backend='torch' was asked for")
        e = _op.entry(key)
        plan = e.plan
        if self.backend == "triton" or (
            self.backend == "auto" and call.s_leaves[0].device.type == "cuda"
        ):
            reason = _op.triton_reason(e, _tensors(call))
            return Explanation("triton") if reason is None else Explanation("torch", reason)
        reason = _op.kernel_reason(plan, _tensors(call))
        if reason is None:
            built = _op.kernel_build_error(plan, call.s_leaves[0].dtype)
            if built is None:
                return Explanation("kernel")
            reason = built
        return Explanation("torch", reason)

    def __call__(
        self, state: Any, xs: Any, params: Any, *, num_steps: int | None = None
    ) -> tuple[Any, Any]:
        if self.backend == "scan" or _scan_reason() is not None:
            return scan(functools.partial(self.step, params=params), state, xs, num_steps=num_steps)
        try:
            call = self._normalise(state, xs, params, num_steps)
            plan_fn = _plan_outside_graph if torch.compiler.is_compiling() else Fused._plan
            key = plan_fn(self, call)
        except Unsupported as err:
            if self.backend in ("kernel", "triton", "torch"):
                raise ValueError(f"backend={self.backend!r} cannot fuse this step: {err}") from None
            return scan(functools.partial(self.step, params=params), state, xs, num_steps=num_steps)
        plan = _op.entry(key).plan
        if self.backend == "kernel":
            reason = _op.kernel_reason(plan, _tensors(call))
            if reason is not None:
                raise ValueError(f"backend='kernel' is not available here: {reason}")
        elif self.backend == "triton":
            reason = _op.triton_reason(_op.entry(key), _tensors(call))
            if reason is not None:
                raise ValueError(f"backend='triton' is not available here: {reason}")
        shape, length = call.shape, call.length
        xs_flat = [t.expand(shape if call.static else (length, *shape)) for t in call.x_leaves]
        s_flat = [t.expand(shape) for t in call.s_leaves]
        p_flat = [
            p if p.dim() == 0 else p.expand(shape) for p in call.values if isinstance(p, Tensor)
        ]
        outs = _op.fused_scan(key, length, call.static, xs_flat, s_flat, p_flat)
        ys = tree_unflatten(list(outs[: plan.num_y]), plan.y_spec)
        return ys, tree_unflatten(list(outs[plan.num_y :]), plan.state_spec)


def _tensors(call: _Call) -> list[Tensor]:
    return [*call.x_leaves, *call.s_leaves, *(p for p in call.values if isinstance(p, Tensor))]


def _plan_eagerly(fused: Fused, call: _Call) -> str:
    """:meth:`Fused._plan` under ``torch.compile``: tracing runs eagerly (a graph break); the
    fused operator itself is in the graph."""
    return fused._plan(call)


_plan_outside_graph: Callable[..., str] = torch.compiler.disable(_plan_eagerly)  # type: ignore[no-untyped-call]


def fuse(step: Callable[..., Any], *, backend: Backend = "auto") -> Fused:
    """The fused scan of a pointwise step: ``fused(state, xs, params, *, num_steps=None)``.

    ``fuse(step)(state, xs, params)`` equals
    ``scan(functools.partial(step, params=params), state, xs)``; bind static options first
    (``fuse(partial(lif_step, reset="zero"))``). See the module docstring for what fuses, the
    backends and :meth:`Fused.explain`.

    Args:
        step: ``step(state, x, params) -> (y, state)``, ``params`` passed by keyword; pointwise
            over the neurons. ``state``/``x``/``params``/``y`` may be pytrees (NamedTuples).
        backend: ``"auto"``, ``"kernel"``, ``"triton"``, ``"torch"`` or ``"scan"``.
    Returns:
        A :class:`Fused` callable: ``(state, xs [T, *E], params) -> (ys [T, *E], state)``.

    >>> import torch
    >>> from functools import partial
    >>> from snnfunc import LIFParams, lif_init, lif_step, scan
    >>> fused = fuse(lif_step)
    >>> xs = torch.full((4, 2), 0.6)
    >>> spikes, state = fused(lif_init(2), xs, LIFParams(0.9, 1.0))
    >>> spikes[:, 0]
    tensor([0., 1., 0., 1.])
    >>> torch.equal(spikes, scan(partial(lif_step, params=LIFParams(0.9, 1.0)), lif_init(2), xs)[0])
    True
    """
    return Fused(step, backend)
