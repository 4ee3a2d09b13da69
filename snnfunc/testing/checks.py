"""Invariant checks to run on your own cells, surrogates, encoders and fused paths.

Each ``assert_*`` raises ``AssertionError`` naming the transform or quantity that disagreed;
each ``check_*`` does the same and returns what it measured.

Importing this module runs :func:`warm_up` once: the first ``torch.func.grad`` of a process
imports ``torch._dynamo`` (about a second), which would otherwise land inside the first
hypothesis example and exceed hypothesis' default 200 ms ``deadline``. With the warm-up done at
import, the checkers run under hypothesis' default settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.func import grad, jacrev, vmap
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from snnfunc.scan import scan

__all__ = [
    "assert_transform_compatible",
    "check_surrogate",
    "SurrogateReport",
    "check_rate_convergence",
    "assert_scan_equivalent",
    "warm_up",
]


@cache
def warm_up() -> None:
    """Run ``vmap``, ``grad``, ``jacrev`` and ``vmap(grad)`` once on a tiny function, so that
    torch.func's one-time setup (the first ``grad`` imports ``torch._dynamo``, ~1 s) is not
    paid inside a timed hypothesis example. Cached: later calls do nothing. Called when this
    module is imported; call it yourself before timing your own transform code."""
    x = torch.ones(2, 1)

    def f(v: Tensor) -> Tensor:
        return (v * v).sum()

    vmap(torch.sin)(x)
    grad(f)(x[0])
    jacrev(torch.sin)(x[0])
    vmap(grad(f))(x)


def _close(what: str, got: Any, want: Any, rtol: float | None, atol: float | None) -> None:
    got_leaves, got_spec = tree_flatten(got)
    want_leaves, want_spec = tree_flatten(want)
    if got_spec != want_spec:
        raise AssertionError(f"{what}: structure {got_spec} differs from {want_spec}")
    for k, (g, w) in enumerate(zip(got_leaves, want_leaves, strict=True)):
        try:
            torch.testing.assert_close(g, w, rtol=rtol, atol=atol)
        except AssertionError as err:
            raise AssertionError(f"{what} (leaf {k}): {err}") from None


def _run(stage: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except AssertionError:
        raise
    except Exception as err:
        raise AssertionError(f"{stage} failed: {type(err).__name__}: {err}") from err


def _tensorize(tree: Any, like: Tensor) -> Any:
    """Float leaves -> 0-d tensors of ``like``'s dtype/device (transforms need tensors)."""
    return tree_map(
        lambda v: (
            torch.tensor(float(v), dtype=like.dtype, device=like.device)
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else v
        ),
        tree,
    )


def _weights_like(tree: Any, seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    return tree_map(
        lambda t: (
            torch.rand(t.shape, generator=g, dtype=t.dtype).to(t.device) + 0.5
            if isinstance(t, Tensor) and t.is_floating_point()
            else 0
        ),
        tree,
    )


def _dot(tree: Any, weights: Any) -> Tensor:
    leaves = tree_flatten(tree)[0]
    wleaves = tree_flatten(weights)[0]
    total = [(t * w).sum() for t, w in zip(leaves, wleaves, strict=True) if isinstance(w, Tensor)]
    return torch.stack(total).sum()


def _float_leaves(tree: Any) -> list[Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, Tensor) and t.is_floating_point()]


def _requires_grad_copy(tree: Any) -> Any:
    return tree_map(
        lambda t: (
            t.detach().clone().requires_grad_(True)
            if isinstance(t, Tensor) and t.is_floating_point()
            else t
        ),
        tree,
    )


def _autograd(loss: Tensor, tree: Any) -> list[Tensor]:
    leaves = _float_leaves(tree)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(leaves, grads, strict=True)]


def _split(flat: Tensor, sizes: list[int]) -> list[Tensor]:
    return list(torch.split(flat, sizes))


def _scale(w: Any, factor: Tensor) -> Any:
    return w * factor if isinstance(w, Tensor) else w


def _select(tree: Any, dim: int, index: int) -> Any:
    return tree_map(lambda t: t.select(dim, index), tree)


