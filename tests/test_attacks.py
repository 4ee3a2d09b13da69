"""Adversarial attacks: budget and range, loss ascent, and a trained rate-coded SNN."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

import snnfunc
from snnfunc import LIFParams, lif_init, lif_step, neuron, scan, sequential
from snnfunc.app.plot import plot_robustness
from snnfunc.attacks import fgsm, pgd, robust_accuracy


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def wavy_loss(w: Tensor) -> partial[Tensor]:
    def loss(x: Tensor, w: Tensor) -> Tensor:
        return (torch.sin(3 * x) * w).sum() + (x**2).sum()

    return partial(loss, w=w)


@given(
    seed=st.integers(0, 10_000),
    eps=st.floats(0.0, 0.5),
    alpha=st.floats(0.0, 0.3),
    steps=st.integers(0, 6),
    random_start=st.booleans(),
)
def test_pgd_and_fgsm_stay_in_the_eps_ball_and_the_valid_range(
    seed: int, eps: float, alpha: float, steps: int, random_start: bool
) -> None:
    x = torch.rand(5, 4, dtype=torch.float64, generator=gen(seed))
    loss = wavy_loss(torch.randn(5, 4, dtype=torch.float64, generator=gen(seed + 1)))
    for x_adv in (
        pgd(loss, x, eps, alpha, steps, random_start=random_start, generator=gen(seed)),
        fgsm(loss, x, eps),
    ):
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
        assert float((x_adv - x).abs().max()) <= eps + 1e-12
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_custom_clamp_and_no_clamp() -> None:
    x = torch.full((3,), 0.5, dtype=torch.float64)
    loss = wavy_loss(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    assert float(pgd(loss, x, 1.0, 0.4, 5, clamp=(0.2, 0.8)).min()) >= 0.2
    unclamped = fgsm(lambda x: x.sum(), x, 1.0, clamp=None)
    torch.testing.assert_close(unclamped, x + 1.0)


@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 0.3), steps=st.integers(1, 6))
def test_loss_never_decreases_on_a_convex_toy_model(seed: int, eps: float, steps: int) -> None:
    """Logistic regression: cross-entropy is convex in x, and each signed step moves every
    coordinate along its gradient (or not at all), so the loss never goes down."""
    g = gen(seed)
    x = torch.rand(8, 6, dtype=torch.float64, generator=g)
    weight = torch.randn(3, 6, dtype=torch.float64, generator=g)
    labels = torch.randint(3, (8,), generator=g)

    def loss(x: Tensor) -> Tensor:
        return F.cross_entropy(F.linear(x, weight), labels)

    clean = float(loss(x))
    assert float(loss(fgsm(loss, x, eps))) >= clean - 1e-12
    previous = clean
    for k in range(1, steps + 1):  # pgd is deterministic: k steps are the first k iterates
        current = float(loss(pgd(loss, x, eps, eps / 2, k)))
        assert current >= previous - 1e-12
        previous = current


def test_fgsm_is_the_closed_form_for_a_linear_loss() -> None:
    x = torch.tensor([0.0, 0.5, 0.98, 0.5], dtype=torch.float64)
    w = torch.tensor([1.0, -2.0, 3.0, 0.0], dtype=torch.float64)
    got = fgsm(lambda x: (w * x).sum(), x, 0.1)
    torch.testing.assert_close(got, torch.tensor([0.1, 0.4, 1.0, 0.5], dtype=torch.float64))
    # PGD with alpha >= eps reaches the same corner in one step and stays there
    torch.testing.assert_close(pgd(lambda x: (w * x).sum(), x, 0.1, 0.1, 3), got)


def test_rate_encoding_lets_the_attack_through_torch_bernoulli_does_not() -> None:
    """The motivating problem: with torch.bernoulli the input gradient is zero, so FGSM can't
    move the input; with snnfunc.rate (straight-through) it can."""
    x = torch.rand(4, 10, generator=gen(0))
    w = torch.randn(10, generator=gen(1))

    def loss_ours(x: Tensor) -> Tensor:
        return (snnfunc.rate(x, 20, generator=gen(2)) @ w).sum()

    def loss_bernoulli(x: Tensor) -> Tensor:
        return (torch.bernoulli(x.expand(20, -1, -1), generator=gen(2)) @ w).sum()

    leaf = x.clone().requires_grad_(True)
    loss_bernoulli(leaf).backward()
    assert leaf.grad is None or torch.count_nonzero(leaf.grad) == 0
    assert torch.equal(fgsm(loss_bernoulli, x, 0.1), x)
    moved = fgsm(loss_ours, x, 0.1)
    assert torch.count_nonzero(moved - x) > 0
    # d loss / dx = T * w per row, so the step follows sign(w) (up to the [0, 1] clamp)
    torch.testing.assert_close(moved, (x + 0.1 * w.sign()).clamp(0, 1))


def test_errors_name_the_argument() -> None:
    x = torch.rand(3)
    with pytest.raises(ValueError, match="loss_fn must return a scalar tensor, got \\(3,\\)"):
        fgsm(lambda x: x * 2, x, 0.1)
    with pytest.raises(ValueError, match="does not depend differentiably"):
        fgsm(lambda x: x.detach().sum(), x, 0.1)
    with pytest.raises(ValueError, match="eps must be a finite float >= 0"):
        fgsm(lambda x: x.sum(), x, -0.1)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        fgsm(lambda x: x.sum(), torch.arange(3), 0.1)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        pgd(lambda x: x.sum(), x, 0.1, 0.01, -1)
    with pytest.raises(ValueError, match="clamp must have low < high"):
        pgd(lambda x: x.sum(), x, 0.1, 0.01, 1, clamp=(1.0, 0.0))
    with pytest.raises(ValueError, match="attack must be 'fgsm' or 'pgd'"):
        robust_accuracy(lambda x: x, lambda x, y: x.sum(), (x, x), [0.1], attack="cw")  # type: ignore[arg-type]


def linear_classifier() -> tuple[Tensor, Tensor, Tensor]:
    g = gen(0)
    x = torch.rand(60, 5, dtype=torch.float64, generator=g)
    weight = torch.randn(3, 5, dtype=torch.float64, generator=g)
    return x, F.linear(x, weight).argmax(-1), weight


def test_robust_accuracy_batches_and_clean_accuracy() -> None:
    x, y, weight = linear_classifier()
    y = y.clone()
    y[:15] = (y[:15] + 1) % 3  # 15 of 60 wrong on clean inputs

    def predict(x: Tensor) -> Tensor:
        return F.linear(x, weight)

    def loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(predict(x), y)

    eps = [0.0, 0.05, 0.2]
    whole = robust_accuracy(predict, loss, (x, y), eps)
    assert whole[0] == pytest.approx(45 / 60)

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, 60, 16):
            yield x[i : i + 16], y[i : i + 16]

    class Loader:  # re-iterable, like a DataLoader
        def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
            return batches()

    # a mean loss gives per-example sign gradients independent of the batching
    assert robust_accuracy(predict, loss, Loader(), eps) == whole
    assert whole[2] <= whole[1] <= whole[0]
    labels_out = robust_accuracy(lambda x: predict(x).argmax(-1), loss, (x, y), [0.0])
    assert labels_out == whole[:1]
    pgd_acc = robust_accuracy(predict, loss, (x, y), eps, attack="pgd", steps=5)
    assert pgd_acc[0] == whole[0] and pgd_acc[2] <= whole[0]


def test_plot_robustness_returns_a_figure(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    fig = plot_robustness([0.0, 0.1], {"FGSM": [0.9, 0.4], "PGD": [0.9, 0.2]})
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert list(ax.lines[1].get_ydata()) == [90.0, 20.0]
    fig.savefig(tmp_path / "robustness.png")
    assert (tmp_path / "robustness.png").stat().st_size > 0
    with pytest.raises(ValueError, match="accuracy has 1 values but eps has 2"):
        plot_robustness([0.0, 0.1], [0.5])


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny ops on a shared 2-core box: one thread avoids the OpenMP barrier stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_fgsm_lowers_the_accuracy_of_a_trained_rate_coded_snn(one_thread: None) -> None:
    """Train a 64-64-10 rate-coded LIF net on sklearn digits (~1 s), then attack the test split:
    accuracy must fall clearly as eps grows."""
    datasets = pytest.importorskip("sklearn.datasets")
    x_np, y_np = datasets.load_digits(return_X_y=True)
    order = torch.randperm(len(y_np), generator=gen(0))
    x = (torch.tensor(x_np, dtype=torch.float32) / 16.0)[order]
    y = torch.tensor(y_np)[order]
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    num_steps = 8
    w1 = (torch.randn(64, 64, generator=gen(1)) * 0.18).requires_grad_()
    w2 = (torch.randn(10, 64, generator=gen(2)) * 0.18).requires_grad_()
    lif = LIFParams(beta=0.9, threshold=1.0)
    net = sequential(
        lambda s: F.linear(s, w1),
        neuron(lif_step, lif),
        lambda s: F.linear(s, w2),
        neuron(lif_step, lif),
    )
    noise = gen(3)

    def counts(x: Tensor) -> Tensor:
        spikes = snnfunc.rate(x, num_steps, generator=noise)
        out, _ = scan(net, (lif_init((len(x), 64)), lif_init((len(x), 10))), spikes)
        return out.sum(0)

    opt = torch.optim.Adam([w1, w2], lr=1e-2)
    for _ in range(250):
        idx = torch.randint(len(y_train), (128,), generator=noise)
        loss = F.cross_entropy(counts(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    w1.requires_grad_(False)
    w2.requires_grad_(False)

    def loss_fn(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(counts(x), y)

    acc = robust_accuracy(counts, loss_fn, (x_test, y_test), [0.0, 0.05, 0.1, 0.2])
    print("robust accuracy (eps 0, 0.05, 0.1, 0.2):", acc)
    assert acc[0] >= 0.8, acc
    assert acc[1] < acc[0] and acc[2] < acc[1] - 0.05 and acc[3] < acc[2], acc
    assert acc[3] < acc[0] - 0.4, acc


@pytest.mark.slow  # a subprocess: imports torch and sklearn again (~5-10 s on a busy 2-core box)
def test_attack_digits_example_runs(tmp_path) -> None:
    """examples/attack_digits.py on small settings: the table prints and accuracy falls."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = root / "examples" / "attack_digits.py"
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    (tmp_path / "tmp").mkdir()
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--steps",
            "150",
            "--hidden",
            "64",
            "--num-steps",
            "8",
            "--eps",
            "0,0.2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=tmp_path,  # no --out: nothing may land in the current directory
        env={**os.environ, "PYTHONPATH": path, "TMPDIR": str(tmp_path / "tmp")},
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| 0")]
    acc = {float(r[1]): [float(c.strip().rstrip("%")) for c in r[2:-1]] for r in rows}
    assert set(acc) == {0.0, 0.2}, out
    assert acc[0.0][0] > 80 and all(a < acc[0.0][0] - 30 for a in acc[0.2]), out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # the cwd stays clean
    assert (tmp_path / "tmp" / "attack_digits.png").stat().st_size > 0
    assert f"plot: {tmp_path / 'tmp' / 'attack_digits.png'}" in out
