r"""The fused scan of a recurrent model: per step one matmul and one fused pointwise update.

For ``model = recurrent(base)`` (:func:`snnfunc.neurons.recurrent`), the layer over time is::

    for x in xs:                          # xs: [T, B, N] (the input projection, done already)
        r = F.linear(z, W)                # the one recurrent matmul      [B, N]
        z, s = base_step(s, x + r)        # the base model's step, fused  [B, N]
    return stack(zs), (s, z)

which is ``scan(partial(model.step, params=params), state, xs)`` bit for bit: the pointwise
update is :func:`snnfunc.fuse` of the base step on ``(x, r)`` (its generated C kernel on CPU,
its Triton kernel on CUDA, the graph executor elsewhere), called once per step on ``[B, N]``
instead of the dozen small ops of the eager step.

The layer is one autograd node. The forward keeps ``r`` and the states of every step (what the
backward needs; an eager loop keeps more). The backward walks time in reverse: per step the
fused VJP of the pointwise update (one kernel call), then one matmul for the gradient to the
last spikes (``g_r W``); the weight's gradient is one matmul over all ``T`` at the end
(``sum_t g_r[t]^T z[t-1]``), and the input's is written straight into ``[T, B, N]``.

Under ``torch.func`` transforms (``vmap``, ``grad``, ``jacrev``, ``jvp``), forward-mode AD and
``torch.compile``, the layer runs the reference :func:`~snnfunc.scan` of the model's step (the
same numbers); ``explain`` says which runs and why.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import check_choice, first_step
from snnfunc.fused import _op
from snnfunc.fused._trace import Plan, Unsupported
from snnfunc.fused.fuse import FUSE_BACKENDS, Backend, Explanation, Fused, fuse
from snnfunc.neurons._model import NeuronModel
from snnfunc.neurons.recurrent import recurrent_base
from snnfunc.reset import Firing
from snnfunc.scan import scan

__all__ = ["recurrent_scan", "explain_recurrent"]


def _transform_reason() -> str | None:
    """Why the reference scan runs instead of the layer operator, or ``None``."""
    if torch.compiler.is_compiling():
        return "torch.compile traces the reference scan (the layer operator is eager-only)"
    if torch.autograd.forward_ad._current_level >= 0:
        return "forward-mode AD (jvp) runs the reference scan"
    if torch._C._functorch.get_interpreter_stack():
        return "torch.func transforms (vmap, grad, jacrev) run the reference scan"
    return None


def _summed_step(
    step: Callable[..., Any], options: dict[str, Any], state: Any, xr: Any, params: Any
) -> Any:
    """The base step on the summed input, as the recurrent core writes it: ``x + r``."""
    x, r = xr
    return step(state, x + r, params, **options)


_CACHE: dict[tuple[Any, ...], Fused] = {}


def _pointwise(base: NeuronModel[Any, Any], firing: Firing, backend: str) -> Fused:
    """``fuse`` of the base step on ``(x, r)``, one per base model, firing and backend."""
    key = (base, firing, backend)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= 256:
            del _CACHE[next(iter(_CACHE))]
        step = functools.partial(_summed_step, base.step, firing.options())
        step.__name__ = f"r{base.name}_update"  # type: ignore[attr-defined]
        found = _CACHE[key] = fuse(step, backend=backend if backend != "scan" else "auto")  # type: ignore[arg-type]
    return found


@dataclass
class _Layer:
    """One traced pointwise update and how to call it for one step (``T = 1``).

    ``kernel``: the compiled forward C kernel, or ``None`` (the operators run: Triton or the
    graph executor). ``z_index``: the base state field that holds the last spikes (adLIF), or
    ``None`` (the spikes are the step's output).
    """

    key: str
    plan: Plan
    params: list[Tensor]  # flat tensor params: 0-d, or expanded to the element shape
    kernel: Any
    z_index: int | None
    backend: str
    _present: dict[Any, tuple[bool, ...]] = field(default_factory=dict)

    def present_before(self, masks: tuple[tuple[bool, ...], tuple[bool, ...]]) -> tuple[bool, ...]:
        """:meth:`Plan.present_before`, memoised (it walks the VJP graph)."""
        found = self._present.get(masks)
        if found is None:
            found = self._present[masks] = self.plan.present_before(*masks)
        return found

    # -- one step ------------------------------------------------------------------------------
    def step(
        self, x: Tensor, r: Tensor, state: Sequence[Tensor], y: Tensor, out: list[Tensor]
    ) -> None:
        """One forward step into ``y`` (spikes) and ``out`` (the state after it)."""
        if self.kernel is not None:
            _op._call(
                self.kernel,
                1,
                False,
                self.params,
                [x, r, *state, *self.params, y, *out],
                x.numel(),
                x.element_size(),
                self.plan.num_state,
            )
            return
        res = torch.ops.snnfunc.fused_scan(
            self.key, 1, False, [x.unsqueeze(0), r.unsqueeze(0)], list(state), self.params
        )
        y.copy_(res[0][0])
        for o, s in zip(out, res[1:], strict=True):
            o.copy_(s)

    def step_backward(
        self,
        x: Tensor,
        r: Tensor,
        state: Sequence[Tensor],
        gy: Tensor | None,
        gst: Sequence[Tensor | None],
        gx: Tensor,
        gr: Tensor,
        gp: Sequence[Tensor],
    ) -> list[Tensor]:
        """One step's VJP: writes ``gx``, ``gr``, ``gp`` and returns the state's cotangents."""
        masks = ((gy is not None,), tuple(g is not None for g in gst))
        present = [g.contiguous() for g in (gy, *gst) if g is not None]
        dtype = x.dtype
        fn = _op._kernel(self.plan, dtype, "backward", masks) if self.kernel is not None else None
        if fn is not None and not isinstance(fn, str):
            g0 = [torch.empty_like(s) for s in state]
            _op._call(
                fn,
                1,
                False,
                self.params,
                [x, r, *state, *self.params, *present, gx, gr, *g0, *gp],
                x.numel(),
                x.element_size(),
                self.plan.num_state,
            )
            return g0
        res = torch.ops.snnfunc.fused_scan_backward(
            self.key,
            1,
            False,
            [x.unsqueeze(0), r.unsqueeze(0)],
            list(state),
            self.params,
            [None if gy is None else gy.unsqueeze(0)],
            list(gst),
        )
        gx.copy_(res[0][0])
        gr.copy_(res[1][0])
        ns = self.plan.num_state
        for g, out in zip(gp, res[2 + ns :], strict=True):
            g.copy_(out)
        return list(res[2 : 2 + ns])

    # -- the layer over T ----------------------------------------------------------------------
    def forward(
        self,
        xs: Tensor,
        static: bool,
        length: int,
        weight: Tensor,
        z0: Tensor,
        state0: list[Tensor],
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """``(spikes [T, *E], r [T, *E], states [T, *E] each: the state after each step)``."""
        shape = z0.shape
        ys = (
            _op.empty((length, *shape), xs.dtype)
            if xs.device.type == "cpu"
            else (xs.new_empty((length, *shape)))
        )
        rs = torch.empty((length, *shape), dtype=xs.dtype, device=xs.device)
        states = [torch.empty((length, *shape), dtype=s.dtype, device=s.device) for s in state0]
        wt = weight.t()
        z, state = z0, state0
        for t in range(length):
            if z.dim() > 1:
                torch.matmul(z, wt, out=rs[t])  # F.linear(z, W) without bias
            else:  # one example [N]: matmul would promote it to [1, N] internally
                rs[t].copy_(torch.nn.functional.linear(z, weight))
            out = [s[t] for s in states]
            self.step(xs if static else xs[t], rs[t], state, ys[t], out)
            state = out
            z = ys[t] if self.z_index is None else out[self.z_index]
        return ys, rs, states

    def backward(
        self,
        xs: Tensor,
        static: bool,
        weight: Tensor,
        z0: Tensor,
        state0: list[Tensor],
        params: list[Tensor],
        rs: Tensor,
        ys: Tensor,
        states: list[Tensor],
        gys: Tensor | None,
        gfinal: list[Tensor | None],
        *,
        need_params: bool,
        need_weight: bool,
    ) -> tuple[Tensor, Tensor | None, Tensor | None, list[Tensor | None], list[Tensor | None]]:
        """Reverse time: ``(g_xs, g_weight, g_z0, g_state0, g_params)`` from the cotangents of
        the spikes ``gys [T, *E]`` and of the final state ``gfinal`` (``None``: absent)."""
        length, shape = rs.shape[0], rs.shape[1:]
        gxs, grs = torch.empty_like(rs), torch.empty_like(rs)
        if need_params:
            gps = [torch.empty_like(rs) for _ in params]
        else:  # the kernel writes them anyway: one step's scratch, reused
            gps = [torch.empty_like(rs[0]).expand(length, *shape) for _ in params]
        gst = gfinal
        pending: Tensor | None = None  # g_r of the step after: g_r W is its spikes' cotangent
        for t in reversed(range(length)):
            gy = None if gys is None else gys[t]
            if pending is not None:
                if self.z_index is None:
                    gy = _plus_matmul(gy, pending, weight)
                else:
                    gst[self.z_index] = _plus_matmul(gst[self.z_index], pending, weight)
            if gy is None and all(g is None for g in gst):
                for g in (gxs, grs, *gps):
                    g[t].zero_()  # nothing reaches this step (autograd would not run it)
                pending = None
                continue
            before = state0 if t == 0 else [s[t - 1] for s in states]
            x = xs if static else xs[t]
            masks = ((gy is not None,), tuple(g is not None for g in gst))
            g0 = self.step_backward(x, rs[t], before, gy, gst, gxs[t], grs[t], [g[t] for g in gps])
            present = self.present_before(masks)
            gst = [g if p else None for g, p in zip(g0, present, strict=True)]
            pending = grs[t]
        g_z0 = None
        if pending is not None:
            if self.z_index is None:
                g_z0 = _plus_matmul(None, pending, weight)
            else:
                gst[self.z_index] = _plus_matmul(gst[self.z_index], pending, weight)
        g_weight = None
        if need_weight:  # sum_t g_r[t]^T z[t-1]: one matmul over all T
            zs = ys if self.z_index is None else states[self.z_index]
            n = shape[-1]
            g_weight = grs[0].reshape(-1, n).t().mm(z0.reshape(-1, n))
            if length > 1:
                g_weight.addmm_(grs[1:].reshape(-1, n).t(), zs[:-1].reshape(-1, n))
        g_params: list[Tensor | None] = [None] * len(params)
        if need_params:
            g_params = [g.sum(0) if p.dim() else g.sum() for g, p in zip(gps, params, strict=True)]
        return (gxs.sum(0) if static else gxs), g_weight, g_z0, gst, g_params


def _plus_matmul(g: Tensor | None, pending: Tensor, weight: Tensor) -> Tensor:
    """``g + pending @ weight`` over the last dim (``pending @ weight`` when ``g`` is absent):
    the cotangent of the spikes that ``F.linear(z, weight)`` read."""
    flat = pending.reshape(-1, pending.shape[-1])
    if g is None:
        return flat.mm(weight).reshape(pending.shape)
    return torch.addmm(g.reshape(flat.shape), flat, weight).reshape(pending.shape)


class _RecurrentScan(torch.autograd.Function):
    """The layer as one autograd node (module docstring): saves ``r`` and the states."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        layer: _Layer,
        static: bool,
        length: int,
        ns: int,
        xs: Tensor,
        weight: Tensor,
        z0: Tensor,
        *rest: Tensor,
    ) -> tuple[Tensor, ...]:
        state0, params = list(rest[:ns]), list(rest[ns:])
        ys, rs, states = layer.forward(xs, static, length, weight, z0, state0)
        ctx.layer, ctx.static, ctx.length, ctx.ns = layer, static, length, ns
        ctx.save_for_backward(xs, weight, z0, *state0, *params, rs, ys, *states)
        ctx.set_materialize_grads(False)
        return (ys, *(s[-1].clone() for s in states))

    @staticmethod
    def backward(ctx: Any, gys: Tensor | None, *gfinal: Tensor | None) -> tuple[Any, ...]:
        layer: _Layer = ctx.layer
        ns, saved = ctx.ns, ctx.saved_tensors
        xs, weight, z0 = saved[:3]
        state0 = list(saved[3 : 3 + ns])
        params = list(saved[3 + ns : len(saved) - 2 - ns])
        rs, ys, *states = saved[len(saved) - 2 - ns :]
        needs = ctx.needs_input_grad  # (layer, static, length, ns, xs, weight, z0, *rest)
        g_xs, g_weight, g_z0, g_state0, g_params = layer.backward(
            xs,
            ctx.static,
            weight,
            z0,
            state0,
            params,
            rs,
            ys,
            states,
            gys,
            list(gfinal),
            need_params=any(needs[7 + ns :]),
            need_weight=needs[5],
        )
        return (None, None, None, None, g_xs, g_weight, g_z0, *g_state0, *g_params)


