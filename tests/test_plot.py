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
