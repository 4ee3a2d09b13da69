"""How close online gradients come to BPTT on the digits, where they approximate.

The network of ``snnfunc.app.online_train`` (hidden ``lif`` or ``rlif`` + leaky readout, a loss
at every step): e-prop and OTTT are approximations there (two layers; recurrent weights for
``rlif``). Two measurements, both printed as markdown:

1. cosine similarity of each online gradient with BPTT's, per weight and over every parameter,
   on one batch of training images, at the initial weights;
2. test accuracy after training with each method (same seeds, same epochs), and the time.

    python benchmarks/online_vs_bptt.py                         # the numbers in docs/online.md
    python benchmarks/online_vs_bptt.py --write docs/_numbers/online.md
    python benchmarks/online_vs_bptt.py --quick                 # smoke test, seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils._pytree import tree_flatten

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from snnfunc.app.data import load_digits  # noqa: E402
from snnfunc.app.online_train import (  # noqa: E402
    HIDDEN,
    LEARNING,
    OnlineConfig,
    _inputs,
    build,
    fit,
    gradients,
    step_losses,
)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a.flatten() @ b.flatten() / (a.norm() * b.norm()))


def cosines(config: OnlineConfig, images: torch.Tensor, labels: torch.Tensor) -> list[str]:
    step, params, init = build(config)
    xs = _inputs(images, config.num_steps)
    loss = step_losses(labels, config.num_steps)
    # the true gradient: BPTT through the network with its plain readout (same weights)
    exact = replace(config, learning="bptt", feedback="symmetric")
    reference, _, _ = build(exact)
    want = gradients(exact, reference, init(len(labels)), xs, params, loss)
    got = gradients(config, step, init(len(labels)), xs, params, loss)
    flat_got = torch.cat([g.flatten() for g in tree_flatten(got)[0] if g is not None])
    flat_want = torch.cat([g.flatten() for g in tree_flatten(want)[0] if g is not None])
    row = [_cos(got[0][0], want[0][0]), _cos(got[1][0], want[1][0])]
    if config.neuron == "rlif":
        row.append(_cos(got[0][1].weight, want[0][1].weight))
    else:
        row.append(float("nan"))
    row.append(_cos(flat_got, flat_want))
    return ["-" if v != v else f"{v:.3f}" for v in row]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", default=None, help="also write the tables to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_digits("train"), load_digits("test")
    sizes: dict[str, object] = {"epochs": args.epochs}
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        sizes = {"epochs": 1, "max_batches": 2, "hidden": 8, "num_steps": 4}
        seeds = [0]
    lines = [
        "Cosine similarity with BPTT's gradient (one batch of 64 training images, initial "
        "weights):",
        "",
        "| hidden | method | feedback | W_in | W_out | W_rec | all params |",
        "|---|---|---|---|---|---|---|",
    ]
    batch = slice(0, 64)
    for neuron in HIDDEN:
        for learning in LEARNING[1:]:
            for feedback in ("symmetric", "random"):
                config = OnlineConfig(learning=learning, neuron=neuron, feedback=feedback, **sizes)  # type: ignore[arg-type]
                row = cosines(config, train.images[batch], train.labels[batch])
                lines.append(f"| {neuron} | {learning} | {feedback} | " + " | ".join(row) + " |")
                print(lines[-1], file=sys.stderr)
    lines += [
        "",
        f"Test accuracy after {sizes['epochs']} epochs (mean over seeds {seeds}; "
        "min-max), and training time:",
        "",
        "| hidden | learning | test accuracy | min-max | seconds per epoch |",
        "|---|---|---|---|---|",
    ]
    for neuron in HIDDEN:
        for learning in LEARNING:
            runs = [
                fit(
                    OnlineConfig(learning=learning, neuron=neuron, seed=seed, **sizes),  # type: ignore[arg-type]
                    train,
                    test,
                )
                for seed in seeds
            ]
            acc = [r["accuracy"][-1] for r in runs]
            secs = statistics.mean(r["seconds"] for r in runs) / int(sizes["epochs"])  # type: ignore[call-overload]
            lines.append(
                f"| {neuron} | {learning} | {100 * statistics.mean(acc):.1f}% | "
                f"{100 * min(acc):.1f}-{100 * max(acc):.1f}% | {secs:.1f} |"
            )
            print(lines[-1], file=sys.stderr)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)


if __name__ == "__main__":
    main()
