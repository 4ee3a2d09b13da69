"""Losses against hand computation on small, fully specified inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import grad

from snnfunc import surrogate
from snnfunc.loss import (
    count_ce,
    count_mse,
    first_spike_time,
    l1_rate_sparsity,
    latency_mse,
    max_membrane_ce,
    membrane_ce,
    membrane_mse,
    one_hot_targets,
    population_code,
    rate_ce,
    rate_targets,
    step_ce,
    temporal_ce,
    temporal_mse,
)


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


# --- reduction, weight, population codes (snnfunc's own contract) ------------------------------

SPIKES = (torch.rand(6, 5, 4, generator=torch.Generator().manual_seed(3)) < 0.4).float()
Y5 = torch.tensor([0, 3, 1, 3, 2])
PER_SAMPLE = [membrane_ce, step_ce, count_ce, rate_ce, max_membrane_ce, temporal_ce]
PER_ELEMENT = [count_mse, membrane_mse, temporal_mse, latency_mse]


@pytest.mark.parametrize("loss", PER_SAMPLE + PER_ELEMENT)
def test_reduction_none_shapes_and_sum_mean(loss) -> None:
    none = loss(SPIKES, Y5, reduction="none")
    assert none.shape == ((5,) if loss in PER_SAMPLE else (5, 4))
    torch.testing.assert_close(loss(SPIKES, Y5, reduction="sum"), none.sum())
    torch.testing.assert_close(loss(SPIKES, Y5), none.mean())
    assert loss(SPIKES, Y5).shape == ()


@pytest.mark.parametrize("loss", PER_SAMPLE + PER_ELEMENT)
def test_weight_multiplies_each_sample_by_its_class_weight(loss) -> None:
    w = torch.tensor([1.0, 0.0, 2.0, 0.5])
    none = loss(SPIKES, Y5, reduction="none")
    per_sample_w = w[Y5] if none.dim() == 1 else w[Y5][:, None]
    torch.testing.assert_close(loss(SPIKES, Y5, reduction="none", weight=w), none * per_sample_w)
    torch.testing.assert_close(
        loss(SPIKES, Y5, reduction="sum", weight=w), (none * per_sample_w).sum()
    )
    # "mean" divides by the count (snnTorch's LossFunctions), except temporal_ce: by sum(w)
    denominator = w[Y5].sum() * (none.numel() / 5) if loss is temporal_ce else none.numel()
    torch.testing.assert_close(
        loss(SPIKES, Y5, weight=w), (none * per_sample_w).sum() / denominator
    )
    torch.testing.assert_close(loss(SPIKES, Y5, weight=torch.ones(4)), loss(SPIKES, Y5))


def test_weighted_mean_differs_from_cross_entropy_by_design() -> None:
    w = torch.tensor([1.0, 3.0, 2.0, 0.5])
    counts = SPIKES.sum(0)
    ours = count_ce(SPIKES, Y5, weight=w)
    torch_rule = torch.nn.functional.cross_entropy(counts, Y5, weight=w)
    torch.testing.assert_close(ours * 5 / w[Y5].sum(), torch_rule)


def test_population_code_sums_contiguous_groups() -> None:
    x = torch.arange(12.0).reshape(1, 2, 6)  # m = 3 per class
    torch.testing.assert_close(population_code(x, 2), torch.tensor([[[3.0, 12.0], [21.0, 30.0]]]))
    pop = SPIKES.repeat_interleave(3, dim=2)  # every class neuron tripled: [6, 5, 12]
    torch.testing.assert_close(count_ce(pop, Y5, num_classes=4), count_ce(SPIKES * 3, Y5))
    onehot = torch.nn.functional.one_hot(Y5, 4)
    goal = 3 * 6 * (0.8 * onehot + 0.2 * (1 - onehot))  # population of 3: rate * T * 3
    want = ((SPIKES.sum(0) * 3 - goal) ** 2).mean() / 6
    torch.testing.assert_close(count_mse(pop, Y5, num_classes=4), want)


def test_count_mse_integer_counts_by_hand() -> None:
    spikes = torch.zeros(3, 1, 2)
    spikes[:, 0, 0] = torch.tensor([1.0, 1.0, 0.0])  # counts 2, 0
    # targets: int(3 * 0.75) = 2 and int(3 * 0.25) = 0 (not 2.25 and 0.75)
    got = count_mse(
        spikes, torch.tensor([0]), correct_rate=0.75, incorrect_rate=0.25, integer_counts=True
    )
    assert got.item() == 0.0
    got = count_mse(spikes, torch.tensor([0]), correct_rate=0.75, incorrect_rate=0.25)
    assert got.item() == pytest.approx((0.25**2 + 0.75**2) / 2 / 3)


def test_membrane_mse_targets_by_hand() -> None:
    mem = torch.tensor([[[0.5, 0.0]], [[1.0, 1.0]]])  # [T=2, B=1, C=2]
    # class 1: targets 0 (class 0), 1 (class 1): ((0.25 + 1) + (1 + 0)) / 2 steps / 2 classes
    assert membrane_mse(mem, torch.tensor([1])).item() == pytest.approx(2.25 / 4)
    goal = torch.tensor([[1.0, 0.0]])  # [B, C] target membrane
    assert membrane_mse(mem, goal).item() == pytest.approx((0.25 + 0 + 0 + 1) / 4)
    varying = torch.tensor([[[0.5, 0.0]], [[1.0, 0.0]]])  # [T, B, C]
    assert membrane_mse(mem, varying).item() == pytest.approx(1 / 4)


def test_temporal_mse_times_and_sign_estimator_by_hand() -> None:
    spikes = torch.tensor(
        [[[0.0, 0.0, 0.0]], [[1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]]
    )
    spikes.requires_grad_(True)  # first spikes: 1, silent (T - 1 = 3), 1
    y = torch.tensor([0])
    loss = temporal_mse(spikes, y, on_target=0, off_target=-1)  # targets 0, 3, 3
    assert loss.item() == pytest.approx(((1 / 4) ** 2 + 0 + (2 / 4) ** 2) / 3)
    loss.backward()
    want = torch.zeros(4, 1, 3)  # dL/dt = 2 (t - t*) / T^2 / 3; dt/dz = -1 at the step picked
    want[1, 0, 0] = -2 * 1 / 16 / 3
    want[1, 0, 2] = -2 * -2 / 16 / 3
    torch.testing.assert_close(spikes.grad, want)
    assert temporal_mse(spikes, y, on_target=0, off_target=-1, tolerance=2.5).item() == 0.0


def test_temporal_mse_multi_spike_by_hand() -> None:
    spikes = torch.zeros(6, 1, 1)
    spikes[[1, 4], 0, 0] = 1.0  # spikes at 1 and 4
    got = temporal_mse(
        spikes, torch.tensor([0]), on_target=(1, 2), off_target=(0, 0), reduction="none"
    )
    torch.testing.assert_close(got, torch.tensor([[[0.0]], [[(2 / 6) ** 2]]]))


def test_temporal_ce_picks_the_earliest() -> None:
    spikes = torch.zeros(4, 1, 2)
    spikes[0, 0, 1] = 1.0  # class 1 at 0, class 0 silent (3)
    assert temporal_ce(spikes, torch.tensor([1])).item() == pytest.approx(
        _nll([-3, 0], 1), rel=1e-6
    )
    got = temporal_ce(spikes, torch.tensor([1]), inverse="reciprocal")
    assert got.item() == pytest.approx(_nll([1 / 4, 1], 1), rel=1e-6)
    g = grad(lambda s: temporal_ce(s, torch.tensor([1])))(spikes)
    assert g[0, 0, 1] < 0 and g[3, 0, 0] > 0  # firing class 1 earlier/ class 0 later helps


def test_l1_rate_sparsity_by_hand() -> None:
    spikes = torch.ones(3, 2, 4)
    assert l1_rate_sparsity(spikes).item() == pytest.approx(24e-5)
    torch.testing.assert_close(
        l1_rate_sparsity(spikes, strength=0.5, reduction="none"), torch.tensor([6.0, 6.0])
    )
    assert l1_rate_sparsity(spikes, strength=0.5, reduction="mean").item() == 6.0


def test_target_helpers_by_hand() -> None:
    torch.testing.assert_close(
        one_hot_targets(torch.tensor([1]), 3, on_target=2.0, off_target=-1.0),
        torch.tensor([[-1.0, 2.0, -1.0]]),
    )
    got = rate_targets(
        torch.tensor([0]), 2, 6, correct_rate=0.5, incorrect_rate=0.25, first_spike_time=1
    )
    torch.testing.assert_close(got[:, 0, 0], torch.tensor([0.0, 1, 0, 1, 0, 1]))
    torch.testing.assert_close(got[:, 0, 1], torch.tensor([0.0, 1, 0, 0, 0, 1]))
    assert rate_targets(torch.tensor([0]), 2, 5).shape == (5, 1, 2)


def test_reduction_weight_population_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="reduction must be one of"):
        count_ce(SPIKES, Y5, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight must be \[C\] = \[4\]"):
        count_ce(SPIKES, Y5, weight=torch.ones(3))
    with pytest.raises(TypeError, match="weight must be a floating-point"):
        count_ce(SPIKES, Y5, weight=torch.ones(4, dtype=torch.long))
    with pytest.raises(ValueError, match="num_classes must divide the C = 4"):
        count_ce(SPIKES, Y5, num_classes=3)
    with pytest.raises(ValueError, match=r"targets must be class indices in \[0, C\) = \[0, 2\)"):
        count_ce(SPIKES, Y5, num_classes=2)
    with pytest.raises(ValueError, match="weight needs class-index targets"):
        membrane_mse(SPIKES, torch.zeros(5, 4), weight=torch.ones(4))
    with pytest.raises(ValueError, match=r"floating targets \(target membranes\) must be"):
        membrane_mse(SPIKES, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="on_target and off_target must have the same length"):
        temporal_mse(SPIKES, Y5, on_target=(0, 1), off_target=(5,))
    with pytest.raises(ValueError, match="tolerance must be a number >= 0"):
        temporal_mse(SPIKES, Y5, tolerance=-1)
    with pytest.raises(ValueError, match="inverse must be one of"):
        temporal_ce(SPIKES, Y5, inverse="log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spikes must be"):
        l1_rate_sparsity(torch.ones(3))


@pytest.mark.parametrize("loss", PER_SAMPLE + PER_ELEMENT)
def test_new_options_under_torch_func_grad(loss) -> None:
    w = torch.tensor([1.0, 0.5, 2.0, 1.5])
    x = SPIKES.clone().requires_grad_(True)
    loss(x, Y5, weight=w, reduction="sum").backward()
    g = grad(lambda s: loss(s, Y5, weight=w, reduction="sum"))(SPIKES)
    torch.testing.assert_close(g, x.grad)


@pytest.mark.slow
@pytest.mark.parametrize("loss", [temporal_mse, temporal_ce, count_ce, count_mse, membrane_mse])
def test_compiled_loss_then_backward_matches_eager(loss) -> None:
    """The new losses trace whole (fullgraph), the sign-estimator spike times included."""
    w = torch.tensor([1.0, 0.5, 2.0, 1.5])
    compiled = torch.compile(lambda s: loss(s, Y5, weight=w), backend="aot_eager", fullgraph=True)
    a, b = SPIKES.clone().requires_grad_(True), SPIKES.clone().requires_grad_(True)
    got, want = compiled(a), loss(b, Y5, weight=w)
    got.backward()
    want.backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(a.grad, b.grad)
