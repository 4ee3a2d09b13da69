#!/usr/bin/env bash
# Install the benchmark peers without touching torch: the peers (and nirtorch) `--no-deps`, pinned;
# then what they import that does not depend on torch (requirements-deps.txt), with its deps.
# Norse 1.1.0 ships as an sdist (pure Python; builds without a compiler).
# Then import exactly the modules the scripts use; exits 1 if a peer would be skipped.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --no-deps -r requirements.txt
python3 -m pip install -r requirements-deps.txt
python3 - <<'PY'
import sys

from _common import PEER_MODULES, peer

missing = [name for name, modules in PEER_MODULES.items() if peer(*modules) is None]
for name, modules in PEER_MODULES.items():
    print(f"{'SKIP' if name in missing else 'ok  '} {name}: {', '.join(modules)}")
sys.exit(1 if missing else 0)
PY
