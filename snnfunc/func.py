r"""Power tools built on ``torch.func``: ensembles, per-sample gradients, dynamics, forward mode.

Everything here works because snnfunc's steps are pure functions of NamedTuples of tensors:

* **Ensembles and sweeps** -- :func:`stack_params` stacks K param sets leafwise, :func:`ensemble`
  vmaps a function over them: K models (or K values of ``beta``, ``threshold``, surrogate slope)
  run and train in one call (``examples/func_ensemble.py``).
* **Per-sample gradients** -- :func:`per_sample_grads` is ``vmap(grad(loss))`` through a whole
  unroll; :func:`clip_per_sample_grads` clips them as DP-SGD does (``examples/func_per_sample.py``).
* **Dynamics** -- :func:`state_jacobian` is the Jacobian of one step with respect to the state
  (``jacrev``), :func:`grad_norm_through_time` how far back BPTT reaches
  (``examples/func_dynamics.py``).
* **Forward mode** -- the surrogate spikes of :mod:`snnfunc.surrogate` are
  ``autograd.Function``\ s without a ``jvp`` (adding one breaks ``torch.compile(fullgraph=True)``),
  so ``torch.func.jvp``/``jacfwd`` raise ``NotImplementedError: You must implement the jvp
  function ...``. :func:`snnfunc.surrogate.forward_mode_spike` (re-exported here) gives the
  same spikes and first derivatives with no Function (the detach trick), which every transform
  supports (``examples/func_forward_mode.py``).
* **Modules** -- :func:`functional` turns an ``nn.Module`` (e.g. :class:`snnfunc.nn.Sequential`)
  into ``(params, pure_fn)`` with ``torch.func.functional_call``: ``params`` are the trainable
  Parameters, the buffers stay bound (fixed) inside ``pure_fn``.

``torch.compile`` (PyTorch 2.13, tested in ``tests/test_compile.py``; ``examples/func_compile.py``):

* Safe: compile the *forward* (a step, a ``scan`` unroll, a training loss) and call
  ``.backward()`` on its output; the result equals eager.
* ``torch.compile(torch.func.grad(f))`` silently returns **zeros** when a surrogate Function is
  applied directly to the differentiated input (pytorch#193279: Dynamo inlines the Function's
  forward and drops its backward). snnfunc's neuron steps apply the spike to ``h - threshold``,
  an intermediate, where the result is correct; a bare ``compile(grad(spike_fn))`` is wrong.
  ``compile(vmap(grad(...)))`` over a neuron unroll fails inside Dynamo. Prefer eager
  ``torch.func``, or compile the forward.
* ``torch.func.grad(torch.compile(f))`` raises ``torch._dynamo.exc.Unsupported``.
* :func:`forward_mode_spike` has no Function, so every composition above works with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jacrev, vmap
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from snnfunc.scan import StepFn, scan
from snnfunc.surrogate import ForwardModeSpike as ForwardModeSpike
from snnfunc.surrogate import forward_mode_spike as forward_mode_spike

__all__ = [
    "stack_params",
    "unstack_params",
    "ensemble",
    "functional",
    "per_sample_grads",
    "clip_per_sample_grads",
    "state_jacobian",
    "grad_norm_through_time",
    "ForwardModeSpike",
    "forward_mode_spike",
]


# --- ensembles -----------------------------------------------------------------------------
def stack_params(params: Sequence[Any]) -> Any:
    """Stack K param pytrees of one structure leafwise along a new dim 0.

    Floats become tensors, so ``[LIFParams(0.8, 1.0), LIFParams(0.9, 1.0)]`` gives
    ``LIFParams(beta=tensor([0.8, 0.9]), threshold=tensor([1., 1.]))``. Leaves of one field
    must have equal shapes. Works for NamedTuples, dicts (e.g. ``module.named_parameters()``)
    and nestings of them.

    Args:
        params: K >= 1 pytrees with identical structure.
    Returns:
        One pytree whose leaves are ``[K, *leaf_shape]``.

    >>> from snnfunc import LIFParams
    >>> stack_params([LIFParams(0.8, 1.0), LIFParams(0.9, 1.0)])
    LIFParams(beta=tensor([0.8000, 0.9000]), threshold=tensor([1., 1.]))
    """
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence) or not params:
        raise ValueError(f"params must be a non-empty list of param pytrees, got {params!r:.80}")
    flat = [tree_flatten(p) for p in params]
    spec = flat[0][1]
    for k, (_, s) in enumerate(flat):
        if s != spec:
            raise ValueError(f"params[{k}] has structure {s}, but params[0] has {spec}")
    columns = []
    for i in range(len(flat[0][0])):
        leaves = [_leaf_tensor(f"params[{k}] leaf {i}", f[0][i]) for k, f in enumerate(flat)]
        shapes = {tuple(t.shape) for t in leaves}
        if len(shapes) != 1:
            raise ValueError(f"leaf {i} of the param sets has different shapes {sorted(shapes)}")
        columns.append(torch.stack(leaves))
    return tree_unflatten(columns, spec)


def _leaf_tensor(name: str, leaf: Any) -> Tensor:
    if isinstance(leaf, Tensor):
        return leaf
    if isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
        return torch.tensor(float(leaf))
    raise TypeError(f"{name} must be a Tensor or a float, got {type(leaf).__name__}")


def unstack_params(stacked: Any) -> list[Any]:
    """Inverse of :func:`stack_params`: K pytrees from one with ``[K, ...]`` leaves."""
    leaves, spec = tree_flatten(stacked)
    sizes = {t.shape[0] for t in leaves if isinstance(t, Tensor) and t.dim() > 0}
    if len(sizes) != 1:
        raise ValueError(f"stacked leaves must share one leading dim K, got sizes {sizes}")
    (k,) = sizes
    return [tree_unflatten([t[i] for t in leaves], spec) for i in range(k)]


def ensemble(
    fn: Callable[..., Any],
    *,
    argnum: int = 0,
    chunk_size: int | None = None,
    randomness: Literal["error", "different", "same"] = "error",
) -> Callable[..., Any]:
    """Vmap ``fn`` over the stacked params in positional argument ``argnum``, sharing the rest.

    ``ensemble(fn)(stacked, *args)[k] == fn(params_k, *args)``: K models (or K hyperparameter
    settings) in one call, and -- since the K outputs are independent -- ``loss.sum()`` trains all
    K at once with one optimizer over the stacked tensors.

    Args:
        fn: a pure function; ``fn(params, *args)`` for ``argnum=0``.
        argnum: which positional argument holds the stacked params (leading dim K).
        chunk_size, randomness: as ``torch.func.vmap``.
    Returns:
        ``(*args) -> fn``'s outputs with a leading ``[K]`` dim.

    >>> import torch
    >>> from functools import partial
    >>> from snnfunc import LIFParams, lif_init, lif_step, scan
    >>> def rate(params, xs):  # xs: [T, N] -> spike count [N]
    ...     return scan(partial(lif_step, params=params), lif_init(xs.shape[1:]), xs)[0].sum(0)
    >>> sweep = stack_params([LIFParams(b, 1.0) for b in (0.0, 0.5, 0.9)])
    >>> ensemble(rate)(sweep, torch.full((20, 1), 0.6))[:, 0]  # [K, N] -> spikes per beta
    tensor([ 0.,  6., 10.])
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(argnum, bool) or not isinstance(argnum, int) or argnum < 0:
        raise ValueError(f"argnum must be a non-negative int, got {argnum!r}")

    def run(*args: Any) -> Any:
        if argnum >= len(args):
            raise ValueError(f"argnum={argnum} but only {len(args)} positional arguments given")
        in_dims = tuple(0 if i == argnum else None for i in range(len(args)))
        return vmap(fn, in_dims=in_dims, chunk_size=chunk_size, randomness=randomness)(*args)

    return run


