"""Accuracy metrics against hand-counted examples."""

from __future__ import annotations

import pytest
import torch

from snnfunc.metrics import accuracy_count, accuracy_first_spike, accuracy_membrane

# [T=3, B=3, C=3]
SPIKES = torch.tensor(
    [
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]],
        [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
        [[0.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
    ]
)
# counts: b0 [2, 2, 1] -> tie -> class 0; b1 [0, 2, 2] -> tie -> 1; b2 silent -> 0
# first spikes: b0 [0, 1, 2] -> 0; b1 [3, 1, 0] -> 2; b2 all 3 -> 0


def test_accuracy_count_ties_go_to_lowest_class() -> None:
    assert accuracy_count(SPIKES, torch.tensor([0, 1, 0])).item() == 1.0
    assert accuracy_count(SPIKES, torch.tensor([1, 2, 0])).item() == pytest.approx(1 / 3)


def test_accuracy_first_spike() -> None:
    assert accuracy_first_spike(SPIKES, torch.tensor([0, 2, 0])).item() == 1.0
    assert accuracy_first_spike(SPIKES, torch.tensor([0, 1, 1])).item() == pytest.approx(1 / 3)


def test_accuracy_membrane_reductions() -> None:
    mem = torch.tensor([[[0.0, 3.0]], [[1.0, -2.0]], [[2.0, -2.0]]])  # [T=3, B=1, C=2]
    # mean: [1, -1/3] -> 0; max: [2, 3] -> 1; last: [2, -2] -> 0
    y = torch.tensor([0])
    assert accuracy_membrane(mem, y).item() == 1.0
    assert accuracy_membrane(mem, y, reduce="max").item() == 0.0
    assert accuracy_membrane(mem, y, reduce="last").item() == 1.0


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match="targets must be"):
        accuracy_count(SPIKES, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduce"):
        accuracy_membrane(SPIKES, torch.tensor([0, 1, 0]), reduce="median")  # type: ignore[arg-type]


def test_accuracy_count_population_code() -> None:
    spikes = torch.zeros(2, 2, 4)  # 2 classes x 2 neurons
    spikes[:, 0, 1] = 1.0  # sample 0: class 0 population counts 2, class 1: 1
    spikes[0, 0, 3] = 1.0
    spikes[:, 1, 2:] = 1.0  # sample 1: class 1
    assert accuracy_count(spikes, torch.tensor([0, 1]), num_classes=2).item() == 1.0
    assert accuracy_count(spikes, torch.tensor([0, 1])).item() == 0.0  # per neuron: 1, 2
    with pytest.raises(ValueError, match="num_classes must divide"):
        accuracy_count(spikes, torch.tensor([0, 1]), num_classes=3)
