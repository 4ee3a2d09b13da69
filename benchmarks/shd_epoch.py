"""SHD recipe: wall time of one training epoch of the preset, on SHD-sized files of random events.

The real SHD files are not on this machine (nothing is downloaded). This writes files in SHD's
exact layout and size (8,156 train / 2,264 test samples, 700 channels, ``--events`` per sample;
the published set averages a few thousand) with random events and labels, then runs
``snnfunc train --dataset shd`` (the preset: a recurrent LIF layer of 128, 100 bins) for one
epoch and prints the time of the epoch and of loading. The accuracy on random events is chance
and is not reported: this measures time only.

    python benchmarks/shd_epoch.py                # 2 threads, one epoch
    python benchmarks/shd_epoch.py --quick        # 200 samples (a smoke run)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from events_and_delays import write_shd  # noqa: E402

from snnfunc.app.data import load_dataset  # noqa: E402
from snnfunc.app.train import preset, run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--events", type=int, default=5000, help="events per sample")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n_train, n_test = (200, 50) if args.quick else (8156, 2264)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_shd(data / "shd_train.h5", n_train, args.events, seed=0)
        write_shd(data / "shd_test.h5", n_test, args.events, seed=1)
        start = time.perf_counter()
        load_dataset("shd", "train", data)
        load_seconds = time.perf_counter() - start
        config = preset("shd", data_dir=str(data), epochs=1, out=str(data / "run"))
        config = config.replace(progress=False, plots=False)
        result = run(config)
    print(f"SHD-sized files ({n_train} train samples, {args.events} events each), preset, 1 epoch,")
    print(f"{args.threads} threads, torch {torch.__version__}:\n")
    print("| loading + binning the train split | one training epoch |")
    print("|---|---|")
    print(f"| {load_seconds:.1f} s | {result['train_seconds']:.1f} s |")


if __name__ == "__main__":
    main()
