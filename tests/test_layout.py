"""The layout: ``import snnfunc`` loads the core only; the application lives in ``snnfunc.app``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import snnfunc

ROOT = Path(__file__).resolve().parents[1]
APP_MODULES = sorted(f"snnfunc.app.{path.stem}" for path in (ROOT / "snnfunc" / "app").glob("*.py"))
EDGES = ("tqdm", "matplotlib", "safetensors", "sklearn", "nir")


def _loaded_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("statement", ["import snnfunc", "import snnfunc.attacks"])
def test_the_core_loads_no_application_module_and_no_edge_dependency(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert "snnfunc" in loaded and "snnfunc.app.models" in APP_MODULES
    assert not {m for m in loaded if m == "snnfunc.app" or m.startswith("snnfunc.app.")}
    # torch itself imports tqdm (torch.hub) where it is installed: only what snnfunc adds counts
    by_torch = _loaded_after("import torch")
    assert not {m for m in loaded - by_torch if m.split(".")[0] in EDGES}
    assert not {m for m in loaded if m.split(".")[0] in EDGES and m.split(".")[0] != "tqdm"}


def test_moved_names_are_reachable_lazily_with_a_warning() -> None:
    from snnfunc.app.checkpoint import load_checkpoint
    from snnfunc.app.train import TrainConfig

    with pytest.warns(DeprecationWarning, match=r"snnfunc.TrainConfig moved to snnfunc.app.train"):
        assert snnfunc.TrainConfig is TrainConfig
    with pytest.warns(DeprecationWarning, match="snnfunc.app.checkpoint.load_checkpoint"):
        assert snnfunc.load_checkpoint is load_checkpoint
    with pytest.raises(AttributeError, match="no attribute 'train'"):
        snnfunc.train  # noqa: B018


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert "einops" not in " ".join(project["dependencies"])
    assert project["scripts"]["snnfunc"] == "snnfunc.app.cli:main"
    assert snnfunc.__version__.count(".") == 2


def test_the_license_file_is_the_mit_license_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 snnfunc developers\n")
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