def functional(module: nn.Module) -> tuple[dict[str, Tensor], Callable[..., Any]]:
    """A module as ``(params, pure_fn)``: ``pure_fn(params, *args) == module(*args)``.

    ``params`` holds detached copies of the module's *Parameters* only, by name -- what
    ``grad``, ``vmap`` (e.g. over :func:`stack_params` of several modules' params),
    :func:`ensemble`, :func:`per_sample_grads` and an optimizer should see. The buffers (fixed
    values such as a LIF layer's ``beta`` and ``threshold`` when not learned) are bound into
    ``pure_fn`` as detached copies taken now, so training ``params`` can never move them.
    ``pure_fn`` is ``torch.func.functional_call(module, {**buffers, **params}, args)``: to sweep
    a buffer (say K thresholds in an ensemble), pass it in ``params`` by name and it replaces
    the bound value -- ``dict(params, **{"layers.1.threshold": t})``.

    >>> import torch
    >>> import snnfunc.nn as snn
    >>> net = snn.Sequential(torch.nn.Linear(2, 3), snn.LIF(0.9, size=3))  # beta, threshold fixed
    >>> params, pure_fn = functional(net)
    >>> sorted(params)  # the buffers layers.1.beta and layers.1.threshold are bound, not here
    ['layers.0.bias', 'layers.0.weight']
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    params = {name: t.detach().clone() for name, t in module.named_parameters()}
    buffers = {name: t.detach().clone() for name, t in module.named_buffers()}

    def pure_fn(params: dict[str, Tensor], *args: Any, **kwargs: Any) -> Any:
        return functional_call(module, {**buffers, **params}, args, kwargs)

    return params, pure_fn


# --- per-sample gradients ----------------------------------------------------------------------
def per_sample_grads(
    loss_fn: Callable[..., Tensor],
    params: Any,
    *data: Any,
    in_dims: int | tuple[int | None, ...] = 0,
    chunk_size: int | None = None,
) -> Any:
    """One gradient per example: ``vmap(grad(loss_fn), in_dims=(None, *in_dims))``.

    ``loss_fn(params, *example) -> scalar`` sees *one* example (an unroll over its ``[T, ...]``
    input included). For time-major SNN data ``xs: [T, B, N]`` use ``in_dims=(1, 0)`` with labels
    ``[B]``. Use for DP-SGD clipping (:func:`clip_per_sample_grads`), influence or data-pruning
    scores.

    Args:
        loss_fn: ``(params, *example) -> scalar``.
        params: a pytree of tensors (shared by every example).
        *data: batched inputs.
        in_dims: the batch dim of each of ``data`` (an int for all).
        chunk_size: as ``torch.func.vmap`` (bounds memory).
    Returns:
        ``params``-shaped pytree, each leaf ``[B, *leaf_shape]``.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if not data:
        raise ValueError("per_sample_grads needs at least one batched data argument")
    dims = (in_dims,) * len(data) if isinstance(in_dims, int) else tuple(in_dims)
    if len(dims) != len(data):
        raise ValueError(f"in_dims has {len(dims)} entries but {len(data)} data arguments given")
    return vmap(grad(loss_fn), in_dims=(None, *dims), chunk_size=chunk_size)(params, *data)