def _plan_layer(
    model: NeuronModel[Any, Any],
    base: NeuronModel[Any, Any],
    state: Any,
    x_step: Tensor,
    params: Any,
    firing: Firing,
    backend: str,
) -> _Layer:
    """The traced update for these inputs (raises :class:`Unsupported` when it cannot fuse)."""
    n_state, n_params = len(base.state), len(base.params)
    base_state = base.state_type(*state[:n_state])
    base_params = base.params_type(*params[:n_params])
    fused = _pointwise(base, firing, backend)
    one = x_step.unsqueeze(0)
    call = fused._normalise(base_state, (one, one), base_params, None)
    key = fused._plan(call)
    entry = _op.entry(key)
    plan, shape = entry.plan, call.shape
    flat = [p if p.dim() == 0 else p.expand(shape) for p in call.values if isinstance(p, Tensor)]
    tensors = [x_step, *call.s_leaves, *flat]
    kernel = None
    if backend == "triton" or (backend == "auto" and x_step.device.type == "cuda"):
        reason = _op.triton_reason(entry, tensors)
        if reason is not None and backend == "triton":
            raise ValueError(f"backend='triton' is not available here: {reason}")
    elif backend in ("auto", "kernel"):
        reason = _op.kernel_reason(plan, tensors)
        if reason is None:
            fn = _op._kernel(plan, x_step.dtype, "forward")
            if isinstance(fn, str):
                reason = fn
            else:
                kernel = fn
        if reason is not None and backend == "kernel":
            raise ValueError(f"backend='kernel' is not available here: {reason}")
    z_index = tuple(base.state).index("z") if "z" in base.state else None
    if kernel is not None:
        flat = [p.contiguous() for p in flat]
    return _Layer(key, plan, flat, kernel, z_index, backend)