def assert_transform_compatible(
    step: Callable[..., tuple[Any, Any]],
    state: Any,
    x: Tensor,
    params: Any,
    *,
    batch_dim: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    max_examples: int = 4,
    seed: int = 0,
    **options: Any,
) -> None:
    """Check that ``vmap``, ``grad``, ``jacrev`` and ``vmap(grad)`` work on ``step`` and agree
    with the batched call.

    ``step(state, x, params, **options) -> (out, state)`` is called on a batch (``x: [B, ...]``
    and every state leaf batched along ``batch_dim``; params shared). With ``L`` a fixed random
    positive weighting of the outputs and new state, it checks:

    1. ``vmap`` over the batch equals the batched call (outputs and new state);
    2. ``torch.func.grad`` of ``L`` w.r.t. ``(state, x, params)`` equals ``torch.autograd``;
    3. ``vmap(grad)`` per example: state/input gradients equal the batched gradients, param
       gradients sum to the batched one and each equals the batched gradient of that example
       alone (first ``max_examples`` examples);
    4. ``jacrev`` of one example's flattened ``(out, state)`` w.r.t. its ``(state, x)``,
       contracted with the weights, equals that example's gradient.

    Float params are turned into 0-d tensors first (transforms need tensors).

    Args:
        step: the step function; static ``options`` are passed as keywords.
        state: a batched state (pytree of tensors).
        x: the batched input ``[B, ...]`` (batch along ``batch_dim``).
        params: the params pytree, shared by every example.
        batch_dim: the batch dimension of ``x`` and of every state leaf.
        rtol, atol: tolerances (``torch.testing.assert_close`` defaults when ``None``).
        max_examples: how many examples step 3 checks one by one.
        seed: seed of the random weighting.
    Raises:
        AssertionError: naming the transform that failed or disagreed.
    """
    params = _tensorize(params, x)
    fn = partial(step, **options)
    batch = x.shape[batch_dim]

    out = _run("the batched call", lambda: fn(state, x, params))
    got = _run(
        "vmap",
        lambda: vmap(fn, in_dims=(batch_dim, batch_dim, None), out_dims=batch_dim)(
            state, x, params
        ),
    )
    _close("vmap vs the batched call", got, out, rtol, atol)

    weights = _weights_like(out, seed)

    def loss(state: Any, x: Tensor, params: Any, weights: Any) -> Tensor:
        return _dot(fn(state, x, params), weights)

    func_grads = _run("grad", lambda: grad(loss, argnums=(0, 1, 2))(state, x, params, weights))
    s_, x_, p_ = _requires_grad_copy((state, x, params))
    ref = _autograd(loss(s_, x_, p_, weights), (s_, x_, p_))
    _close("grad vs torch.autograd", _float_leaves(func_grads), ref, rtol, atol)
    n_state = len(_float_leaves(state))
    n_inputs = n_state + 1

    w_dims = tree_map(lambda w: batch_dim if isinstance(w, Tensor) else None, weights)
    per = _run(
        "vmap(grad)",
        lambda: vmap(grad(loss, argnums=(0, 1, 2)), in_dims=(batch_dim, batch_dim, None, w_dims))(
            state, x, params, weights
        ),
    )
    per_leaves = _float_leaves(per)
    per_inputs = [t.movedim(0, batch_dim) for t in per_leaves[:n_inputs]]
    _close("vmap(grad) state/input gradients", per_inputs, ref[:n_inputs], rtol, atol)
    summed = [t.sum(0) for t in per_leaves[n_inputs:]]
    _close("vmap(grad) param gradients summed over the batch", summed, ref[n_inputs:], rtol, atol)
    for b in range(min(batch, max_examples)):
        mask = torch.zeros(batch, dtype=x.dtype, device=x.device)
        mask[b] = 1
        shape = [1] * x.dim()
        shape[batch_dim] = batch
        masked = tree_map(partial(_scale, factor=mask.view(shape)), weights)
        s_, x_, p_ = _requires_grad_copy((state, x, params))
        ref_b = _autograd(loss(s_, x_, p_, masked), (s_, x_, p_))
        _close(
            f"vmap(grad) param gradient of example {b}",
            [t[b] for t in per_leaves[n_inputs:]],
            ref_b[n_inputs:],
            rtol,
            atol,
        )

    # jacrev of example 0, flattened.
    state0, x0 = _select(state, batch_dim, 0), x.select(batch_dim, 0)
    in_leaves, in_spec = tree_flatten((state0, x0))
    shapes = [t.shape for t in in_leaves]
    sizes = [t.numel() for t in in_leaves]

    def flat_fn(flat: Tensor) -> Tensor:
        parts = [p.reshape(s) for p, s in zip(_split(flat, sizes), shapes, strict=True)]
        st0, xx = tree_unflatten(parts, in_spec)
        return torch.cat([t.reshape(-1) for t in _float_leaves(fn(st0, xx, params))])

    flat0 = torch.cat([t.reshape(-1) for t in in_leaves])
    jac = _run("jacrev", lambda: jacrev(flat_fn)(flat0))
    w0 = [w.select(batch_dim, 0).reshape(-1) for w in _float_leaves(weights)]
    want = torch.cat([t.select(batch_dim, 0).reshape(-1) for t in ref[:n_inputs]])
    _close("jacrev contracted with the weights vs grad", torch.cat(w0) @ jac, want, rtol, atol)


