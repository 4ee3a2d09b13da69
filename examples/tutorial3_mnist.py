"""snnTorch tutorial 3 (784-1000-10 Synaptic SNN on static MNIST) in snnfunc's functional style.

The network is one pure step built with ``sequential``; ``scan`` unrolls it over ``T`` steps.
The image is static, so the first layer's current ``W1 x + b1`` is computed once per batch and
fed to every step (``num_steps=T``) instead of being recomputed ``T`` times.

    python examples/tutorial3_mnist.py --data-dir ../shared/data/mnist          # full: 3 epochs
    python examples/tutorial3_mnist.py --max-batches 3                          # smoke run

The same run from the command line: ``snnfunc train --dataset mnist``.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc import SynapticParams, neuron, scan, sequential, synaptic_init, synaptic_step
from snnfunc.app.data import batches, default_mnist_dir, load_mnist
from snnfunc.loss import membrane_ce
from snnfunc.metrics import accuracy_count

NUM_INPUTS, NUM_HIDDEN, NUM_OUTPUTS = 28 * 28, 1000, 10
SYNAPSE = SynapticParams(alpha=0.7, beta=0.8, threshold=1.0)
OPTIONS = dict(reset="subtract", reset_delay=True)  # snnTorch's Synaptic defaults


def init_params(generator: torch.Generator) -> dict[str, Tensor]:
    """``nn.Linear``'s default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def uniform(shape: tuple[int, ...], fan_in: int) -> Tensor:
        return ((torch.rand(shape, generator=generator) * 2 - 1) / fan_in**0.5).requires_grad_()

    return {
        "w1": uniform((NUM_HIDDEN, NUM_INPUTS), NUM_INPUTS),
        "b1": uniform((NUM_HIDDEN,), NUM_INPUTS),
        "w2": uniform((NUM_OUTPUTS, NUM_HIDDEN), NUM_HIDDEN),
        "b2": uniform((NUM_OUTPUTS,), NUM_HIDDEN),
    }


def run(params: dict[str, Tensor], images: Tensor, num_steps: int) -> tuple[Tensor, Tensor]:
    """Images ``[B, 1, 28, 28]`` -> output spikes and membrane, each ``[T, B, 10]``."""
    current = F.linear(images.flatten(1), params["w1"], params["b1"])  # [B, 1000], once
    step = sequential(  # (states, current) -> ((spikes, states), states)
        neuron(synaptic_step, SYNAPSE, **OPTIONS),
        partial(F.linear, weight=params["w2"], bias=params["b2"]),
        neuron(synaptic_step, SYNAPSE, **OPTIONS),
        record_states=True,
    )
    batch = images.shape[0]
    states = (synaptic_init((batch, NUM_HIDDEN)), synaptic_init((batch, NUM_OUTPUTS)))
    (spikes, trace), _ = scan(step, states, current, num_steps=num_steps)
    return spikes, trace[1].v  # output spikes, output membrane


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MNIST IDX directory")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-steps", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-batches", type=int, default=None, help="cap per epoch and for test")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_mnist_dir()
    if data_dir is None:
        parser.error("pass --data-dir (a directory with the MNIST IDX files)")
    train_set, test_set = load_mnist(data_dir, "train"), load_mnist(data_dir, "test")

    generator = torch.Generator().manual_seed(0)
    params = init_params(generator)
    optimizer = torch.optim.Adam(params.values(), lr=args.lr, betas=(0.9, 0.999))
    tic = time.perf_counter()
    for epoch in range(args.epochs):
        shuffled = batches(train_set, args.batch_size, shuffle=True, generator=generator)
        for k, (images, labels) in enumerate(shuffled):
            if args.max_batches is not None and k >= args.max_batches:
                break
            spikes, membrane = run(params, images, args.num_steps)
            loss = membrane_ce(membrane, labels)  # summed over the T steps, as the tutorial
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if k % 50 == 0:
                acc = accuracy_count(spikes, labels).item()
                print(f"epoch {epoch + 1} batch {k}: loss {loss.item():.3f}, batch acc {acc:.3f}")
    seconds = time.perf_counter() - tic

    correct = total = 0
    with torch.no_grad():
        for k, (images, labels) in enumerate(batches(test_set, 1000)):
            if args.max_batches is not None and k >= args.max_batches:
                break
            spikes, _ = run(params, images, args.num_steps)
            correct += int(accuracy_count(spikes, labels).item() * labels.shape[0] + 0.5)
            total += labels.shape[0]
    accuracy = correct / total
    print(f"test accuracy {accuracy:.4f} on {total} images; training took {seconds:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