def explain_recurrent(
    model: NeuronModel[Any, Any],
    state: Any,
    xs: Tensor,
    params: Any,
    *,
    num_steps: int | None = None,
    backend: Backend = "auto",
    **options: Any,
) -> Explanation:
    """Which implementation :func:`recurrent_scan` runs for these inputs, and why."""
    base = _check_model(model)
    if backend == "scan":
        return Explanation("scan", "backend='scan' was asked for")
    reason = _transform_reason()
    if reason is not None:
        return Explanation("scan", reason)
    x_step = xs if num_steps is not None else xs[0]
    try:
        layer = _plan_layer(model, base, state, x_step, params, Firing.of(**options), backend)
    except Unsupported as err:
        return Explanation("scan", str(err))
    if layer.kernel is not None:
        return Explanation("kernel")
    fused = _pointwise(base, Firing.of(**options), backend)
    one = x_step.unsqueeze(0)
    n_state, n_params = len(base.state), len(base.params)
    inner = fused.explain(
        base.state_type(*state[:n_state]), (one, one), base.params_type(*params[:n_params])
    )
    return inner


def _check_model(model: NeuronModel[Any, Any]) -> NeuronModel[Any, Any]:
    if not isinstance(model, NeuronModel):
        raise TypeError(f"model must be a NeuronModel, got {type(model).__name__}")
    base = recurrent_base(model)
    if base is None:
        raise ValueError(
            f"model must be a recurrent model (snnfunc.neurons.recurrent(base)), got "
            f"{model.name!r}; its fused scan is snnfunc.fused.FUSED[{model.name!r}]"
        )
    return base


