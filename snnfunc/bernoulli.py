r"""Straight-through Bernoulli sampling with explicit randomness.

:func:`bernoulli` draws spikes :math:`z = \mathbb{1}[u < p]` from uniform noise :math:`u` and
passes the gradient straight through to the probabilities:

.. math:: z = \mathbb{1}[u < p],\quad u \sim U[0, 1),\qquad
          \frac{\partial z}{\partial p} := s

with :math:`s` = ``grad_scale`` (default 1).

``torch.bernoulli``'s gradient with respect to ``p`` is zero (``BernoulliBackward0`` returns
zeros), so a rate-coded SNN built on it cannot be attacked or trained end to end through its
input. Here the expectation :math:`\mathbb{E}[z] = p` is linear in ``p`` with slope 1, which is
what the straight-through estimator passes on.

**Randomness is an argument, as with a JAX key.** Pass the noise ``u`` yourself, or a
``torch.Generator`` from which it is drawn. Passing ``u`` makes the function pure: the same
``(p, u)`` always gives the same spikes, and it runs under ``torch.func.vmap`` with no flag,
since no random operation happens inside the transform (vmap the noise like any other input, e.g.
``vmap(f, in_dims=(0, 1))(p_BN, u_TBN)``).

Drawing the noise *inside* ``vmap`` (``u=None``) is a random operation under the transform, and
``vmap``'s ``randomness=`` flag decides what happens: ``"error"`` (the default) raises
``RuntimeError: vmap: called random operation while in randomness error mode``; ``"same"`` draws
one noise tensor shared by every example of the batch; ``"different"`` draws independent noise
per example. Neither is reproducible against the unbatched call, so prefer passing ``u``.

torch.func: the Function uses ``setup_context`` and ``generate_vmap_rule = True``, so ``vmap``,
``grad``, ``vmap(grad)`` and ``jacrev`` work; compile the forward, not ``grad`` (pytorch#193279).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import as_shape, check_dtype_device, check_floating, check_in_unit_interval

__all__ = ["bernoulli", "uniform_noise"]


def _sample(p: Tensor, u: Tensor, dtype: torch.dtype) -> Tensor:
    """``1[u < p]`` in ``dtype`` (bool, uint8 or floating), ``p`` broadcast against ``u``.

    ``u`` is float noise in [0, 1), or int16 noise ``r`` (16 random bits, see :func:`_bits16`;
    eager only), which spikes where ``r < c`` with ``c = p * 2**16 - 2**15 - 1/2``: of the 2**16
    values of ``r``, ``ceil(p * 2**16 - 1/2)`` (clipped to [0, 2**16]) pass, so the spike
    probability is exact at 0 and 1 and within ``2**-17`` of ``p`` elsewhere.
    """
    if u.dtype != torch.int16:
        z = u < p
        if dtype == torch.bool:
            return z
        # NaN policy (docs/reliability.md): a NaN probability gives a NaN spike, never a silent 0.
        # (Eager calls reject NaN up front; this is the traced path, where values can't be read.)
        return torch.where(torch.isnan(p), p.detach().to(dtype), z.to(dtype))
    c = _threshold(p)
    shape = torch.broadcast_shapes(p.shape, u.shape)  # type: ignore[no-untyped-call]
    if dtype.is_floating_point:
        # One vectorised pass: int16 noise against the float threshold, into the output dtype.
        out = torch.empty(shape, dtype=c.dtype, device=u.device)
        torch.lt(u, c, out=out)
        return out if dtype == c.dtype else out.to(dtype)
    # Compact output: an int16 threshold keeps the compare in int16 (lt(int16, float) into uint8
    # takes a slow mixed-dtype path); it cannot pass all 2**16 values, so patch c > 2**15 - 1.
    out = torch.empty(shape, dtype=torch.uint8, device=u.device)
    torch.lt(u, c.ceil().clamp_(max=32767.0).to(torch.int16), out=out)
    sure = c > 32767.0
    if bool(sure.any()):
        torch.maximum(out, sure.to(torch.uint8), out=out)
    return out.view(torch.bool) if dtype == torch.bool else out


def _threshold(p: Tensor) -> Tensor:
    """``p * 2**16 - 2**15 - 1/2`` in float32 (float64 for float64 ``p``)."""
    work = p.detach() if p.dtype == torch.float64 else p.detach().float()
    offset = torch.full((), -32768.5, dtype=work.dtype, device=work.device)
    return torch.add(offset, work, alpha=65536.0)  # one pass over p


def _bits16(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """Uniform int16 noise of ``shape``: 64 random bits per draw, split into four samples.

    Four times fewer generator calls than ``torch.rand``, which is what bounds rate encoding on a
    CPU (the Mersenne twister runs on one thread). Not for use under torch.func transforms
    (in-place random ops on fresh tensors are refused by ``vmap(randomness="different")``).
    """
    numel = 1
    for d in shape:
        numel *= d
    words = torch.empty((numel + 3) // 4, dtype=torch.int64, device=device)
    words.random_(-(2**63), 2**63 - 1, generator=generator)
    return words.view(torch.int16)[:numel].view(shape)


def _transform_active() -> bool:
    """True inside any torch.func transform or while torch.compile traces."""
    if torch.compiler.is_compiling():
        return True
    return torch._C._functorch.peek_interpreter_stack() is not None


class _StraightThroughBernoulli(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(p: Tensor, u: Tensor, grad_scale: float) -> Tensor:  # type: ignore[override]
        return _sample(p, u, p.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        p, _, grad_scale = inputs
        ctx.p_shape = p.shape
        ctx.grad_scale = grad_scale

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        grad_p = grad if ctx.grad_scale == 1.0 else grad * ctx.grad_scale
        return grad_p.sum_to_size(ctx.p_shape), None, None


def straight_through_bernoulli(p: Tensor, u: Tensor, grad_scale: float = 1.0) -> Tensor:
    """The bare Function, no checks: ``1[u < p]`` in ``p.dtype``, gradient ``grad_scale`` to p.

    ``u`` broadcasts against ``p`` (the output has the broadcast shape; the gradient is summed
    back to ``p.shape``). ``u`` may also be int16 noise from :func:`_bits16` (16-bit compare).
    """
    z: Tensor = _StraightThroughBernoulli.apply(p, u, grad_scale)  # type: ignore[no-untyped-call]
    return z


def uniform_noise(
    shape: tuple[int, ...] | torch.Size,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Uniform noise in [0, 1) of ``shape`` (``torch.rand``), for :func:`bernoulli`'s ``u``.

    Draw it outside ``vmap`` and pass it in; with the same seeded ``generator`` the result is the
    same on every call.
    """
    dtype, dev = check_dtype_device(dtype, device)
    return torch.rand(as_shape(shape), generator=generator, dtype=dtype, device=dev)


