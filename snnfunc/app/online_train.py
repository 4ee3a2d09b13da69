r"""Training online: a recurrent spiking network on the digits with e-prop, OTTT or BPTT.

The network is one hidden layer (``lif``, or ``rlif`` with recurrent weights) and a leaky
readout (a LIF membrane without reset), the setting of Bellec et al. (2020)::

    z_t, h_t = hidden(h_{t-1}, W_in x_t)          # x_t: the image's 64 pixels, every step
    y_t      = beta_out y_{t-1} + W_out z_t        # readout membrane [B, 10]
    loss     = sum_t cross_entropy(y_t, label) / T  # a loss at every step

``learning`` picks how the gradient is taken: ``"bptt"`` (autograd through
:func:`snnfunc.scan`), or a method of :data:`snnfunc.online.METHODS` through
:func:`snnfunc.online.grad` (one forward pass, memory constant in ``T``). The prediction is the
readout membrane's time average. ``feedback="random"`` sends the hidden layer's learning signal
through a fixed random matrix instead of ``W_out^T`` (:func:`snnfunc.online.feedback_linear`).

From the command line: ``snnfunc online --learning eprop --neuron rlif``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten

from snnfunc import online
from snnfunc._checks import check_choice, check_int_at_least, check_positive
from snnfunc.neurons import MODELS, LIFParams, RLIFParams
from snnfunc.scan import scan

__all__ = [
    "OnlineConfig",
    "LEARNING",
    "HIDDEN",
    "build",
    "step_losses",
    "gradients",
    "evaluate",
    "fit",
    "run",
]

LEARNING: tuple[str, ...] = ("bptt", *online.METHODS)
"""How a gradient can be taken: BPTT or any online method."""
HIDDEN: tuple[str, ...] = ("lif", "rlif")
"""The hidden neuron models."""
BETA_HIDDEN, BETA_OUT = 0.9, 0.8  # initial decays; OTTT's leaks


@dataclass(frozen=True)
class OnlineConfig:
    """One online-training run.

    Attributes:
        learning: ``"bptt"`` or a key of :data:`snnfunc.online.METHODS`.
        neuron: the hidden model, ``"lif"`` or ``"rlif"`` (recurrent weights).
        hidden: hidden neurons.
        num_steps: time steps ``T`` per image.
        epochs, batch_size, lr: Adam on the summed per-step loss.
        feedback: ``"symmetric"`` (``W_out^T``) or ``"random"`` (fixed random matrix).
        seed: seeds the weights and the batch order.
        max_batches: stop each epoch after this many batches (``None``: all).
    """

    learning: str = "eprop"
    neuron: str = "lif"
    hidden: int = 64
    num_steps: int = 10
    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-3
    feedback: str = "symmetric"
    seed: int = 0
    max_batches: int | None = None

    def __post_init__(self) -> None:
        check_choice("learning", self.learning, LEARNING)
        check_choice("neuron", self.neuron, HIDDEN)
        check_choice("feedback", self.feedback, ("symmetric", "random"))
        for name in ("hidden", "num_steps", "epochs", "batch_size"):
            check_int_at_least(name, getattr(self, name), 1)
        if self.max_batches is not None:
            check_int_at_least("max_batches", self.max_batches, 1)
        check_positive("lr", self.lr, finite=True)


Step = Callable[[Any, Tensor, Any], tuple[Tensor, Any]]


def build(
    config: OnlineConfig, inputs: int = 64, classes: int = 10
) -> tuple[Step, Any, Callable[[int], Any]]:
    """``(step, params, init)``: the network's step, its initial params and ``init(batch)``.

    ``params`` is ``((W_in [H, inputs], hidden params), (W_out [classes, H], readout params))``
    and the state ``(hidden state, readout state)``: one entry per layer
    (``online.grad(..., layers=True)``).
    """
    gen = torch.Generator().manual_seed(config.seed)
    h = config.hidden
    w_in = torch.randn(h, inputs, generator=gen) * (2.0 / math.sqrt(inputs))
    beta = torch.full((h,), BETA_HIDDEN)
    hidden_params: Any
    if config.neuron == "rlif":
        w_rec = torch.randn(h, h, generator=gen) * (0.5 / math.sqrt(h))
        hidden_params = RLIFParams(beta, 1.0, w_rec.fill_diagonal_(0.0))
    else:
        hidden_params = LIFParams(beta, 1.0)
    w_out = torch.randn(classes, h, generator=gen) / math.sqrt(h)
    readout = LIFParams(torch.full((classes,), BETA_OUT), 1.0)
    fb = torch.randn(classes, h, generator=gen) / math.sqrt(h)
    model = MODELS[config.neuron]
    random = config.feedback == "random"

    def step(states: Any, x: Tensor, params: Any) -> tuple[Tensor, Any]:
        (w1, p1), (w2, p2) = params
        z, s1 = model.step(states[0], F.linear(x, w1), p1)
        current = online.feedback_linear(z, w2, fb) if random else F.linear(z, w2)
        _, s2 = MODELS["lif"].step(states[1], current, p2, reset="none")
        return s2.v, (s1, s2)

    def init(batch: int) -> Any:
        return (model.init((batch, h)), MODELS["lif"].init((batch, classes)))

    return step, ((w_in, hidden_params), (w_out, readout)), init


def step_losses(labels: Tensor, num_steps: int) -> Callable[[Tensor, int], Tensor]:
    """The per-step loss ``loss_fn(y_t, t) = cross_entropy(y_t, labels) / T``."""
    return lambda y, t: F.cross_entropy(y, labels) / num_steps


def _inputs(images: Tensor, num_steps: int) -> Tensor:
    flat = images.reshape(images.shape[0], -1)
    return flat.unsqueeze(0).expand(num_steps, *flat.shape)  # [T, B, 64]: static input


def gradients(
    config: OnlineConfig, step: Step, state: Any, xs: Tensor, params: Any, loss_fn: Any
) -> Any:
    """The gradient of the summed per-step loss by ``config.learning`` (structure of params)."""
    if config.learning != "bptt":
        table: dict[str, dict[str, Any]] = {
            "eprop": {"recurrent": config.neuron == "rlif"},
            "ottt": {"leak": (BETA_HIDDEN, BETA_OUT)},
        }
        options = table.get(config.learning, {})
        grads, _ = online.grad(
            step, state, xs, params, loss_fn, method=config.learning, layers=True, **options
        )
        return grads
    leaves, spec = tree_flatten(params)
    live = [p.detach().requires_grad_() if isinstance(p, Tensor) else p for p in leaves]
    ys, _ = scan(lambda s, x: step(s, x, tree_unflatten(live, spec)), state, xs)
    loss = sum(loss_fn(ys[t], t) for t in range(xs.shape[0]))
    tensors = [p for p in live if isinstance(p, Tensor)]
    found = iter(torch.autograd.grad(loss, tensors, allow_unused=True, materialize_grads=True))
    return tree_unflatten([next(found) if isinstance(p, Tensor) else None for p in live], spec)


@torch.no_grad()
def evaluate(config: OnlineConfig, step: Step, params: Any, init: Any, data: Any) -> float:
    """Accuracy of the time-averaged readout membrane on ``data`` (images, labels)."""
    images, labels = data
    ys, _ = scan(
        lambda s, x: step(s, x, params), init(len(labels)), _inputs(images, config.num_steps)
    )
    return float((ys.mean(0).argmax(-1) == labels).float().mean())


def fit(config: OnlineConfig, train: Any, test: Any) -> dict[str, Any]:
    """Train on ``train`` (images ``[N, 1, 8, 8]``, labels ``[N]``); accuracy on ``test`` per
    epoch. Returns ``{"config", "accuracy": [...], "loss": [...], "seconds"}``."""
    step, params, init = build(config, inputs=train[0][0].numel())
    leaves, spec = tree_flatten(params)
    learned = [p for p in leaves if isinstance(p, Tensor)]
    optimizer = torch.optim.Adam(learned, lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    images, labels = train
    history: dict[str, Any] = {"config": asdict(config), "accuracy": [], "loss": []}
    start = time.perf_counter()
    for _ in range(config.epochs):
        order = torch.randperm(len(labels), generator=gen)
        batches = torch.split(order, config.batch_size)[: config.max_batches]
        total = 0.0
        for index in batches:
            xs = _inputs(images[index], config.num_steps)
            loss_fn = step_losses(labels[index], config.num_steps)
            grads = gradients(config, step, init(len(index)), xs, params, loss_fn)
            for p, g in zip(
                learned, [g for g in tree_flatten(grads)[0] if g is not None], strict=True
            ):
                p.grad = g
            optimizer.step()
            with torch.no_grad():
                ys, _ = scan(lambda s, x: step(s, x, params), init(len(index)), xs)
                total += float(sum(loss_fn(ys[t], t) for t in range(config.num_steps)))
        history["loss"].append(total / len(batches))
        history["accuracy"].append(evaluate(config, step, params, init, test))
    history["seconds"] = time.perf_counter() - start
    return history


def run(config: OnlineConfig) -> dict[str, Any]:
    """Train on the digits' train split, evaluate on its test split (:func:`fit`)."""
    from snnfunc.app.data import load_digits

    train, test = load_digits("train"), load_digits("test")
    return fit(config, (train.images, train.labels), (test.images, test.labels))