def recurrent_scan(
    model: NeuronModel[Any, Any],
    state: Any,
    xs: Tensor,
    params: Any,
    *,
    num_steps: int | None = None,
    backend: Backend = "auto",
    **options: Any,
) -> tuple[Tensor, Any]:
    r"""Run a recurrent layer over all time steps: one matmul and one fused update per step.

    The same as ``scan(partial(model.step, params=params, **options), state, xs)`` (spikes and
    final state bit for bit; gradients to rounding)::

        for x in xs:                          # xs: [T, B, N]
            z, s = base_step(s, x + F.linear(z, W))
        return stack(zs), state(s, z)

    Args:
        model: a recurrent model, ``recurrent(base)`` (e.g. ``MODELS["rlif"]``).
        state: the model's state (``[B, N]`` leaves, ``z`` the last spikes).
        xs: input currents ``[T, B, N]``, or one ``[B, N]`` shown at each of ``num_steps``.
        params: the model's params: the base params (floats or per-neuron tensors) and
            ``weight`` ``[N, N]``.
        num_steps: static input (module docstring of :mod:`snnfunc.fused.scans`).
        backend: ``"auto"``, ``"kernel"`` (the C kernel or ``ValueError``), ``"triton"``,
            ``"torch"`` (the graph executor) or ``"scan"``; see :func:`snnfunc.fuse`.
        options: the firing options (``spike_fn``, ``reset``, ``reset_delay``,
            ``detach_reset``).
    Returns:
        ``(spikes [T, B, N], final state)``.

    >>> import torch
    >>> from functools import partial
    >>> from snnfunc import scan
    >>> from snnfunc.neurons import MODELS
    >>> rlif = MODELS["rlif"]
    >>> params = rlif.default_params(weight=torch.full((3, 3), 0.2))
    >>> xs = torch.rand(20, 2, 3, generator=torch.Generator().manual_seed(0))
    >>> spikes, state = recurrent_scan(rlif, rlif.init((2, 3)), xs, params)
    >>> ref, _ = scan(partial(rlif.step, params=params), rlif.init((2, 3)), xs)
    >>> torch.equal(spikes, ref)
    True
    """
    base = _check_model(model)
    check_choice("backend", backend, FUSE_BACKENDS)
    firing = Firing.of(**options)
    step: Any = model.step
    reference = functools.partial(step, params=params, **firing.options())
    if backend == "scan" or _transform_reason() is not None:
        return scan(reference, state, xs, num_steps=num_steps)
    x_step = first_step(xs, num_steps)
    static = num_steps is not None
    length = num_steps if num_steps is not None else xs.shape[0]
    model.check(state, x_step, params)
    try:
        layer = _plan_layer(model, base, state, x_step, params, firing, backend)
    except Unsupported as err:
        if backend in ("kernel", "triton", "torch"):
            raise ValueError(f"backend={backend!r} cannot fuse this step: {err}") from None
        return scan(reference, state, xs, num_steps=num_steps)
    n_state = len(base.state)
    shape = x_step.shape
    weight: Tensor = params.weight
    z0 = state.z.expand(shape)
    state0 = [s.expand(shape) for s in state[:n_state]]
    if layer.kernel is not None:
        xs, z0, weight = xs.contiguous(), z0.contiguous(), weight.contiguous()
        state0 = [s.contiguous() for s in state0]
    tensors = [xs, weight, z0, *state0, *layer.params]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        out = _RecurrentScan.apply(layer, static, length, n_state, *tensors)  # type: ignore[no-untyped-call]
        ys, final = out[0], list(out[1:])
    else:
        ys, _, states = layer.forward(xs, static, length, weight, z0, state0)
        final = [s[-1].clone() for s in states]
    if layer.z_index is None:
        return ys, model.state_type(*final, ys[-1])
    return ys, model.state_type(*final)