def clip_per_sample_grads(grads: Any, max_norm: float) -> tuple[Any, Tensor]:
    """Clip each example's gradient to L2 norm ``max_norm`` (over all leaves) and average.

    DP-SGD's clipping: ``g_b * min(1, max_norm / ||g_b||)``, then the mean over ``b`` (add the
    calibrated Gaussian noise yourself, e.g. ``+ sigma * max_norm / B * randn``).

    Args:
        grads: from :func:`per_sample_grads`, leaves ``[B, ...]``.
        max_norm: the clipping norm, > 0.
    Returns:
        ``(mean_clipped, norms)``: a pytree like one example's gradient, and ``norms: [B]``
        (before clipping).
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not max_norm > 0:
        raise ValueError(f"max_norm must be a float > 0, got {max_norm!r}")
    leaves, spec = tree_flatten(grads)
    if not leaves or not all(isinstance(t, Tensor) and t.dim() > 0 for t in leaves):
        raise ValueError("grads must be a non-empty pytree of tensors with a leading batch dim")
    sq = sum(t.reshape(t.shape[0], -1).pow(2).sum(1) for t in leaves)
    norms = torch.as_tensor(sq).sqrt()
    scale = (max_norm / (norms + 1e-12)).clamp(max=1.0)
    clipped = [(t * scale.view(-1, *[1] * (t.dim() - 1))).mean(0) for t in leaves]
    return tree_unflatten(clipped, spec), norms


# --- dynamics ----------------------------------------------------------------------------------
def state_jacobian(step: StepFn, state: Any, x: Any) -> Tensor:
    r"""The Jacobian :math:`\partial s_{t+1} / \partial s_t` of one step, as a ``[D, D]`` matrix.

    ``D`` is the number of state elements; rows index the new state and columns the old one,
    both in the order of the state's fields, each flattened (``LIFState(v: [N])`` gives
    ``[N, N]``; ``SynapticState(i, v)`` gives ``[2N, 2N]`` with ``i`` first). Surrogate
    derivatives enter through the reset only when ``detach_reset=False``. Give one example's
    state; for a batch, ``torch.func.vmap(partial(state_jacobian, step))(states, xs)``.

    Args:
        step: ``(state, x) -> (out, state)`` (bind params with ``partial``).
        state: one example's state, a pytree of floating tensors.
        x: the input at this step.
    Returns:
        ``[D, D]``.

    >>> import torch
    >>> from functools import partial
    >>> from snnfunc import LIFParams, lif_init, lif_step
    >>> step = partial(lif_step, params=LIFParams(0.9, 1.0))
    >>> state_jacobian(step, lif_init(2), torch.zeros(2))
    tensor([[0.9000, 0.0000],
            [0.0000, 0.9000]])
    """
    leaves, spec = tree_flatten(state)
    if not leaves or not all(isinstance(t, Tensor) and t.is_floating_point() for t in leaves):
        raise TypeError("state must be a non-empty pytree of floating-point tensors")
    shapes = [t.shape for t in leaves]
    sizes = [t.numel() for t in leaves]

    def flat_step(flat: Tensor) -> Tensor:
        parts = [p.reshape(s) for p, s in zip(torch.split(flat, sizes), shapes, strict=True)]
        _, new = step(tree_unflatten(parts, spec), x)
        new_leaves, new_spec = tree_flatten(new)
        if new_spec != spec:
            raise ValueError(f"step changed the state structure: {spec} -> {new_spec}")
        return torch.cat([t.reshape(-1) for t in new_leaves])

    jac: Tensor = jacrev(flat_step)(torch.cat([t.reshape(-1) for t in leaves]))
    return jac


def grad_norm_through_time(
    step: StepFn,
    state: Any,
    xs: Any,
    loss_fn: Callable[[Any, Any], Tensor],
    *,
    wrt: Literal["state", "input"] = "state",
) -> Tensor:
    r"""How far back the gradient reaches: :math:`\|\partial L / \partial s_t\|` for each ``t``.

    Unrolls ``step`` over ``xs: [T, ...]`` with :func:`snnfunc.scan`, computes
    ``L = loss_fn(ys, final_state)`` and returns, for every step ``t``, the L2 norm (over all
    leaves and the batch) of the gradient of ``L`` with respect to

    * ``wrt="state"``: the state *entering* step ``t`` (``t = 0`` is the initial state), found as
      the gradient of a zero perturbation added to it, or
    * ``wrt="input"``: the input ``xs[t]``.

    A sharp decay towards small ``t`` means BPTT effectively sees only the last few steps.

    Args:
        step: ``(state, x) -> (out, state)``.
        state: the initial state (any pytree of floating tensors).
        xs: ``[T, ...]`` inputs (a tensor, or a pytree of tensors for ``wrt="state"``).
        loss_fn: ``(ys [T, ...], final_state) -> scalar``.
        wrt: ``"state"`` or ``"input"``.
    Returns:
        ``[T]`` norms.

    >>> import torch
    >>> from functools import partial
    >>> from snnfunc import LIFParams, lif_init, lif_step
    >>> step = partial(lif_step, params=LIFParams(0.5, 1e9))  # never fires: v_T = sum 0.5^k x
    >>> grad_norm_through_time(step, lif_init(1), torch.ones(4, 1), lambda ys, s: s.v.sum())
    tensor([0.0625, 0.1250, 0.2500, 0.5000])
    """
    if wrt not in ("state", "input"):
        raise ValueError(f"wrt must be 'state' or 'input', got {wrt!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if wrt == "input":
        if not isinstance(xs, Tensor) or not xs.is_floating_point():
            raise TypeError("wrt='input' needs xs to be a floating-point tensor [T, ...]")

        def loss_of_xs(xs: Tensor) -> Tensor:
            return loss_fn(*scan(step, state, xs))

        g: Tensor = grad(loss_of_xs)(xs)
        norms: Tensor = torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1)
        return norms

    leaves = tree_flatten(xs)[0]
    if not leaves or not isinstance(leaves[0], Tensor):
        raise TypeError("xs must be a tensor [T, ...] or a pytree of them")
    num_steps = leaves[0].shape[0]
    eps = tree_map(lambda s: s.new_zeros((num_steps, *s.shape)), state)

    def perturbed(s: Any, x_e: tuple[Any, Any]) -> tuple[Any, Any]:
        x, e = x_e
        return step(tree_map(torch.add, s, e), x)

    def loss_of_eps(eps: Any) -> Tensor:
        return loss_fn(*scan(perturbed, state, (xs, eps)))

    grads = tree_flatten(grad(loss_of_eps)(eps))[0]
    sq = sum(t.reshape(num_steps, -1).pow(2).sum(1) for t in grads)
    return torch.as_tensor(sq).sqrt()
