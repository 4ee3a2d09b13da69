r"""Gradient-based adversarial attacks (L-infinity), model-agnostic.

An attack needs only ``loss_fn: x -> scalar loss``, a differentiable function of the *raw*
input. For an SNN that is typically "encode, run the network, compare with the labels"::

    def loss_fn(x):                              # x: [B, ...] raw intensities in [0, 1]
        spikes = snnfunc.rate(x, 25, generator=g)   # straight-through: gradient reaches x
        out, _ = snnfunc.scan(net, state0, spikes)
        return F.cross_entropy(out.sum(0), labels)

    x_adv = fgsm(loss_fn, x, eps=0.05)

With snnTorch's ``spikegen.rate`` (``torch.bernoulli``) the gradient with respect to ``x`` is
zero, so these attacks cannot move the input at all; :func:`snnfunc.rate` passes it through.

Both attacks maximise the loss inside the box
:math:`\{x' : \|x' - x\|_\infty \le \epsilon\} \cap [\text{lo}, \text{hi}]`, and return a detached
tensor of ``x``'s shape and dtype. Gradients come from ``torch.autograd.grad`` with respect to the
input only (a model's parameters get no ``.grad``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from snnfunc._checks import check_floating, check_int_at_least

__all__ = ["fgsm", "pgd", "robust_accuracy"]

LossFn = Callable[[Tensor], Tensor]
Clamp = tuple[float, float] | None


def _check_eps(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    value = float(value)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite float >= 0, got {value!r}")
    return value


def _check_clamp(clamp: Clamp) -> Clamp:
    if clamp is None:
        return None
    if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
        raise TypeError(f"clamp must be a (low, high) pair or None, got {clamp!r}")
    low, high = float(clamp[0]), float(clamp[1])
    if not low < high:
        raise ValueError(f"clamp must have low < high, got {clamp!r}")
    return low, high


def _input_grad(loss_fn: LossFn, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(loss, d loss / d x)`` at ``x`` (a detached leaf is made for the gradient)."""
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        loss = loss_fn(leaf)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {got}")
        if not loss.requires_grad:
            raise ValueError(
                "loss_fn's output does not depend differentiably on its input (no grad_fn); "
                "a torch.bernoulli encoder cuts the graph: use snnfunc.rate"
            )
        (grad,) = torch.autograd.grad(loss.reshape(()), leaf)
    return loss.detach().reshape(()), grad


def _project(x_adv: Tensor, x: Tensor, eps: float, clamp: Clamp) -> Tensor:
    x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)
    if clamp is not None:
        x_adv = x_adv.clamp(clamp[0], clamp[1])
    return x_adv


def fgsm(loss_fn: LossFn, x: Tensor, eps: float, *, clamp: Clamp = (0.0, 1.0)) -> Tensor:
    r"""Fast gradient sign method (Goodfellow et al., 2015). ``x: [...] -> [...]``.

    .. math:: x' = \mathrm{clip}_{[\text{lo}, \text{hi}]}\big(x + \epsilon\,
              \mathrm{sign}(\nabla_x L(x))\big)

    Args:
        loss_fn: ``x -> scalar`` loss to increase, differentiable in ``x``.
        x: the clean input, floating point, any shape.
        eps: the L-infinity budget ``>= 0``.
        clamp: the valid input range ``(low, high)``, or ``None`` for none.
    Returns:
        The adversarial input, detached, shape and dtype of ``x``.
    """
    check_floating("x", x)
    eps = _check_eps("eps", eps)
    clamp = _check_clamp(clamp)
    x = x.detach()
    if eps == 0.0:
        return x.clone()
    _, grad = _input_grad(loss_fn, x)
    return _project(x + eps * grad.sign(), x, eps, clamp)


