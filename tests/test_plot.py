"""Plots render headless (Agg) to real PNGs and draw what they are given."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnfunc.app import plot

matplotlib = pytest.importorskip("matplotlib")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _save(fig: object, path: Path) -> bytes:
    fig.savefig(path, format="png")  # type: ignore[attr-defined]
    return path.read_bytes()


def test_raster_draws_every_spike(tmp_path: Path) -> None:
    spikes = (torch.rand(20, 30, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    fig = plot.raster(spikes)
    (points,) = fig.axes[0].collections
    assert len(points.get_offsets()) == int(spikes.sum())
    assert _save(fig, tmp_path / "r.png").startswith(PNG_MAGIC)


def test_raster_of_layers_one_panel_each(tmp_path: Path) -> None:
    layers = [torch.ones(5, 2, 3, 3), torch.zeros(5, 10)]
    fig = plot.raster(layers, titles=["conv", "out"])
    assert [ax.get_title() for ax in fig.axes] == ["conv", "out"]
    assert len(fig.axes[0].collections[0].get_offsets()) == 5 * 18  # [2, 3, 3] flattened
    assert _save(fig, tmp_path / "layers.png").startswith(PNG_MAGIC)


def test_traces_and_counts(tmp_path: Path) -> None:
    membrane = torch.linspace(0, 1, 12).reshape(4, 3)
    fig = plot.traces(membrane, threshold=1.0)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4  # 3 neurons + threshold
    assert lines[1].get_ydata().tolist() == pytest.approx(membrane[:, 1].tolist())
    assert _save(fig, tmp_path / "t.png").startswith(PNG_MAGIC)
    counts = plot.spike_counts(
        torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]), labels=["a", "b"]
    )
    assert [bar.get_height() for bar in counts.axes[0].patches] == [3.0, 1.0]
    assert _save(counts, tmp_path / "c.png").startswith(PNG_MAGIC)
    assert _save(plot.loss_curve([3.0, 2.0, 1.0] * 10), tmp_path / "l.png").startswith(PNG_MAGIC)


def test_plot_errors() -> None:
    with pytest.raises(ValueError, match="titles has 1 entries for 2 panels"):
        plot.raster([torch.zeros(2, 2), torch.zeros(2, 2)], titles=["x"])
    with pytest.raises(TypeError, match="membrane must be a torch.Tensor"):
        plot.traces([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="labels has 1 entries for 2 neurons"):
        plot.spike_counts(torch.zeros(3, 2), labels=["a"])


def test_loss_curve_has_a_title_epoch_marks_and_a_test_accuracy_curve() -> None:
    fig = plot.loss_curve(
        [3.0, 2.0, 1.0] * 10, title="loss: rate_ce", epoch_ends=[15, 30], accuracy=[0.5, 0.75]
    )
    ax, acc_ax = fig.axes
    assert ax.get_title() == "loss: rate_ce"
    assert [t.get_text() for t in ax.texts] == ["epoch 1", "epoch 2"]
    marks = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in marks] == [14.5, 29.5]
    (curve,) = acc_ax.get_lines()
    assert curve.get_label() == "test accuracy"
    assert curve.get_ydata().tolist() == [50.0, 75.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "test accuracy"
    with pytest.raises(ValueError, match="accuracy has 1 values for 2 epoch_ends"):
        plot.loss_curve([1.0, 2.0], epoch_ends=[1, 2], accuracy=[0.5])


def test_raster_says_how_many_neurons_it_shows() -> None:
    conv = torch.zeros(4, 12, 8, 8)  # [T, C, H, W]: 768 neurons
    conv[:, -1] = 1.0  # only the last channel fires
    fig = plot.raster([conv, torch.ones(4, 10)], title="image 0: label 3, predicted 3")
    assert [ax.get_ylabel() for ax in fig.axes] == ["neuron (first 200 of 768)", "neuron (all 10)"]
    assert len(fig.axes[0].collections[0].get_offsets()) == 0  # the first 200 miss channel 11
    assert fig.get_suptitle() == "image 0: label 3, predicted 3"
    spread = plot.raster(conv, spread=True)
    assert spread.axes[0].get_ylabel() == "neuron (200 of 768, evenly spaced)"
    assert len(spread.axes[0].collections[0].get_offsets()) > 0  # every channel is sampled


def test_traces_legend_is_outside_the_data_and_the_threshold_on_top() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot.traces(torch.rand(10, 5), threshold=0.5, title="output")
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # to the right of the axes: covers no trace
    *traces, threshold = ax.get_lines()
    assert threshold.get_label() == "threshold"
    assert threshold.get_zorder() > max(line.get_zorder() for line in traces)
    assert ax.get_title() == "output"
