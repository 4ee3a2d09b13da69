"""snnTorch's own ``tests/test_snntorch/functional/test_loss.py`` and ``test_acc.py`` assertions,
restated for snnfunc's functions (snnTorch is not needed here).

The upstream tests check, for every loss, that ``reduction="none"`` averages to the default, and
that ``weight`` multiplies each sample's loss by ``weight[target]`` before the mean (divided by
the sum of the weights for ``ce_temporal_loss``). Upstream, the MSE losses multiply their
``[B, C]`` losses by ``weight[targets]`` ``[B]`` along the class axis (the test uses B == C == 3,
where that runs); snnfunc weights each sample's row, so the restated expectation does too.
Upstream ``test_reg.py`` tests ``kl_rate_sparsity`` and ``temporal_sparsity``, which snnTorch
1.0 does not have; its ``l1_rate_sparsity`` has no upstream test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

import snnfunc as sf
from snnfunc.metrics import accuracy_count

G = torch.Generator().manual_seed(42)
SPIKES = torch.randint(2, (3, 3, 3), generator=G).float()  # [T, B, C]
MEMBRANE = torch.rand((3, 3, 3), generator=G)
TARGETS = torch.tensor([1, 2, 0])
WEIGHTS = torch.tensor([0.35, 0.50, 0.15])

LOSSES: dict[str, tuple[Callable[..., Tensor], Tensor]] = {  # snnTorch name: (ours, input)
    "ce_rate_loss": (sf.step_ce, SPIKES),
    "ce_count_loss": (sf.count_ce, SPIKES),
    "ce_max_membrane_loss": (sf.max_membrane_ce, MEMBRANE),
    "mse_count_loss": (
        lambda x, y, **kw: sf.count_mse(
            x, y, correct_rate=1.0, incorrect_rate=0.0, integer_counts=True, **kw
        ),
        SPIKES,
    ),
    "mse_membrane_loss": (sf.membrane_mse, MEMBRANE),
    "mse_temporal_loss": (sf.temporal_mse, SPIKES),
    "ce_temporal_loss": (sf.temporal_ce, SPIKES),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_unreduced_mean_is_the_default(name: str) -> None:
    loss, x = LOSSES[name]
    unreduced = loss(x, TARGETS, reduction="none")
    assert unreduced.mean().item() == pytest.approx(loss(x, TARGETS).item(), abs=1e-5)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weighted(name: str) -> None:
    loss, x = LOSSES[name]
    # upstream feeds spikes to every weighted test, the max-membrane and membrane ones included
    x = SPIKES
    unreduced = loss(x, TARGETS, reduction="none")
    w = WEIGHTS[TARGETS]
    w = w if unreduced.dim() == 1 else w[:, None]
    weighted = unreduced * w
    if name == "ce_temporal_loss":
        want = weighted.sum() / WEIGHTS[TARGETS].sum()
    else:
        want = weighted.mean()
    assert loss(x, TARGETS, weight=WEIGHTS).item() == pytest.approx(want.item(), abs=1e-5)


def test_accuracy_rate() -> None:
    spikes = torch.zeros((5, 2, 4))
    spikes[:, 0, 0] = 1
    spikes[:, 1, 3] = 1
    assert accuracy_count(spikes, torch.tensor([0, 3])).item() == 1.0


def test_accuracy_rate_population_code() -> None:
    spikes = torch.zeros((5, 2, 4))
    spikes[:, 0, 0:2] = 1
    spikes[:, 1, 2:4] = 1
    assert accuracy_count(spikes, torch.tensor([0, 1]), num_classes=2).item() == 1.0


def test_accuracy_rate_population_code_keeps_float64() -> None:
    """Close float64 scores must keep their order (no downcast in the population sum)."""
    spikes = torch.tensor([[[1.00000002, 1.00000005]]], dtype=torch.float64)
    assert sf.population_code(spikes, 2).dtype == torch.float64
    assert accuracy_count(spikes, torch.tensor([1]), num_classes=2).item() == 1.0