def pgd(
    loss_fn: LossFn,
    x: Tensor,
    eps: float,
    alpha: float,
    steps: int,
    *,
    clamp: Clamp = (0.0, 1.0),
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Projected gradient descent on the loss, L-infinity (Madry et al., 2018). ``[...] -> [...]``.

    Semantics::

        x_adv = x + U(-eps, eps) if random_start else x      (then projected)
        for _ in range(steps):
            x_adv = project(x_adv + alpha * sign(grad L(x_adv)))
        # project: clip to [x - eps, x + eps], then to the valid range `clamp`

    For a loss convex in ``x`` each step never lowers the loss (each coordinate moves along its
    gradient's sign or stays); for others it is the usual first-order heuristic.

    Args:
        loss_fn: ``x -> scalar`` loss to increase, differentiable in ``x``.
        x: the clean input, floating point, any shape.
        eps: the L-infinity budget ``>= 0``.
        alpha: the step size ``>= 0`` (e.g. ``2.5 * eps / steps``).
        steps: number of steps ``>= 0``.
        clamp: the valid input range ``(low, high)``, or ``None``.
        random_start: start from a uniform random point in the eps-ball.
        generator: the generator for the random start.
    Returns:
        The adversarial input, detached, shape and dtype of ``x``.
    """
    check_floating("x", x)
    eps = _check_eps("eps", eps)
    alpha = _check_eps("alpha", alpha)
    check_int_at_least("steps", steps, 0)
    clamp = _check_clamp(clamp)
    x = x.detach()
    x_adv = x.clone()
    if eps == 0.0:
        return x_adv
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x_adv = _project(x + eps * (2 * noise - 1), x, eps, clamp)
    for _ in range(steps):
        _, grad = _input_grad(loss_fn, x_adv)
        x_adv = _project(x_adv + alpha * grad.sign(), x, eps, clamp)
    return x_adv


def _batches(data: Any) -> Iterable[tuple[Tensor, Tensor]]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], Tensor):
        return [(data[0], data[1])]
    return data  # type: ignore[no-any-return]


def _predictions(out: Tensor) -> Tensor:
    return out.argmax(-1) if out.is_floating_point() else out


def robust_accuracy(
    predict_fn: Callable[[Tensor], Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    data: tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]],
    eps_list: Sequence[float],
    *,
    attack: Literal["fgsm", "pgd"] = "fgsm",
    steps: int = 10,
    alpha: float | None = None,
    clamp: Clamp = (0.0, 1.0),
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Accuracy under attack for each budget in ``eps_list``.

    For each batch ``(x, y)`` and each ``eps``: ``x_adv = attack(lambda v: loss_fn(v, y), x,
    eps)``, then the fraction of ``predict_fn(x_adv)`` equal to ``y`` over all examples.
    ``eps = 0`` gives the clean accuracy.

    Args:
        predict_fn: ``x [B, ...] -> scores [B, C]`` (argmax taken) or labels ``[B]``.
        loss_fn: ``(x, y) -> scalar`` loss, differentiable in ``x``.
        data: one ``(x, y)`` pair of tensors, or an iterable of them (e.g. a DataLoader);
            it is iterated once per ``eps``.
        eps_list: budgets ``>= 0``.
        attack: ``"fgsm"`` or ``"pgd"``.
        steps, alpha, random_start, generator: PGD options; ``alpha`` defaults to
            ``2.5 * eps / steps``.
        clamp: the valid input range, or ``None``.
    Returns:
        Accuracies in [0, 1], one per ``eps``, in order.
    """
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    eps_values = [_check_eps("eps_list[...]", e) for e in eps_list]
    accuracies = []
    for eps in eps_values:
        correct = 0
        total = 0
        for x, y in _batches(data):

            def batch_loss(v: Tensor, y: Tensor = y) -> Tensor:
                return loss_fn(v, y)

            if attack == "fgsm":
                x_adv = fgsm(batch_loss, x, eps, clamp=clamp)
            else:
                step = alpha if alpha is not None else 2.5 * eps / max(steps, 1)
                x_adv = pgd(
                    batch_loss,
                    x,
                    eps,
                    step,
                    steps,
                    clamp=clamp,
                    random_start=random_start,
                    generator=generator,
                )
            with torch.no_grad():
                pred = _predictions(predict_fn(x_adv))
            correct += int((pred == y).sum().item())
            total += int(y.numel())
        if total == 0:
            raise ValueError("data yielded no examples")
        accuracies.append(correct / total)
    return accuracies
