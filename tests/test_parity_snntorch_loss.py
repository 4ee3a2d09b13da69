"""Parity of snnfunc's losses, metrics and target helpers with snnTorch 1.0's ``functional``.

Value for value and gradient for gradient, on random spikes and membranes of several shapes,
every ``reduction`` and with class weights. Where snnTorch 1.0 does not do what it documents,
the test pins the documented difference instead (see each snnfunc docstring).

Skipped without snnTorch, except under CI (``CI=true``), which installs it: there it fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from _ci import import_peer
from torch import Tensor

import snnfunc as sf
from snnfunc import metrics

SF = import_peer("snntorch.functional")
spikegen = import_peer("snntorch.spikegen")

SHAPES = [(1, 1, 1), (5, 3, 4), (8, 6, 10), (12, 2, 3)]  # [T, B, C]
REDUCTIONS = ["mean", "sum", "none"]


def _data(shape: tuple[int, ...], seed: int, *, spikes: bool) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    t, b, c = shape
    x = (
        (torch.rand(shape, generator=g) < 0.3).float()
        if spikes
        else torch.randn(shape, generator=g)
    )
    return x, torch.randint(0, c, (b,), generator=g)


def _weight(classes: int, seed: int) -> Tensor:
    return torch.rand(classes, generator=torch.Generator().manual_seed(seed + 99)) + 0.25


def _match(
    ours: Callable[[Tensor], Tensor],
    theirs: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    unreduced_sum: bool = False,
    grad: bool = True,
) -> None:
    """Same value (snnTorch's ``[1]`` read as 0-d) and, for a random cotangent, same gradient.

    ``unreduced_sum``: snnTorch returned the unreduced losses for ``weight`` with ``"sum"``."""
    xo, xt = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, want = ours(xo), theirs(xt)
    if unreduced_sum:
        want = want.sum()
    want = want.reshape(got.shape)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    if grad:
        cot = torch.rand(got.shape, generator=torch.Generator().manual_seed(5)) + 0.5
        (got * cot).sum().backward()
        (want * cot).sum().backward()
        torch.testing.assert_close(xo.grad, xt.grad, rtol=1e-5, atol=1e-6)


def _cases() -> list[Any]:
    return [
        pytest.param(
            shape, reduction, weighted, id=f"{shape}-{reduction}-{'w' if weighted else '1'}"
        )
        for shape in SHAPES
        for reduction in REDUCTIONS
        for weighted in (False, True)
    ]


# --- cross-entropy family (snnTorch's LossFunctions: weighted "mean" divides by B) ------------
@pytest.mark.parametrize(("shape", "reduction", "weighted"), _cases())
@pytest.mark.parametrize("spiking", [True, False], ids=["spikes", "membrane"])
def test_step_ce_is_ce_rate_loss(shape: Any, reduction: str, weighted: bool, spiking: bool) -> None:
    x, y = _data(shape, 1, spikes=spiking)
    w = _weight(shape[2], 1) if weighted else None
    _match(
        lambda v: sf.step_ce(v, y, reduction=reduction, weight=w),  # type: ignore[arg-type]
        lambda v: SF.ce_rate_loss(reduction=reduction, weight=w)(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )
    _match(  # membrane_ce with the mean over time is the same loss
        lambda v: sf.membrane_ce(v, y, time_reduction="mean", reduction=reduction, weight=w),  # type: ignore[arg-type]
        lambda v: SF.ce_rate_loss(reduction=reduction, weight=w)(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


@pytest.mark.parametrize(("shape", "reduction", "weighted"), _cases())
@pytest.mark.parametrize("fn", [sf.count_ce, sf.rate_ce], ids=["count_ce", "rate_ce"])
def test_count_ce_is_ce_count_loss(shape: Any, reduction: str, weighted: bool, fn: Any) -> None:
    x, y = _data(shape, 2, spikes=True)
    w = _weight(shape[2], 2) if weighted else None
    _match(
        lambda v: fn(v, y, reduction=reduction, weight=w),
        lambda v: SF.ce_count_loss(reduction=reduction, weight=w)(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("shape", "classes"), [((6, 4, 6), 3), ((5, 3, 10), 2), ((4, 2, 4), 4)])
@pytest.mark.parametrize("weighted", [False, True], ids=["1", "w"])
def test_count_ce_population_code(shape: Any, classes: int, reduction: str, weighted: bool) -> None:
    x, _ = _data(shape, 3, spikes=True)
    y = torch.randint(0, classes, (shape[1],), generator=torch.Generator().manual_seed(3))
    w = _weight(classes, 3) if weighted else None
    _match(
        lambda v: sf.count_ce(v, y, reduction=reduction, weight=w, num_classes=classes),  # type: ignore[arg-type]
        lambda v: SF.ce_count_loss(
            population_code=True, num_classes=classes, reduction=reduction, weight=w
        )(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


@pytest.mark.parametrize(("shape", "reduction", "weighted"), _cases())
def test_max_membrane_ce_is_ce_max_membrane_loss(
    shape: Any, reduction: str, weighted: bool
) -> None:
    x, y = _data(shape, 4, spikes=False)
    w = _weight(shape[2], 4) if weighted else None
    _match(
        lambda v: sf.max_membrane_ce(v, y, reduction=reduction, weight=w),  # type: ignore[arg-type]
        lambda v: SF.ce_max_membrane_loss(reduction=reduction, weight=w)(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


@pytest.mark.parametrize(("shape", "reduction", "weighted"), _cases())
@pytest.mark.parametrize("inverse", ["negate", "reciprocal"])
def test_temporal_ce_is_ce_temporal_loss(
    shape: Any, reduction: str, weighted: bool, inverse: str
) -> None:
    """Here snnTorch passes ``weight`` to ``nn.CrossEntropyLoss``: mean divides by sum(w)."""
    x, y = _data(shape, 5, spikes=True)
    w = _weight(shape[2], 5) if weighted else None
    _match(
        lambda v: sf.temporal_ce(v, y, inverse=inverse, reduction=reduction, weight=w),  # type: ignore[arg-type]
        lambda v: SF.ce_temporal_loss(inverse=inverse, reduction=reduction, weight=w)(v, y),
        x,
    )


# --- MSE family: snnTorch's weight broadcasts [B, C] * [B], so it runs (as documented) at B == 1
def _mse_cases() -> list[Any]:
    return [
        pytest.param(
            shape, reduction, weighted, id=f"{shape}-{reduction}-{'w' if weighted else '1'}"
        )
        for shape in [*SHAPES, (7, 1, 5)]
        for reduction in REDUCTIONS
        for weighted in (False, True)
        if not weighted or shape[1] == 1
    ]


@pytest.mark.parametrize(("shape", "reduction", "weighted"), _mse_cases())
@pytest.mark.parametrize(("correct", "incorrect"), [(1.0, 0.0), (0.75, 0.25), (0.3, 0.1)])
def test_count_mse_integer_counts_is_mse_count_loss(
    shape: Any, reduction: str, weighted: bool, correct: float, incorrect: float
) -> None:
    x, y = _data(shape, 6, spikes=True)
    w = _weight(shape[2], 6) if weighted else None
    _match(
        lambda v: sf.count_mse(
            v,
            y,
            correct_rate=correct,
            incorrect_rate=incorrect,
            integer_counts=True,
            reduction=reduction,  # type: ignore[arg-type]
            weight=w,
        ),
        lambda v: SF.mse_count_loss(
            correct_rate=correct, incorrect_rate=incorrect, reduction=reduction, weight=w
        )(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("shape", "classes"), [((6, 4, 6), 3), ((7, 3, 10), 2), ((9, 2, 4), 4)])
def test_count_mse_population_code(shape: Any, classes: int, reduction: str) -> None:
    x, _ = _data(shape, 7, spikes=True)
    y = torch.randint(0, classes, (shape[1],), generator=torch.Generator().manual_seed(7))
    _match(
        lambda v: sf.count_mse(
            v,
            y,
            correct_rate=0.7,
            incorrect_rate=0.2,
            integer_counts=True,
            reduction=reduction,  # type: ignore[arg-type]
            num_classes=classes,
        ),
        lambda v: SF.mse_count_loss(
            correct_rate=0.7,
            incorrect_rate=0.2,
            population_code=True,
            num_classes=classes,
            reduction=reduction,
        )(v, y),
        x,
    )


def test_count_mse_issue_reproduction() -> None:
    """The numbers of the issue: snnfunc's default targets vs snnTorch's whole-spike targets."""
    torch.manual_seed(42)
    s = torch.randint(2, (3, 3, 3)).float()
    y = torch.tensor([1, 2, 0])
    ours = sf.count_mse(s, y, correct_rate=0.75, incorrect_rate=0.25)
    exact = sf.count_mse(s, y, correct_rate=0.75, incorrect_rate=0.25, integer_counts=True)
    theirs = SF.mse_count_loss(correct_rate=0.75, incorrect_rate=0.25)(s, y)
    assert round(ours.item(), 4) == 0.3356 and round(theirs.item(), 4) == 0.6296
    torch.testing.assert_close(exact, theirs.reshape(()))
    torch.testing.assert_close(
        sf.count_mse(s, y, correct_rate=1.0, incorrect_rate=0.0, integer_counts=True),
        SF.mse_count_loss()(s, y).reshape(()),
    )


@pytest.mark.parametrize(("shape", "reduction", "weighted"), _mse_cases())
@pytest.mark.parametrize(("on", "off"), [(1.0, 0.0), (1.5, 0.25), (-0.5, 0.5)])
def test_membrane_mse_is_mse_membrane_loss(
    shape: Any, reduction: str, weighted: bool, on: float, off: float
) -> None:
    x, y = _data(shape, 8, spikes=False)
    w = _weight(shape[2], 8) if weighted else None
    _match(
        lambda v: sf.membrane_mse(
            v, y, on_target=on, off_target=off, reduction=reduction, weight=w
        ),  # type: ignore[arg-type]
        lambda v: SF.mse_membrane_loss(on_target=on, off_target=off, reduction=reduction, weight=w)(
            v, y
        ),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


def test_membrane_mse_negative_off_target_differs_as_documented() -> None:
    """snnTorch clamps the one-hot code at off_target: off_target=-1 < on_target asks for 0."""
    x, y = _data((5, 3, 4), 9, spikes=False)
    theirs = SF.mse_membrane_loss(on_target=1.0, off_target=-1.0)(x, y)
    torch.testing.assert_close(sf.membrane_mse(x, y, off_target=0.0), theirs.reshape(()))
    assert not torch.allclose(sf.membrane_mse(x, y, off_target=-1.0), theirs.reshape(()))


@pytest.mark.parametrize(("shape", "reduction", "weighted"), _mse_cases())
@pytest.mark.parametrize(
    ("on", "off", "tolerance"), [(0, -1, 0), (1, 6, 0), (2, -2, 0), (0, 5, 2), (3, 0, 1)]
)
def test_temporal_mse_is_mse_temporal_loss(
    shape: Any, reduction: str, weighted: bool, on: int, off: int, tolerance: int
) -> None:
    """snnTorch's label targets for on > off < 0 are all 0 (its clamp); where it is so, compare
    with the target times written out (off + T), which snnTorch encodes as documented."""
    x, y = _data(shape, 10, spikes=True)
    w = _weight(shape[2], 10) if weighted else None
    their_off = off + shape[0] if (on > off and off < 0) else off
    _match(
        lambda v: sf.temporal_mse(
            v,
            y,
            on_target=on,
            off_target=off,
            tolerance=tolerance,
            reduction=reduction,  # type: ignore[arg-type]
            weight=w,
        ),
        lambda v: SF.mse_temporal_loss(
            on_target=on, off_target=their_off, tolerance=tolerance, reduction=reduction, weight=w
        )(v, y),
        x,
        unreduced_sum=weighted and reduction == "sum",
    )


def test_temporal_mse_default_differs_as_documented() -> None:
    """snnTorch's defaults (0, -1) ask every class to fire at 0; snnfunc's the off classes last."""
    x, y = _data((6, 4, 3), 11, spikes=True)
    theirs = SF.mse_temporal_loss()(x, y).reshape(())
    torch.testing.assert_close(sf.temporal_mse(x, y, off_target=0.0), theirs)
    torch.testing.assert_close(
        sf.temporal_mse(x, y), SF.mse_temporal_loss(off_target=5)(x, y).reshape(())
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_temporal_mse_target_times(shape: Any, reduction: str) -> None:
    x, _ = _data(shape, 12, spikes=True)
    times = torch.randint(-2, shape[0], shape[1:], generator=torch.Generator().manual_seed(12))
    _match(
        lambda v: sf.temporal_mse(v, times.float(), reduction=reduction, tolerance=1),  # type: ignore[arg-type]
        lambda v: SF.mse_temporal_loss(target_is_time=True, reduction=reduction, tolerance=1)(
            v, times.clone()
        ),
        x,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(6))
def test_temporal_mse_multi_spike(seed: int, reduction: str) -> None:
    """One neuron (B = C = 1), where snnTorch's multi-spike removal acts on that neuron only;
    each train has at least F = 2 spikes, so no two picked steps coincide (gradients add here,
    snnTorch keeps one)."""
    g = torch.Generator().manual_seed(seed)
    steps = 10
    x = torch.zeros(steps, 1, 1)
    x[torch.randperm(steps, generator=g)[: 2 + seed % 3], 0, 0] = 1.0
    y = torch.tensor([0])
    _match(
        lambda v: sf.temporal_mse(v, y, on_target=(1, 4), off_target=(6, 9), reduction=reduction),  # type: ignore[arg-type]
        lambda v: SF.mse_temporal_loss(
            on_target=(1, 4), off_target=(6, 9), multi_spike=True, reduction=reduction
        )(v, y),
        x,
    )


# --- regulariser, accuracies, target helpers ---------------------------------------------------
@pytest.mark.parametrize("shape", [*SHAPES, (4, 3, 2, 5)])
def test_l1_rate_sparsity(shape: Any) -> None:
    x = (torch.rand(shape, generator=torch.Generator().manual_seed(13)) < 0.4).float()
    _match(
        lambda v: sf.l1_rate_sparsity(v, strength=1e-3),
        lambda v: SF.l1_rate_sparsity(Lambda=1e-3)(v),
        x,
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(4))
def test_accuracy_count_is_accuracy_rate(shape: Any, seed: int) -> None:
    x, y = _data(shape, seed, spikes=True)
    assert metrics.accuracy_count(x, y).item() == pytest.approx(SF.accuracy_rate(x, y))


@pytest.mark.parametrize(("shape", "classes"), [((6, 8, 6), 3), ((5, 7, 10), 2), ((4, 5, 4), 4)])
def test_accuracy_count_population_code(shape: Any, classes: int) -> None:
    x, _ = _data(shape, 14, spikes=True)
    y = torch.randint(0, classes, (shape[1],), generator=torch.Generator().manual_seed(14))
    want = SF.accuracy_rate(x, y, population_code=True, num_classes=classes)
    assert metrics.accuracy_count(x, y, num_classes=classes).item() == pytest.approx(want)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(4))
def test_accuracy_first_spike_is_accuracy_temporal(shape: Any, seed: int) -> None:
    """They agree unless the earliest spike is at the last step (a silent neuron is T here, T-1
    in snnTorch): no spikes at the last step."""
    x, y = _data(shape, seed, spikes=True)
    x[-1] = 0.0
    assert metrics.accuracy_first_spike(x, y).item() == pytest.approx(SF.accuracy_temporal(x, y))


def test_accuracy_first_spike_differs_at_the_last_step_as_documented() -> None:
    x = torch.zeros(3, 1, 2)
    x[2, 0, 1] = 1.0  # class 0 silent, class 1 fires at the last step
    y = torch.tensor([1])
    assert metrics.accuracy_first_spike(x, y).item() == 1.0
    assert SF.accuracy_temporal(x, y) == 0.0


@pytest.mark.parametrize(("on", "off"), [(1.0, 0.0), (2.0, 0.5), (-1.0, 0.0), (0.2, 0.7)])
def test_one_hot_targets(on: float, off: float) -> None:
    y = torch.tensor([3, 0, 2, 2])
    torch.testing.assert_close(sf.one_hot_targets(y, 5), spikegen.to_one_hot(y, 5))
    want = spikegen.targets_convert(y, num_classes=5, on_target=on, off_target=off)
    torch.testing.assert_close(sf.one_hot_targets(y, 5, on_target=on, off_target=off), want)


@pytest.mark.parametrize("first", [0, 1, 3])
@pytest.mark.parametrize(
    ("correct", "incorrect"), [(1.0, 0.0), (0.5, 0.25), (0.3, 0.0), (1.0, 0.4)]
)
def test_rate_targets(first: int, correct: float, incorrect: float) -> None:
    """snnTorch's ``targets_rate`` is compared where it returns ``[T, B, C]`` (rates 1 and 0);
    its time-varying branch broadcasts ``[T]`` against ``C`` and returns a 5-d tensor, so there
    each class's train is compared with its ``target_rate_code`` (the train it meant to place)."""
    y = torch.tensor([1, 0, 4])
    got = sf.rate_targets(
        y, 5, 7, correct_rate=correct, incorrect_rate=incorrect, first_spike_time=first
    )
    if (correct, incorrect) == (1.0, 0.0):
        want = spikegen.targets_rate(y, num_classes=5, num_steps=7, first_spike_time=first)
        torch.testing.assert_close(got, want.expand_as(got))
        return
    on_train, _ = spikegen.target_rate_code(7, first_spike_time=first, rate=correct)
    off_train, _ = spikegen.target_rate_code(7, first_spike_time=first, rate=incorrect)
    onehot = spikegen.to_one_hot(y, 5)
    want = onehot * on_train[:, None, None] + (1 - onehot) * off_train[:, None, None]
    torch.testing.assert_close(got, want)
