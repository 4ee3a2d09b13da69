"""Losses against hand computation on small, fully specified inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import grad

from snnfunc import surrogate
from snnfunc.loss import count_mse, first_spike_time, latency_mse, membrane_ce, rate_ce


def _nll(logits: list[float], target: int) -> float:
    """-log softmax(logits)[target], by hand."""
    return -(logits[target] - math.log(sum(math.exp(v) for v in logits)))


MEM = torch.tensor(
    [
        [[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]],
        [[0.0, 2.0, 0.0], [1.0, -1.0, 0.0]],
    ]
)  # [T=2, B=2, C=3]
TARGETS = torch.tensor([0, 2])


def test_membrane_ce_sums_per_step_batch_mean() -> None:
    want = sum((_nll(MEM[t, 0].tolist(), 0) + _nll(MEM[t, 1].tolist(), 2)) / 2 for t in range(2))
    assert membrane_ce(MEM, TARGETS).item() == pytest.approx(want, rel=1e-6)
    assert membrane_ce(MEM, TARGETS, time_reduction="mean").item() == pytest.approx(
        want / 2, rel=1e-6
    )


def test_membrane_ce_equals_tutorial_loop() -> None:
    """snnTorch tutorial 3: ``loss += NLLLoss(LogSoftmax(mem[t]), y)`` over t."""
    mem = torch.randn(7, 5, 10, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([3, 1, 4, 1, 5])
    log_p = torch.nn.LogSoftmax(dim=-1)(mem)
    want = sum(torch.nn.NLLLoss()(log_p[t], y) for t in range(7))
    torch.testing.assert_close(membrane_ce(mem, y), want)


def test_rate_ce_uses_spike_counts_as_logits() -> None:
    spikes = torch.tensor([[[1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])  # counts 2,1,1
    assert rate_ce(spikes, torch.tensor([1])).item() == pytest.approx(_nll([2, 1, 1], 1), rel=1e-6)


def test_count_mse_targets_rates_times_steps() -> None:
    spikes = torch.zeros(4, 1, 2)
    spikes[:, 0, 0] = torch.tensor([1.0, 1.0, 1.0, 0.0])  # counts: 3, 0
    # targets: class 0 -> 0.75 * 4 = 3; class 1 -> 0.25 * 4 = 1; mean sq err (0 + 1) / 2, / T
    got = count_mse(spikes, torch.tensor([0]), correct_rate=0.75, incorrect_rate=0.25)
    assert got.item() == pytest.approx(0.5 / 4)


def test_first_spike_time_by_hand() -> None:
    spikes = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # [T=3, N=3]
    torch.testing.assert_close(first_spike_time(spikes), torch.tensor([1.0, 3.0, 0.0]))


def test_latency_mse_by_hand() -> None:
    spikes = torch.zeros(5, 1, 2)
    spikes[2, 0, 0] = 1.0  # class 0 first fires at 2; class 1 never (5)
    # target class 1 at 0, class 0 at T=5: errors (2-5)^2=9, (5-0)^2=25 -> mean 17
    assert latency_mse(spikes, torch.tensor([1])).item() == pytest.approx(17.0)
    got = latency_mse(spikes, torch.tensor([0]), correct_time=1.0, incorrect_time=4.0)
    assert got.item() == pytest.approx(((2 - 1) ** 2 + (5 - 4) ** 2) / 2)


@pytest.mark.parametrize("loss", [rate_ce, count_mse, latency_mse])
def test_spike_losses_backpropagate_through_the_surrogate(loss) -> None:
    spike_fn = surrogate.atan()
    v = torch.randn(6, 3, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    loss(spike_fn(v), torch.tensor([0, 1, 2])).backward()
    assert v.grad is not None and v.grad.abs().sum() > 0


def test_membrane_ce_under_torch_func_grad() -> None:
    g = grad(lambda m: membrane_ce(m, TARGETS))(MEM)
    # d/dm of sum_t mean_b CE = (softmax - onehot) / B at every step
    want = (MEM.softmax(-1) - torch.nn.functional.one_hot(TARGETS, 3)) / 2
    torch.testing.assert_close(g, want)


@pytest.mark.parametrize("loss", [membrane_ce, rate_ce, count_mse, latency_mse])
def test_shape_errors_name_the_argument(loss) -> None:
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        loss(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must be"):
        loss(torch.zeros(3, 4, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="integer class indices"):
        loss(torch.zeros(3, 4, 5), torch.zeros(4))


def test_option_errors() -> None:
    with pytest.raises(ValueError, match="time_reduction"):
        membrane_ce(MEM, TARGETS, time_reduction="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="correct_rate"):
        count_mse(MEM, TARGETS, correct_rate=1.5)
