#!/usr/bin/env bash
# Install the benchmark peers without touching torch: `--no-deps`, pinned versions.
# Norse 1.1.0 ships as an sdist (pure Python; builds without a compiler).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --no-deps -r requirements.txt
python3 - <<'PY'
import importlib
for name in ("snntorch", "norse.torch", "spikingjelly.activation_based.neuron"):
    try:
        importlib.import_module(name)
        print(f"ok   {name}")
    except Exception as err:  # a peer that fails to import is skipped by the scripts
        print(f"SKIP {name}: {type(err).__name__}: {err}")
PY
