r"""Losses over a network's output over time: ``[T, B, C]`` (time, batch, classes).

Every loss takes the time-major output of the last layer and integer class ``targets: [B]``
(``torch.long``; :func:`membrane_mse` and :func:`temporal_mse` also take float target membranes
or times) and is a pure function: options are keywords, nothing is stored (snnTorch's losses are
configured objects; each docstring names its snnTorch counterpart and the differences). They
are plain torch ops, so they work under ``torch.func`` (``grad``; ``vmap`` over an extra leading
dim of whole batches is not supported: vmap the network, not the loss) and ``torch.compile``.

Common keywords:

* ``reduction``: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch (and, for the MSE
  losses, the classes); ``"none"`` returns the per-sample ``[B]`` or per-element ``[B, C]`` loss.
* ``weight``: per-class weights ``[C]`` (``[K]`` with ``num_classes=K``). Sample ``b`` counts
  ``weight[targets[b]]`` times. ``"mean"`` then divides by the number of samples (elements), as
  snnTorch's losses do, **not** by the sum of the weights as ``F.cross_entropy`` does; only
  :func:`temporal_ce` divides by the sum of the weights (snnTorch hands its weight to
  ``nn.CrossEntropyLoss``). ``"sum"`` sums the weighted losses (snnTorch returns the unreduced
  losses when both ``weight`` and ``reduction="sum"`` are given).
* ``num_classes``: a population code, ``C = K * m`` outputs, ``m`` neurons per class, summed
  (see :func:`population_code`).

==================  ====================================================  ======================
loss                value per sample (before ``reduction``)               snnTorch
==================  ====================================================  ======================
membrane_ce         :math:`\sum_t \mathrm{CE}(u_t, y)` (or mean over t)    (tutorial 3)
step_ce             :math:`\frac1T \sum_t \mathrm{CE}(z_t, y)`            ce_rate_loss
count_ce, rate_ce   :math:`\mathrm{CE}(\sum_t z_t, y)`                    ce_count_loss
max_membrane_ce     :math:`\mathrm{CE}(\max_t u_t, y)`                    ce_max_membrane_loss
count_mse           :math:`(n_c - n^*_c)^2 / T`, :math:`n = \sum_t z_t`   mse_count_loss
membrane_mse        :math:`\frac1T \sum_t (u_{tc} - u^*_c)^2`             mse_membrane_loss
temporal_mse        :math:`((t_c - t^*_c) / T)^2`, spike times            mse_temporal_loss
temporal_ce         :math:`\mathrm{CE}(-t, y)`, first-spike times         ce_temporal_loss
latency_mse         :math:`(t^{first}_c - t^*_c)^2`, smooth times         (none)
l1_rate_sparsity    :math:`\lambda \sum_{t,c} z_{tc}`                     l1_rate_sparsity
==================  ====================================================  ======================

Target helpers: :func:`one_hot_targets` (``spikegen.to_one_hot`` / ``targets_convert``),
:func:`rate_targets` (``spikegen.targets_rate``), :func:`population_code`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc._checks import (
    check_choice,
    check_class_output,
    check_class_weight,
    check_floating,
    check_int_at_least,
    check_tensor,
)

__all__ = [
    "membrane_ce",
    "step_ce",
    "count_ce",
    "rate_ce",
    "max_membrane_ce",
    "count_mse",
    "membrane_mse",
    "temporal_mse",
    "temporal_ce",
    "latency_mse",
    "l1_rate_sparsity",
    "first_spike_time",
    "population_code",
    "one_hot_targets",
    "rate_targets",
]

TimeReduction = Literal["sum", "mean"]
Reduction = Literal["mean", "sum", "none"]
REDUCTIONS = ("mean", "sum", "none")


# --- shared pieces -------------------------------------------------------------------------------
def population_code(out: Tensor, num_classes: int) -> Tensor:
    r"""Sum each class's population of output neurons: ``[T, B, K*m] -> [T, B, K]``.

    Class ``k`` owns the ``m = C / K`` contiguous outputs ``k*m .. (k+1)*m - 1``, as in snnTorch's
    ``population_code=True`` (whose helper also sums over time, returning counts ``[B, K]``: that
    is ``population_code(spikes, K).sum(0)``).

    Args:
        out: output spikes or membrane ``[T, B, C]``.
        num_classes: ``K``, a divisor of ``C``.
    Returns:
        ``[T, B, K]``, dtype of ``out``.

    >>> population_code(torch.tensor([[[1.0, 0.0, 1.0, 1.0]]]), 2)
    tensor([[[1., 2.]]])
    """
    check_floating("out", out)
    check_int_at_least("num_classes", num_classes, 1)
    if out.dim() != 3:
        raise ValueError(f"out must be [T, B, C] (time, batch, classes), got {tuple(out.shape)}")
    steps, batch, outputs = out.shape
    if outputs % num_classes:
        raise ValueError(
            f"num_classes must divide the C = {outputs} outputs (a population of C / num_classes "
            f"neurons per class), got {num_classes}"
        )
    return out.reshape(steps, batch, num_classes, outputs // num_classes).sum(-1)


def _prepare(
    name: str,
    out: Tensor,
    targets: Tensor,
    reduction: str,
    weight: Tensor | None,
    num_classes: int | None,
) -> Tensor:
    """Check the common arguments; return the (population-summed) output ``[T, B, K]``."""
    check_class_output(name, out, targets, num_classes=num_classes)
    check_choice("reduction", reduction, REDUCTIONS)
    classes = out.shape[2] if num_classes is None else num_classes
    check_class_weight(weight, classes, out)
    return out if num_classes is None else population_code(out, num_classes)


def _reduce(
    loss: Tensor,
    targets: Tensor,
    reduction: str,
    weight: Tensor | None,
    *,
    batch_dim: int = 0,
    by_weight: bool = False,
) -> Tensor:
    """Weight each sample's loss by ``weight[targets[b]]`` and reduce (see the module docstring).

    ``loss`` has the batch at ``batch_dim``; ``by_weight`` divides a weighted ``"mean"`` by the
    sum of the sample weights (``F.cross_entropy``'s rule) instead of the element count.
    """
    w = None
    if weight is not None:
        w = weight.to(loss.dtype)[targets.long()]  # [B]
        shape = [1] * loss.dim()
        shape[batch_dim] = -1
        loss = loss * w.reshape(shape)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if by_weight and w is not None:
        return loss.sum() / w.sum()
    return loss.mean()


def _one_hot(targets: Tensor, classes: int, like: Tensor) -> Tensor:
    return F.one_hot(targets.long(), classes).to(dtype=like.dtype, device=like.device)


# --- cross-entropy losses ----------------------------------------------------------------------
def _per_step_ce(logits: Tensor, targets: Tensor) -> Tensor:
    """``[T, B, K]``, ``[B]`` -> per-step, per-sample cross-entropy ``[T, B]``."""
    steps, batch, classes = logits.shape
    ce = F.cross_entropy(
        logits.reshape(steps * batch, classes), targets.long().repeat(steps), reduction="none"
    )
    return ce.reshape(steps, batch)


def membrane_ce(
    membrane: Tensor,
    targets: Tensor,
    *,
    time_reduction: TimeReduction = "sum",
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    num_classes: int | None = None,
) -> Tensor:
    r"""Cross-entropy of the membrane potential at every step, summed (or averaged) over time.

    This is snnTorch tutorial 3's loss: softmax over the classes at each step, the negative
    log-likelihood of the target averaged over the batch, summed over the steps:

    .. math:: L = \sum_{t=1}^{T} \frac{1}{B} \sum_b -\log \mathrm{softmax}(u_{t,b})_{y_b}

    With ``time_reduction="mean"`` it is snnTorch's ``ce_rate_loss`` applied to the membrane
    (see :func:`step_ce`, the same loss with that default).

    Args:
        membrane: output-layer membrane ``[T, B, C]``.
        targets: class indices ``[B]``.
        time_reduction: ``"sum"`` (the tutorial's) or ``"mean"`` over the ``T`` steps.
        reduction: ``"mean"``/``"sum"`` over the batch, or ``"none"``: per sample ``[B]``.
        weight: per-class weights ``[C]`` (``[K]``), see the module docstring.
        num_classes: ``K`` for a population code (the population's membranes are summed).
    Returns:
        The loss, 0-d (``[B]`` with ``reduction="none"``).
    """
    logits = _prepare("membrane", membrane, targets, reduction, weight, num_classes)
    check_choice("time_reduction", time_reduction, ("sum", "mean"))
    per_step = _per_step_ce(logits, targets)
    per_sample = per_step.sum(0) if time_reduction == "sum" else per_step.mean(0)
    return _reduce(per_sample, targets, reduction, weight)


def step_ce(
    out: Tensor,
    targets: Tensor,
    *,
    time_reduction: TimeReduction = "mean",
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    num_classes: int | None = None,
) -> Tensor:
    r"""Cross-entropy at every step, averaged over time (snnTorch's ``ce_rate_loss``).

    .. math:: L = \frac{1}{B} \sum_b \frac{1}{T} \sum_t -\log \mathrm{softmax}(z_{t,b})_{y_b}

    snnTorch calls this the "rate" loss; snnfunc's :func:`rate_ce` is snnTorch's
    ``ce_count_loss`` (:func:`count_ce`). ``step_ce(x, y, time_reduction="sum")`` is
    :func:`membrane_ce` and works on membranes as well as spikes.

    Differences from snnTorch: ``ce_rate_loss(population_code=True)`` neither pools the
    population nor runs without ``weight`` (it indexes ``weight[0]``, ``weight[1]``); here
    ``num_classes=K`` sums each class's population at every step before the softmax.
    snnTorch returns a ``[1]`` tensor, this a 0-d one.

    Args:
        out: output spikes (or membrane) ``[T, B, C]``.
        targets: class indices ``[B]``.
        time_reduction: ``"mean"`` (snnTorch's) or ``"sum"`` over the steps.
        reduction: ``"mean"``/``"sum"`` over the batch, or ``"none"``: per sample ``[B]``.
        weight: per-class weights ``[C]`` (``[K]``), see the module docstring.
        num_classes: ``K`` for a population code.
    Returns:
        The loss, 0-d (``[B]`` with ``reduction="none"``).
    """
    check_floating("out", out)
    return membrane_ce(
        out,
        targets,
        time_reduction=time_reduction,
        reduction=reduction,
        weight=weight,
        num_classes=num_classes,
    )


def count_ce(
    spikes: Tensor,
    targets: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    num_classes: int | None = None,
) -> Tensor:
    r"""Cross-entropy over spike counts (snnTorch's ``ce_count_loss``).

    The counts :math:`n = \sum_t z_t` ``[B, C]`` (population sums ``[B, K]`` with
    ``num_classes``) are the logits:

    .. math:: L = \frac{1}{B} \sum_b -\log \mathrm{softmax}(n_b)_{y_b}

    Same values as snnTorch (which returns ``[1]``-shaped losses for ``"mean"``/``"sum"``).

    Args:
        spikes: output spikes ``[T, B, C]`` (with a surrogate gradient).
        targets: class indices ``[B]``.
        reduction: ``"mean"``/``"sum"`` over the batch, or ``"none"``: per sample ``[B]``.
        weight: per-class weights ``[C]`` (``[K]``), see the module docstring.
        num_classes: ``K`` for a population code.
    Returns:
        The loss, 0-d (``[B]`` with ``reduction="none"``).
    """
    logits = _prepare("spikes", spikes, targets, reduction, weight, num_classes)
    per_sample = F.cross_entropy(logits.sum(0), targets.long(), reduction="none")
    return _reduce(per_sample, targets, reduction, weight)


def rate_ce(
    spikes: Tensor,
    targets: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    num_classes: int | None = None,
) -> Tensor:
    r"""Cross-entropy over spike counts: the same function as :func:`count_ce`.

    Despite the name, this is snnTorch's ``ce_count_loss``, **not** its ``ce_rate_loss`` (a
    cross-entropy at every step: :func:`step_ce`). Kept under this name for existing callers.

    .. math:: L = \frac{1}{B} \sum_b -\log \mathrm{softmax}(n_b)_{y_b}, \quad n = \sum_t z_t

    Args:
        spikes: output spikes ``[T, B, C]`` (with a surrogate gradient).
        targets: class indices ``[B]``.
        reduction, weight, num_classes: as in :func:`count_ce`.
    Returns:
        The loss, 0-d (``[B]`` with ``reduction="none"``).
    """
    return count_ce(spikes, targets, reduction=reduction, weight=weight, num_classes=num_classes)


def max_membrane_ce(
    membrane: Tensor,
    targets: Tensor,
    *,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Cross-entropy of each output's peak membrane (snnTorch's ``ce_max_membrane_loss``).

    .. math:: L = \frac{1}{B} \sum_b -\log \mathrm{softmax}(\max_t u_{t,b})_{y_b}

    The gradient reaches only the step of each maximum (``torch.max``, as snnTorch). Same
    values as snnTorch (which returns ``[1]``-shaped losses for ``"mean"``/``"sum"``).

    Args:
        membrane: output membrane ``[T, B, C]``.
        targets: class indices ``[B]``.
        reduction: ``"mean"``/``"sum"`` over the batch, or ``"none"``: per sample ``[B]``.
        weight: per-class weights ``[C]``, see the module docstring.
    Returns:
        The loss, 0-d (``[B]`` with ``reduction="none"``).
    """
    logits = _prepare("membrane", membrane, targets, reduction, weight, None)
    if logits.shape[0] == 0:
        raise ValueError("membrane must have at least one step (T >= 1) to take its maximum")
    per_sample = F.cross_entropy(logits.max(0).values, targets.long(), reduction="none")
    return _reduce(per_sample, targets, reduction, weight)


# --- mean-squared-error losses -----------------------------------------------------------------
def count_mse(
    spikes: Tensor,
    targets: Tensor,
    *,
    correct_rate: float = 0.8,
    incorrect_rate: float = 0.2,
    integer_counts: bool = False,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    num_classes: int | None = None,
) -> Tensor:
    r"""Mean squared error between spike counts and target counts, divided by ``T``.

    The target count is ``correct_rate * T`` for the target class and ``incorrect_rate * T``
    for the others (times the population size ``m = C / K`` with ``num_classes=K``):

    .. math:: L = \frac{1}{T} \cdot \frac{1}{BC} \sum_{b,c} (n_{bc} - n^*_{bc})^2,
              \quad n = \sum_t z_t, \quad n^*_{bc} = r_{bc}\, T

    snnTorch's ``mse_count_loss`` differs in two ways: it rounds the target counts down to
    whole spikes, ``int(T * rate)`` (``int(T * rate * m)``), and its rates default to 1 and 0.
    ``count_mse(s, y, correct_rate=1.0, incorrect_rate=0.0, integer_counts=True)`` is
    ``mse_count_loss()`` value for value; with ``integer_counts=True`` the loss equals
    ``mse_count_loss(correct_rate=c, incorrect_rate=i)``. (snnTorch's ``weight`` multiplies the
    ``[B, C]`` losses by ``weight[targets]`` ``[B]`` along the class axis, which only runs for
    ``B == C`` or ``B == 1``; here sample ``b``'s row is multiplied by ``weight[targets[b]]``.)

    Args:
        spikes: output spikes ``[T, B, C]``.
        targets: class indices ``[B]``.
        correct_rate: firing rate (spikes per step, in [0, 1]) asked of the target class.
        incorrect_rate: firing rate asked of every other class.
        integer_counts: round the target counts down to whole spikes, as snnTorch.
        reduction: ``"mean"``/``"sum"`` over the batch and classes, or ``"none"``: ``[B, C]``
            (``[B, K]``).
        weight: per-class weights ``[C]`` (``[K]``), see the module docstring.
        num_classes: ``K`` for a population code.
    Returns:
        The loss, 0-d (``[B, C]`` with ``reduction="none"``).
    """
    counts = _prepare("spikes", spikes, targets, reduction, weight, num_classes).sum(0)
    for name, rate in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1] (spikes per step), got {rate!r}")
    steps, _, outputs = spikes.shape
    classes = counts.shape[1]
    if integer_counts:  # snnTorch's expressions, evaluated as it does
        if num_classes is None:
            on, off = float(int(steps * correct_rate)), float(int(steps * incorrect_rate))
        else:
            m = outputs / num_classes
            on = float(int(steps * correct_rate * m))
            off = float(int(steps * incorrect_rate * m))
    else:
        m = outputs // classes
        on, off = correct_rate * steps * m, incorrect_rate * steps * m
    onehot = _one_hot(targets, classes, counts)
    target_counts = onehot * on + (1 - onehot) * off
    per_element = (counts - target_counts) ** 2 / steps
    return _reduce(per_element, targets, reduction, weight)


def membrane_mse(
    membrane: Tensor,
    targets: Tensor,
    *,
    on_target: float = 1.0,
    off_target: float = 0.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Mean squared error between the membrane and a target membrane, averaged over time.

    snnTorch's ``mse_membrane_loss``. With class indices ``targets: [B]`` the target membrane is
    ``on_target`` at the target class and ``off_target`` elsewhere, at every step; a floating
    ``targets`` is the target membrane itself, ``[B, C]`` (the same at every step) or
    ``[T, B, C]`` (time-varying: snnTorch's ``time_var_targets=True``, which in snnTorch 1.0
    indexes the batch by the step and does not run as documented):

    .. math:: L = \frac{1}{T} \sum_t \frac{1}{BC} \sum_{b,c} (u_{tbc} - u^*_{tbc})^2

    Differences from snnTorch: it clamps the target to ``>= off_target`` after multiplying the
    one-hot code by ``on_target``, so with ``off_target < 0 < on_target`` its off-class target is
    0, not ``off_target``; its ``weight`` has the broadcast limit of :func:`count_mse`.

    Args:
        membrane: output membrane ``[T, B, C]``.
        targets: class indices ``[B]``, or target membranes ``[B, C]`` / ``[T, B, C]``.
        on_target: target membrane of the target class (class-index targets only).
        off_target: target membrane of the other classes.
        reduction: ``"mean"``/``"sum"``, or ``"none"``: ``[B, C]`` (averaged over time).
        weight: per-class weights ``[C]`` (class-index targets only).
    Returns:
        The loss, 0-d (``[B, C]`` with ``reduction="none"``).
    """
    check_tensor("targets", targets)
    if targets.is_floating_point():
        check_floating("membrane", membrane)
        check_choice("reduction", reduction, REDUCTIONS)
        if membrane.dim() != 3:
            raise ValueError(
                f"membrane must be [T, B, C] (time, batch, classes), got {tuple(membrane.shape)}"
            )
        if targets.shape not in (membrane.shape, membrane.shape[1:]):
            raise ValueError(
                f"floating targets (target membranes) must be [B, C] = "
                f"{list(membrane.shape[1:])} or [T, B, C] = {list(membrane.shape)}, "
                f"got {tuple(targets.shape)}"
            )
        if weight is not None:
            raise ValueError("weight needs class-index targets [B], got target membranes")
        goal = targets.to(membrane.dtype)
    else:
        _prepare("membrane", membrane, targets, reduction, weight, None)
        onehot = _one_hot(targets, membrane.shape[2], membrane)
        goal = onehot * on_target + (1 - onehot) * off_target
    per_element = ((membrane - goal) ** 2).mean(0)  # [B, C]
    return _reduce(per_element, targets, reduction, weight)


# --- spike times -------------------------------------------------------------------------------
def first_spike_time(spikes: Tensor) -> Tensor:
    r"""Step of each neuron's first spike, ``T`` where it never fires; differentiable.

    With :math:`f_t = z_t \prod_{s<t} (1 - z_s)` (1 at the first spike, 0 elsewhere):

    .. math:: t^{first} = \sum_t t\, f_t + T \left(1 - \sum_t f_t\right)

    For binary spikes the value is exact; the gradient flows through the spikes' surrogate.
    (snnTorch's temporal losses use ``T - 1`` for a silent neuron and a sign estimator instead;
    :func:`temporal_mse` and :func:`temporal_ce` follow them.)

    Args:
        spikes: ``[T, ...]`` in {0, 1}.
    Returns:
        ``[...]``: first-spike steps as floats in ``[0, T]``, dtype of ``spikes``.

    >>> first_spike_time(torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    tensor([1., 3.])
    """
    check_floating("spikes", spikes)
    if spikes.dim() < 1:
        raise ValueError("spikes must have a leading time dim [T, ...], got a 0-d tensor")
    steps = spikes.shape[0]
    silent_before = torch.cumprod(1 - spikes, dim=0)  # prod_{s<=t} (1 - z_s)
    not_yet = torch.cat([torch.ones_like(spikes[:1]), silent_before[:-1]], dim=0)
    first = spikes * not_yet  # [T, ...]
    t = torch.arange(steps, dtype=spikes.dtype, device=spikes.device)
    t = t.reshape((steps,) + (1,) * (spikes.dim() - 1))
    return (t * first).sum(0) + steps * (1 - first.sum(0))


def _spike_times(spikes: Tensor, count: int) -> Tensor:
    """snnTorch's spike times: the first ``count`` spike steps of each neuron ``[F, B, C]``.

    A neuron with fewer spikes gets ``T - 1`` (snnTorch's "shadow spike" at the last step). The
    gradient is snnTorch's sign estimator: ``d t / d z = -1`` at the step ``t`` picked, 0 elsewhere.
    """
    steps = spikes.shape[0]
    remaining = spikes.detach() != 0
    times, masks = [], []
    for _ in range(count):
        first = torch.where(remaining.any(0), remaining.to(torch.uint8).argmax(0), steps - 1)
        pick = F.one_hot(first, steps).movedim(-1, 0).bool()  # [T, B, C]
        remaining = remaining & ~pick
        times.append(first)
        masks.append(pick)
    hard = torch.stack(times).to(spikes.dtype)  # [F, B, C]
    soft = -(torch.stack(masks).to(spikes.dtype) * spikes).sum(1)
    return hard + (soft - soft.detach())


def _as_floats(name: str, value: float | Sequence[float]) -> list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, Tensor):
        return [float(v) for v in value.detach().flatten().tolist()]
    if (
        isinstance(value, Sequence)
        and value
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return [float(v) for v in value]
    raise TypeError(f"{name} must be a number or a non-empty sequence of numbers, got {value!r}")


def temporal_mse(
    spikes: Tensor,
    targets: Tensor,
    *,
    on_target: float | Sequence[float] = 0.0,
    off_target: float | Sequence[float] = -1.0,
    tolerance: float = 0.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Mean squared error between spike times and target times, in units of ``T``
    (snnTorch's ``mse_temporal_loss``).

    Spike times follow snnTorch: the step of each neuron's first spike, ``T - 1`` when it never
    fires, with the gradient ``-1`` at that step (a sign estimator: a higher membrane, an
    earlier spike). With class indices ``targets: [B]`` the target class should first fire at
    ``on_target`` and the others at ``off_target``; negative times count from the end (``-1``
    is ``T - 1``). A floating ``targets`` gives the target times themselves ``[B, C]``
    (snnTorch's ``target_is_time=True``).

    .. math:: L = \frac{1}{BC} \sum_{b,c} \left(\frac{t_{bc} - t^*_{bc}}{T}\right)^2

    Sequences ``on_target=(t1, t2, ...)`` and ``off_target`` of the same length ``F`` ask for
    the first ``F`` spikes of each neuron (snnTorch's ``multi_spike=True``; float targets are
    then ``[F, B, C]``). Where ``|t - t*| < tolerance`` the time counts as on target (the
    gradient still passes, as in snnTorch).

    Differences from snnTorch: its label targets clamp the code at ``off_target`` when
    ``on_target > off_target``, so with a negative ``off_target`` (its default ``0, -1``) every
    class is asked to fire at 0; here the off classes are asked for ``off_target`` as
    documented. With ``multi_spike`` snnTorch removes each found spike time from *every*
    neuron's train and, where two picked steps coincide, keeps one gradient; here each neuron's
    own ``F`` first spikes are taken and gradients add up. ``weight``: see :func:`count_mse`.

    Args:
        spikes: output spikes ``[T, B, C]`` in {0, 1} (any non-zero value is a spike).
        targets: class indices ``[B]``, or target spike steps ``[B, C]`` (``[F, B, C]``).
        on_target: target step(s) of the target class.
        off_target: target step(s) of the other classes.
        tolerance: steps within which a time counts as on target.
        reduction: ``"mean"``/``"sum"``, or ``"none"``: ``[B, C]`` (``[F, B, C]``).
        weight: per-class weights ``[C]`` (class-index targets only).
    Returns:
        The loss, 0-d (``[B, C]`` or ``[F, B, C]`` with ``reduction="none"``).
    """
    check_tensor("targets", targets)
    on, off = _as_floats("on_target", on_target), _as_floats("off_target", off_target)
    if len(on) != len(off):
        raise ValueError(
            f"on_target and off_target must have the same length (spikes per neuron), "
            f"got {len(on)} and {len(off)}"
        )
    multi = any(  # a sequence (or a tensor with dims) asks for several spikes per neuron
        not isinstance(v, (int, float)) and not (isinstance(v, Tensor) and v.dim() == 0)
        for v in (on_target, off_target)
    )
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise ValueError(f"tolerance must be a number >= 0 (steps), got {tolerance!r}")
    if targets.is_floating_point():
        check_floating("spikes", spikes)
        check_choice("reduction", reduction, REDUCTIONS)
        if spikes.dim() != 3:
            raise ValueError(
                f"spikes must be [T, B, C] (time, batch, classes), got {tuple(spikes.shape)}"
            )
        want = (len(on),) + tuple(spikes.shape[1:]) if multi else tuple(spikes.shape[1:])
        if tuple(targets.shape) != want:
            raise ValueError(
                f"floating targets (target times) must be {list(want)}, got {tuple(targets.shape)}"
            )
        if weight is not None:
            raise ValueError("weight needs class-index targets [B], got target times")
        goal = targets.to(spikes.dtype).reshape((-1,) + tuple(spikes.shape[1:]))
    else:
        _prepare("spikes", spikes, targets, reduction, weight, None)
        onehot = _one_hot(targets, spikes.shape[2], spikes)
        goal = torch.stack([onehot * a + (1 - onehot) * b for a, b in zip(on, off, strict=True)])
    steps = spikes.shape[0]
    if steps == 0:
        raise ValueError("spikes must have at least one step (T >= 1)")
    goal = torch.where(goal < 0, goal + steps, goal)
    times = _spike_times(spikes, goal.shape[0])  # [F, B, C]
    if tolerance:
        close = ((times - goal).abs() < tolerance).detach()
        times = times + torch.where(close, goal - times, torch.zeros_like(times)).detach()
    per_element = ((times - goal) / steps) ** 2
    if not multi:
        per_element = per_element[0]
    return _reduce(per_element, targets, reduction, weight, batch_dim=1 if multi else 0)


def temporal_ce(
    spikes: Tensor,
    targets: Tensor,
    *,
    inverse: Literal["negate", "reciprocal"] = "negate",
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Cross-entropy of inverted first-spike times (snnTorch's ``ce_temporal_loss``).

    The first spike times ``t`` ``[B, C]`` (as in :func:`temporal_mse`: ``T - 1`` for a silent
    neuron, gradient ``-1`` at the spike) become logits ``-t`` (``inverse="negate"``) or
    ``1 / (t + 1)`` (``"reciprocal"``), so that the earliest neuron wins:

    .. math:: L = \frac{1}{B} \sum_b -\log \mathrm{softmax}(-t_b)_{y_b}

    ``weight`` is ``F.cross_entropy``'s: a weighted ``"mean"`` divides by the sum of the sample
    weights (as snnTorch, which passes it to ``nn.CrossEntropyLoss``). Same values as snnTorch.

    Args:
        spikes: output spikes ``[T, B, C]`` in {0, 1}.
        targets: class indices ``[B]``.
        inverse: ``"negate"`` or ``"reciprocal"``.
        reduction: ``"mean"``/``"sum"`` over the batch, or ``"none"``: per sample ``[B]``.
        weight: per-class weights ``[C]``.
    Returns:
        The loss, 0-d (``[B]`` with ``reduction="none"``).
    """
    _prepare("spikes", spikes, targets, reduction, weight, None)
    check_choice("inverse", inverse, ("negate", "reciprocal"))
    if spikes.shape[0] == 0:
        raise ValueError("spikes must have at least one step (T >= 1)")
    times = _spike_times(spikes, 1)[0]
    logits = -times if inverse == "negate" else 1 / (times + 1)
    per_sample = F.cross_entropy(logits, targets.long(), reduction="none")
    return _reduce(per_sample, targets, reduction, weight, by_weight=True)


def latency_mse(
    spikes: Tensor,
    targets: Tensor,
    *,
    correct_time: float = 0.0,
    incorrect_time: float | None = None,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Mean squared error between first-spike times and target times (latency code).

    The target class should fire first at step ``correct_time``; the others at
    ``incorrect_time`` (default ``T``: never):

    .. math:: L = \frac{1}{BC} \sum_{b,c} (t^{first}_{bc} - t^*_{bc})^2

    Times are in steps (see :func:`first_spike_time`: ``T`` for a silent neuron, and a gradient
    through the product of the spikes' surrogates). snnTorch's nearest loss is
    ``mse_temporal_loss`` (:func:`temporal_mse`: times in units of ``T``, ``T - 1`` for a silent
    neuron, a sign-estimator gradient).

    Args:
        spikes: output spikes ``[T, B, C]``.
        targets: class indices ``[B]``.
        correct_time: target first-spike step of the target class.
        incorrect_time: target first-spike step of the other classes (default ``T``).
        reduction: ``"mean"``/``"sum"``, or ``"none"``: ``[B, C]``.
        weight: per-class weights ``[C]``: sample ``b``'s row counts ``weight[targets[b]]`` times.
    Returns:
        The loss, 0-d (``[B, C]`` with ``reduction="none"``).
    """
    _prepare("spikes", spikes, targets, reduction, weight, None)
    steps, _, classes = spikes.shape
    late = float(steps) if incorrect_time is None else float(incorrect_time)
    onehot = _one_hot(targets, classes, spikes)
    target_times = onehot * correct_time + (1 - onehot) * late
    per_element = (first_spike_time(spikes) - target_times) ** 2
    return _reduce(per_element, targets, reduction, weight)


# --- regulariser -------------------------------------------------------------------------------
def l1_rate_sparsity(
    spikes: Tensor, *, strength: float = 1e-5, reduction: Reduction = "sum"
) -> Tensor:
    r"""L1 penalty on the spike count (snnTorch's ``l1_rate_sparsity``, ``Lambda`` = ``strength``).

    .. math:: L = \lambda \sum_{t, b, n} z_{tbn}

    Args:
        spikes: spikes of any layer ``[T, B, ...]``.
        strength: :math:`\lambda`.
        reduction: ``"sum"`` (snnTorch's: over everything), ``"mean"`` over the batch of each
            sample's penalty, or ``"none"``: per sample ``[B]``.
    Returns:
        The penalty, 0-d (``[B]`` with ``reduction="none"``).
    """
    check_floating("spikes", spikes)
    check_choice("reduction", reduction, REDUCTIONS)
    if spikes.dim() < 2:
        raise ValueError(
            f"spikes must be [T, B, ...] (time, batch, ...), got {tuple(spikes.shape)}"
        )
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise TypeError(f"strength must be a float, got {type(strength).__name__}")
    per_sample = strength * spikes.sum(dim=(0, *range(2, spikes.dim())))  # [B]
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


# --- target helpers ----------------------------------------------------------------------------
def one_hot_targets(
    targets: Tensor,
    num_classes: int,
    *,
    on_target: float = 1.0,
    off_target: float = 0.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Class indices ``[B]`` -> ``[B, C]``: ``on_target`` at the class, ``off_target`` elsewhere.

    snnTorch's ``spikegen.to_one_hot`` (defaults) and ``targets_convert(..., on_target=,
    off_target=)``, except that snnTorch clamps the code at ``off_target`` when
    ``on_target > off_target`` (an ``off_target < 0`` then gives 0).

    Args:
        targets: class indices ``[B]`` (integer).
        num_classes: ``C``.
        on_target, off_target: the two values.
        dtype: floating dtype of the result (default: torch's default dtype).
    Returns:
        ``[B, C]``.

    >>> one_hot_targets(torch.tensor([2, 0]), 3, off_target=-1.0)
    tensor([[-1., -1.,  1.],
            [ 1., -1., -1.]])
    """
    check_int_at_least("num_classes", num_classes, 1)
    check_tensor("targets", targets)
    if targets.dim() != 1:
        raise ValueError(f"targets must be [B] class indices, got {tuple(targets.shape)}")
    check_class_output("targets_rate", torch.zeros(1, targets.shape[0], num_classes), targets)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    onehot = F.one_hot(targets.long(), num_classes).to(dtype or torch.get_default_dtype())
    return onehot * on_target + (1 - onehot) * off_target


def rate_targets(
    targets: Tensor,
    num_classes: int,
    num_steps: int,
    *,
    correct_rate: float = 1.0,
    incorrect_rate: float = 0.0,
    first_spike_time: int = 0,
    on_target: float = 1.0,
    off_target: float = 0.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Regular target spike trains ``[T, B, C]`` (snnTorch's ``spikegen.targets_rate``).

    A class firing at ``rate`` spikes at the steps ``arange(first_spike_time, T, 1 / rate)``
    (rounded down); the target class fires at ``correct_rate``, the others at
    ``incorrect_rate``. Spikes carry ``on_target``, other steps ``off_target``.

    Differences from snnTorch: the result is always time-major ``[T, B, C]`` (snnTorch drops the
    time dim when ``correct_rate=1, incorrect_rate=0, first_spike_time=0``); only its
    ``firing_pattern="regular"`` (the random patterns take randomness; use
    :mod:`snnfunc.encode`), no ``interpolate``. snnTorch's time-varying branch
    (``correct_rate < 1`` or ``incorrect_rate > 0``) broadcasts the ``[T]`` trains against the
    class axis and returns a 5-d tensor (or fails); here each class gets the train of its
    ``spikegen.target_rate_code``.

    Args:
        targets: class indices ``[B]``.
        num_classes: ``C``.
        num_steps: ``T``.
        correct_rate, incorrect_rate: spikes per step in [0, 1].
        first_spike_time: no spikes before this step.
        on_target, off_target: values at and between spikes.
        dtype: floating dtype of the result (default: torch's default dtype).
    Returns:
        ``[T, B, C]``.

    >>> rate_targets(torch.tensor([1]), 2, 4, correct_rate=0.5)[:, 0]
    tensor([[0., 1.],
            [0., 0.],
            [0., 1.],
            [0., 0.]])
    """
    check_int_at_least("num_steps", num_steps, 0)
    check_int_at_least("first_spike_time", first_spike_time, 0)
    for name, rate in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1] (spikes per step), got {rate!r}")
    onehot = one_hot_targets(targets, num_classes, dtype=dtype)  # [B, C]

    def train(rate: float) -> Tensor:
        z = torch.zeros(num_steps, dtype=onehot.dtype)
        if rate > 0 and first_spike_time < num_steps:  # a step past T: one spike, at first
            step = 1 / rate if rate * (num_steps + 1) > 1 else float(num_steps + 1)
            z[torch.arange(first_spike_time, num_steps, step).long()] = 1.0
        return z[:, None, None]  # [T, 1, 1]

    spikes = onehot * train(correct_rate) + (1 - onehot) * train(incorrect_rate)
    return spikes * on_target + (1 - spikes) * off_target