def add_parser(subparsers: Any) -> None:
    """The ``snnfunc online`` subcommand (registered in :data:`snnfunc.app.cli.SUBCOMMANDS`)."""
    import argparse

    defaults = OnlineConfig()
    p = subparsers.add_parser(
        "online",
        help="train on the digits with online gradients (e-prop, OTTT) or BPTT",
        description=(
            "Train a hidden layer (lif or rlif) + leaky readout on the bundled 8x8 digits with a "
            "loss at every step; the gradient by e-prop or OTTT (snnfunc.online.grad: one "
            "forward pass, memory constant in T) or by BPTT. Prints the test accuracy."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--learning", choices=LEARNING, default=defaults.learning)
    p.add_argument("--neuron", choices=HIDDEN, default=defaults.neuron, help="hidden model")
    p.add_argument("--feedback", choices=("symmetric", "random"), default=defaults.feedback)
    for name in ("hidden", "num_steps", "epochs", "batch_size", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    p.add_argument("--max-batches", type=int, default=None, help="per epoch (default: all)")
    p.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_run_cli)


def _run_cli(args: Any) -> int:
    import json

    names = OnlineConfig.__dataclass_fields__
    config = OnlineConfig(**{k: v for k, v in vars(args).items() if k in names})
    result = run(config)
    if args.json:
        print(json.dumps(result))
        return 0
    for epoch, (loss, acc) in enumerate(zip(result["loss"], result["accuracy"], strict=True)):
        print(f"epoch {epoch + 1}: train loss {loss:.4f}, test accuracy {acc:.4f}")
    print(
        f"test accuracy {result['accuracy'][-1]:.4f} ({config.learning}, {config.neuron} hidden "
        f"{config.hidden}, {config.epochs} epochs, {result['seconds']:.1f} s)"
    )
    return 0