def bernoulli(
    p: Tensor,
    u: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    grad_scale: float = 1.0,
) -> Tensor:
    r"""Bernoulli spikes with a straight-through gradient. ``p: [...], u: [..., *p.shape]``.

    .. math:: z = \mathbb{1}[u < p],\qquad \partial z / \partial p := \text{grad\_scale}

    Args:
        p: spike probabilities in [0, 1], floating point, any shape.
        u: uniform noise in [0, 1), floating point, broadcastable against ``p`` (e.g.
            ``[T, *p.shape]`` for ``T`` independent draws). If ``None``, it is drawn with
            ``torch.rand(p.shape, generator=generator)``; under ``vmap`` that needs
            ``randomness="same"`` or ``"different"`` (see the module docstring).
        generator: the generator to draw ``u`` from when ``u`` is ``None``.
        grad_scale: the straight-through gradient :math:`\partial z/\partial p`.
    Returns:
        Spikes in {0, 1}, dtype of ``p``, shape ``broadcast(p.shape, u.shape)``.

    Raises:
        TypeError: ``p`` or ``u`` is not a floating-point tensor.
        ValueError: ``p`` outside [0, 1] (checked only where values are concrete: not under
            ``vmap`` or ``torch.compile``), ``u`` not broadcastable, or both ``u`` and
            ``generator`` given.

    >>> import torch
    >>> bernoulli(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.3, 0.3, 0.99]))
    tensor([0., 1., 1.])
    """
    check_floating("p", p)
    check_in_unit_interval("p", p)
    if not isinstance(grad_scale, (int, float)) or isinstance(grad_scale, bool):
        raise TypeError(f"grad_scale must be a float, got {type(grad_scale).__name__}")
    if u is None:
        u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    else:
        if generator is not None:
            raise ValueError("pass either u (the noise) or generator (to draw it), not both")
        check_floating("u", u)
        try:
            torch.broadcast_shapes(p.shape, u.shape)  # type: ignore[no-untyped-call]
        except RuntimeError:
            raise ValueError(
                f"u of shape {tuple(u.shape)} must broadcast against p of shape "
                f"{tuple(p.shape)} (e.g. p's shape, or [T, *p.shape])"
            ) from None
    return straight_through_bernoulli(p, u, float(grad_scale))
