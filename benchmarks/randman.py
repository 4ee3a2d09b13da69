"""Randman: the preset's test accuracy and wall time, and the shuffled-time control.

Runs ``snnfunc train --dataset randman`` (the preset: a recurrent LIF net, 128 hidden) twice
through the library, once on the task and once with every sample's time bins shuffled
(``--shuffle-time``), and prints a table: test accuracy by output spike count (and by
membrane), training seconds (``metrics.json["train_seconds"]``) and the whole run's wall time
(data generation, training, evaluation). Chance is 10%.

    python benchmarks/randman.py                  # both runs, 2 threads
    python benchmarks/randman.py --epochs 2       # shorter

The same from the command line::

    snnfunc train --dataset randman --out runs/randman
    snnfunc train --dataset randman --shuffle-time --out runs/randman-shuffled
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout: benchmark this tree's snnfunc
    sys.path.insert(0, str(ROOT))

from snnfunc.app.train import preset, run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--neuron", default=None, help="default: the preset's (rlif)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("neuron", args.neuron)) if v}
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}")
    print("| task | net | epochs | test acc. (spike count) | (membrane) | train | wall |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for label, shuffle in (("randman", False), ("randman, time shuffled", True)):
            config = preset(
                "randman",
                out=f"{tmp}/{int(shuffle)}",
                shuffle_time=shuffle,
                progress=False,
                plots=False,
                **overrides,
            )
            tic = time.perf_counter()
            metrics = run(config)
            wall = time.perf_counter() - tic
            print(
                f"| {label} | {config.model.neuron} {config.model.hidden} | "
                f"{config.epochs} | {100 * metrics['test_accuracy']:.1f}% | "
                f"{100 * metrics['test_accuracy_membrane']:.1f}% | "
                f"{metrics['train_seconds']:.0f} s | {wall:.0f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()