class SurrogateReport(NamedTuple):
    """What :func:`check_surrogate` measured."""

    peak: float  # max of the backward on the grid
    area: float  # integral of the backward over [-window, window]


def check_surrogate(
    spike_fn: Callable[[Tensor], Tensor],
    *,
    expect_area: float | None = None,
    window: float = 50.0,
    points: int = 20_001,
    area_rtol: float = 1e-2,
) -> SurrogateReport:
    """Check a spike function: Heaviside forward, finite integrable backward.

    * forward: exactly ``1[x > 0]`` (``torch.equal``) in float32 and float64, on a grid over
      ``[-window, window]`` plus ``0``, ``±1e-30`` and ``±1e30``; dtype and shape kept
      (0-d and ``[2, 3]`` too);
    * backward (``torch.autograd``): finite and ``>= 0`` everywhere on the grid, equal to
      ``spike_fn.derivative(x)`` when the function has one;
    * ``vmap`` and ``vmap(grad)`` agree with the plain calls;
    * the area under the backward on ``[-window, window]`` (trapezoid rule) is finite, and
      within ``area_rtol`` of ``expect_area`` when given (1 for ``atan``, ``sigmoid``,
      ``triangle``, ``boxcar``; ``2/k`` for ``fast_sigmoid(k)``).

    Args:
        spike_fn: the spike function (``[...] -> [...]``).
        expect_area: the backward's expected total area, or ``None`` to skip (e.g. the
            straight-through estimator, whose area grows with the window).
        window, points: the grid: ``points`` uniform over ``[-window, window]`` plus ``points``
            over ``[-1, 1]`` (sharp surrogates).
        area_rtol: relative tolerance on the area.
    Returns:
        :class:`SurrogateReport` with the peak and the area.
    """
    if not callable(spike_fn):
        raise TypeError(f"spike_fn must be callable, got {type(spike_fn).__name__}")
    special = [0.0, 1e-30, -1e-30, 1e30, -1e30, -0.0]
    for dtype in (torch.float32, torch.float64):
        grid = torch.cat(
            [torch.linspace(-window, window, 1001, dtype=dtype), torch.tensor(special, dtype=dtype)]
        )
        z = _run("the forward", partial(spike_fn, grid))
        if z.dtype != dtype or z.shape != grid.shape:
            raise AssertionError(
                f"forward must keep dtype and shape: {dtype} {tuple(grid.shape)} -> "
                f"{z.dtype} {tuple(z.shape)}"
            )
        if not torch.equal(z, (grid > 0).to(dtype)):
            bad = grid[z != (grid > 0).to(dtype)]
            raise AssertionError(f"forward is not the Heaviside step 1[x > 0] at x = {bad[:5]}")
    for shape in ((), (2, 3)):
        x = torch.linspace(-1, 1, max(1, math.prod(shape)), dtype=torch.float64).reshape(shape)
        if spike_fn(x).shape != x.shape:
            raise AssertionError(f"forward changed the shape {tuple(shape)}")

    x = (
        torch.cat(  # uniform, plus a dense core where sharp surrogates live
            [
                torch.linspace(-window, window, points, dtype=torch.float64),
                torch.linspace(-1.0, 1.0, points, dtype=torch.float64),
                torch.zeros(1, dtype=torch.float64),
            ]
        )
        .sort()
        .values
    )  # duplicates add zero-width trapezoids
    xg = x.clone().requires_grad_(True)
    (g,) = _run("the backward", lambda: torch.autograd.grad(spike_fn(xg).sum(), xg))
    if not bool(torch.isfinite(g).all()):
        raise AssertionError(f"backward is not finite at x = {x[~torch.isfinite(g)][:5]}")
    if bool((g < 0).any()):
        raise AssertionError(f"backward is negative at x = {x[g < 0][:5]}")
    derivative = getattr(spike_fn, "derivative", None)
    if callable(derivative):
        _close("backward vs spike_fn.derivative(x)", g, derivative(x), None, None)
    x2 = x[:: max(1, x.numel() // 64)][:64].reshape(8, 8)
    _close("vmap(spike_fn)", _run("vmap", lambda: vmap(spike_fn)(x2)), spike_fn(x2), None, None)
    per = _run("vmap(grad)", lambda: vmap(vmap(grad(lambda t: spike_fn(t))))(x2))
    x2g = x2.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(spike_fn(x2g).sum(), x2g)
    _close("vmap(grad(spike_fn))", per, ref, None, None)

    area = float(torch.trapezoid(g, x))
    if not math.isfinite(area):
        raise AssertionError(f"the backward's area over [-{window}, {window}] is {area}")
    if expect_area is not None and not math.isclose(area, expect_area, rel_tol=area_rtol):
        raise AssertionError(
            f"the backward's area over [-{window}, {window}] is {area:.6g}, "
            f"expected {expect_area:.6g} (rtol {area_rtol})"
        )
    return SurrogateReport(peak=float(g.max()), area=area)


def check_rate_convergence(
    encoder: Callable[..., Tensor],
    *,
    probs: Tensor | None = None,
    num_steps: Sequence[int] = (10, 100, 2000),
    seed: int = 0,
    sigmas: float = 5.0,
    check_grad: bool = False,
) -> dict[int, float]:
    r"""Check a rate encoder ``encoder(p, num_steps, generator=g) -> [T, *p.shape]``.

    For each ``T`` in ``num_steps``: the output has shape ``[T, *p.shape]`` and the dtype of
    ``p``, values in {0, 1}; the firing rate ``mean_t`` is within ``sigmas`` binomial standard
    deviations :math:`\sqrt{p(1-p)/T}` of ``p`` (exact for ``p`` in {0, 1}); the same seed gives
    the same spikes. With ``check_grad`` the gradient of the spike count w.r.t. ``p`` is finite
    and positive (a straight-through encoder gives ``T``).

    Args:
        encoder: e.g. ``snnfunc.encode.rate`` (its ``gain`` left at the default).
        probs: firing probabilities in [0, 1], any shape (default: ``[2, 4]`` float64 holding
            0, 0.05, 0.25, 0.5, 0.75, 0.9, 0.99 and 1).
        num_steps: the ``T``\ s to try, increasing.
        seed: seed of the ``torch.Generator`` passed as ``generator=``.
        sigmas: the tolerance in standard deviations.
        check_grad: also check the straight-through gradient to ``p``.
    Returns:
        ``{T: max |rate - p|}``, which should shrink like ``1/sqrt(T)``.
    """
    if not callable(encoder):
        raise TypeError(f"encoder must be callable, got {type(encoder).__name__}")
    p = (
        torch.tensor([[0.0, 0.05, 0.25, 0.5], [0.75, 0.9, 0.99, 1.0]], dtype=torch.float64)
        if probs is None
        else probs
    )
    if not isinstance(p, Tensor) or not p.is_floating_point():
        raise TypeError("probs must be a floating-point tensor")
    errors = {}
    for t in num_steps:
        out = _run(f"encoder(p, {t})", partial(encoder, p, t, generator=_gen(seed)))
        if not isinstance(out, Tensor) or tuple(out.shape) != (t, *p.shape):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise AssertionError(
                f"encoder(p, {t}) must be [T, *p.shape] = {(t, *p.shape)}, got {got}"
            )
        if out.dtype != p.dtype:
            raise AssertionError(f"encoder output dtype {out.dtype} differs from p's {p.dtype}")
        if not bool(((out == 0) | (out == 1)).all()):
            raise AssertionError(f"encoder(p, {t}) must be binary (0 or 1)")
        again = encoder(p, t, generator=_gen(seed))
        if not torch.equal(out, again):
            raise AssertionError("the same generator seed must give the same spikes")
        rate = out.detach().mean(0)
        bound = sigmas * torch.sqrt(p * (1 - p) / t) + 1e-12
        err = (rate - p).abs()
        if bool((err > bound).any()):
            k = int(torch.argmax(err - bound))
            raise AssertionError(
                f"rate over T={t} steps is {rate.flatten()[k]:.4f} for p={p.flatten()[k]:.4f}, "
                f"outside {sigmas} standard deviations ({bound.flatten()[k]:.4f})"
            )
        errors[t] = float(err.max())
    if check_grad:
        pg = p.detach().clone().requires_grad_(True)
        t = num_steps[0]
        (g,) = _run(
            "encoder backward",
            lambda: torch.autograd.grad(encoder(pg, t, generator=_gen(seed)).sum(), pg),
        )
        if not bool(torch.isfinite(g).all()) or not bool((g > 0).all()):
            raise AssertionError(
                f"the gradient of the spike count w.r.t. p must be finite and > 0, got {g}"
            )
    return errors


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_scan_equivalent(
    fast: Callable[..., tuple[Any, Any]],
    reference: Callable[..., tuple[Any, Any]],
    state: Any,
    xs: Any,
    params: Any = None,
    *,
    exact_outputs: bool = True,
    check_grad: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    **options: Any,
) -> None:
    """Check a multi-step path against ``scan`` of a reference step, values and gradients.

    Without ``params``: ``fast(state, xs) -> (ys, state)`` vs ``scan(reference, state, xs)``
    (``reference(state, x) -> (y, state)``). With ``params``: ``fast(state, xs, params,
    **options)`` vs ``scan(partial(reference, params=params, **options), state, xs)``, the form of
    ``lif_scan`` vs ``lif_step``.

    Outputs must be equal (``torch.equal``; spikes must not flip) unless ``exact_outputs=False``;
    final states close. With ``check_grad``, the gradients of a fixed random weighting of
    ``(ys, final state)`` w.r.t. ``xs``, the initial state and the float params agree
    (``torch.autograd``, so fused paths without torch.func support can be checked).

    Raises:
        AssertionError: naming what disagreed.
    """
    if params is not None:
        params = _tensorize(params, tree_flatten(xs)[0][0])

    def run_fast(state: Any, xs: Any, params: Any) -> Any:
        return fast(state, xs) if params is None else fast(state, xs, params, **options)

    def run_ref(state: Any, xs: Any, params: Any) -> Any:
        step = reference if params is None else partial(reference, params=params, **options)
        return scan(step, state, xs)

    with torch.no_grad():
        got = _run("fast", lambda: run_fast(state, xs, params))
        want = _run("scan(reference)", lambda: run_ref(state, xs, params))
    if exact_outputs:
        for k, (g, w) in enumerate(
            zip(tree_flatten(got[0])[0], tree_flatten(want[0])[0], strict=True)
        ):
            if not torch.equal(g, w):
                n = int((g != w).sum())
                raise AssertionError(
                    f"outputs (leaf {k}) differ from scan(reference) in {n} places"
                )
    else:
        _close("outputs vs scan(reference)", got[0], want[0], rtol, atol)
    _close("final state vs scan(reference)", got[1], want[1], rtol, atol)
    if not check_grad:
        return
    weights = _weights_like(want, seed)
    grads = []
    for name, run in (("fast", run_fast), ("scan(reference)", run_ref)):
        s_, x_, p_ = _requires_grad_copy((state, xs, params))
        loss = _dot(run(s_, x_, p_), weights)
        grads.append(
            _run(
                f"backward of {name}",
                partial(_autograd, loss, (s_, x_, p_)),
            )
        )
    _close("gradients vs scan(reference)", grads[0], grads[1], rtol, atol)


warm_up()  # at import: outside any timed hypothesis example (see the module docstring)
