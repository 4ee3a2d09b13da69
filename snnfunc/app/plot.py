"""Plots of spiking activity; each function returns a ``matplotlib.figure.Figure``.

matplotlib is an optional extra (``pip install 'snnfunc[plot]'``), imported only here. The
figures are built with the object API (no pyplot state), so they render headless; save with
``fig.savefig("x.png")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snnfunc._checks import check_tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["raster", "traces", "spike_counts", "loss_curve", "plot_robustness"]


def _figure(**kwargs: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("snnfunc.app.plot needs matplotlib: pip install 'snnfunc[plot]'") from err
    return Figure(**kwargs)


def _as_2d(name: str, value: Tensor) -> Tensor:
    """``[T, ...]`` -> ``[T, N]`` on the CPU, detached."""
    check_tensor(name, value)
    if value.dim() < 1:
        raise ValueError(f"{name} must be [T, N] (time-major), got a 0-d tensor")
    flat = value.detach().cpu().float()
    return flat.reshape(flat.shape[0], -1)


def raster(
    spikes: Tensor | Sequence[Tensor],
    *,
    titles: Sequence[str] | None = None,
    max_neurons: int = 200,
    spread: bool = False,
    title: str | None = None,
) -> Any:
    """Spike raster: one dot per spike, time on x, neuron on y.

    Each panel's y label says how many of its neurons it shows (``neuron (all 10)``,
    ``neuron (first 200 of 768)``, ``neuron (200 of 768, evenly spaced)``).

    Args:
        spikes: ``[T, N]`` (one sample; extra dims are flattened into ``N``), or a sequence of
            them (e.g. every layer of a network), drawn as stacked panels.
        titles: one title per panel.
        max_neurons: show at most this many neurons per panel: the first ones, or with
            ``spread`` evenly spaced ones over all ``N`` (every channel of a conv layer
            ``[T, C, H, W]``, not just the first).
        spread: pick the shown neurons evenly spaced instead of the first ``max_neurons``.
        title: a title over all panels (e.g. which sample it is).
    Returns:
        The Figure.
    """
    layers = [spikes] if isinstance(spikes, Tensor) else list(spikes)
    if not layers:
        raise ValueError("spikes must be a tensor [T, N] or a non-empty sequence of them")
    if titles is not None and len(titles) != len(layers):
        raise ValueError(f"titles has {len(titles)} entries for {len(layers)} panels")
    fig = _figure(figsize=(8, 1.0 + 1.8 * len(layers)), layout="constrained")
    axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
    for k, (ax, layer) in enumerate(zip(axes, layers, strict=True)):
        full = _as_2d("spikes", layer)
        total = full.shape[1]
        if total > max_neurons and spread:
            index = torch.linspace(0, total - 1, max_neurons).round().long()
            data = full[:, index]
            shown = f"neuron ({data.shape[1]} of {total}, evenly spaced)"
        else:
            data = full[:, :max_neurons]
            shown = (
                f"neuron (all {total})"
                if total <= max_neurons
                else f"neuron (first {max_neurons} of {total})"
            )
        t, n = data.nonzero(as_tuple=True)
        ax.scatter(t.numpy(), n.numpy(), s=4, c="black", marker="|")
        ax.set_xlim(-0.5, data.shape[0] - 0.5)
        ax.set_ylim(-0.5, data.shape[1] - 0.5)
        ax.set_ylabel(shown, fontsize=8)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    axes[-1].set_xlabel("time step")
    if title is not None:
        fig.suptitle(title, fontsize=10)
    return fig


def traces(
    membrane: Tensor,
    *,
    threshold: float | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Any:
    """Membrane traces over time, one line per neuron.

    The legend (up to 20 neurons) sits outside the axes, to the right, so it covers no trace;
    the threshold line is drawn on top of the traces.

    Args:
        membrane: ``[T, N]`` (one sample).
        threshold: draw the firing threshold as a dashed line.
        labels: one legend label per neuron (default the neuron index).
        title: the axes title.
    Returns:
        The Figure.
    """
    data = _as_2d("membrane", membrane)
    if labels is not None and len(labels) != data.shape[1]:
        raise ValueError(f"labels has {len(labels)} entries for {data.shape[1]} neurons")
    fig = _figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    for k in range(data.shape[1]):
        ax.plot(data[:, k].numpy(), label=labels[k] if labels is not None else str(k))
    if threshold is not None:
        top = max((line.get_zorder() for line in ax.get_lines()), default=2.0) + 1
        ax.axhline(
            threshold, color="black", linestyle="--", linewidth=1.2, label="threshold", zorder=top
        )
    ax.set_xlabel("time step")
    ax.set_ylabel("membrane")
    if title is not None:
        ax.set_title(title, fontsize=10)
    if data.shape[1] <= 20:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def spike_counts(spikes: Tensor, *, labels: Sequence[str] | None = None) -> Any:
    """Bar chart of each neuron's spike count over time.

    Args:
        spikes: ``[T, N]`` (one sample).
        labels: one tick label per neuron.
    Returns:
        The Figure.
    """
    counts = _as_2d("spikes", spikes).sum(0)
    if labels is not None and len(labels) != counts.shape[0]:
        raise ValueError(f"labels has {len(labels)} entries for {counts.shape[0]} neurons")
    fig = _figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    positions = list(range(counts.shape[0]))
    ax.bar(positions, counts.numpy())
    if labels is not None:
        ax.set_xticks(positions, labels)
    ax.set_xlabel("neuron")
    ax.set_ylabel("spike count")
    return fig


def loss_curve(
    losses: Sequence[float],
    *,
    smooth: int = 20,
    title: str | None = None,
    epoch_ends: Sequence[int] | None = None,
    accuracy: Sequence[float] | None = None,
) -> Any:
    """Training loss per batch, with a running mean over ``smooth`` batches.

    Args:
        losses: one value per batch.
        smooth: window of the running mean (1: none).
        title: the axes title (e.g. the loss's name).
        epoch_ends: the number of batches done at the end of each epoch: a dotted vertical
            line there, labelled with the epoch.
        accuracy: one test accuracy (a fraction) per epoch, drawn at ``epoch_ends`` in % on a
            second y axis (needs ``epoch_ends`` of the same length).
    Returns:
        The Figure.
    """
    values = [float(v) for v in losses]
    ends = [int(e) for e in epoch_ends] if epoch_ends is not None else []
    if accuracy is not None and len(accuracy) != len(ends):
        raise ValueError(f"accuracy has {len(accuracy)} values for {len(ends)} epoch_ends")
    fig = _figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    handles = ax.plot(values, alpha=0.4, label="batch")
    if smooth > 1 and len(values) >= smooth:
        running = [sum(values[k - smooth : k]) / smooth for k in range(smooth, len(values) + 1)]
        handles += ax.plot(range(smooth - 1, len(values)), running, label=f"mean of {smooth}")
    for k, end in enumerate(ends):
        ax.axvline(end - 0.5, color="gray", linestyle=":", linewidth=0.8, zorder=0)
        ax.annotate(
            f"epoch {k + 1}",
            (end - 0.5, 0.02),
            xycoords=("data", "axes fraction"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="gray",
            rotation=90,
        )
    ax.set_xlabel("batch")
    ax.set_ylabel("loss")
    if title is not None:
        ax.set_title(title)
    if accuracy is not None and ends:
        acc_ax = ax.twinx()
        handles += acc_ax.plot(
            [e - 0.5 for e in ends],
            [100 * float(a) for a in accuracy],
            color="tab:green",
            marker="o",
            label="test accuracy",
        )
        acc_ax.set_ylabel("test accuracy (%)")
        acc_ax.set_ylim(0, 100)
    ax.legend(handles=handles, loc="center right")
    return fig


def plot_robustness(
    eps: Sequence[float],
    accuracy: Sequence[float] | dict[str, Sequence[float]],
    *,
    title: str = "Robust accuracy",
) -> Figure:
    """Robust accuracy against ``eps`` as a matplotlib ``Figure`` (needs ``matplotlib``).

    ``accuracy`` is one curve, or ``{label: curve}`` for several (e.g. FGSM and PGD). The
    figure is not attached to pyplot; save it with ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    curves = accuracy if isinstance(accuracy, dict) else {"": accuracy}
    fig = Figure(figsize=(4.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for label, acc in curves.items():
        if len(acc) != len(eps):
            raise ValueError(f"accuracy has {len(acc)} values but eps has {len(eps)}")
        ax.plot(list(eps), [100 * a for a in acc], marker="o", label=label or None)
    ax.set_xlabel("epsilon (L-inf)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if any(curves):
        ax.legend()
    return fig
