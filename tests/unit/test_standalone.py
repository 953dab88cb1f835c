"""A clone with nothing beside it: no file the project runs, tests or documents reads outside the
repository, and the shipped model is rebuilt from the repository's own labelled sets byte for byte."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from stream_filter.core.classify.model import Model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "stream_filter" / "core" / "classify" / "data" / "cluster_model.json"
# built from parts, so this file does not match itself
OUTSIDE = ("../" + "shared", "/" + "shared/data")


def tracked() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout
    return [ROOT / name for name in names.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository() -> None:
    files = tracked()
    assert len(files) > 100 and Path(__file__) in files, "git ls-files did not list the repository"
    offenders = [f"{path.relative_to(ROOT)}: {needle}" for path in files if path.is_file()
                 for needle in OUTSIDE if needle in path.read_text(encoding="utf-8", errors="ignore")]
    assert offenders == []


def test_the_shipped_model_was_trained_on_the_repository_files_as_they_are() -> None:
    model = Model.from_json(SHIPPED.read_bytes())
    assert len(model.trained_on) >= 3
    for path, digest in model.trained_on:
        data = (ROOT / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{path} changed since the model was trained: `make train`"


def test_train_rebuilds_the_shipped_model_byte_for_byte(tmp_path: Path) -> None:
    model = Model.from_json(SHIPPED.read_bytes())
    out = tmp_path / "model.json"
    subprocess.run([sys.executable, "-m", "stream_filter", "train", *(path for path, _ in model.trained_on),
                    "-o", str(out), "--version", model.version], cwd=ROOT, check=True, capture_output=True)
    assert out.read_bytes() == SHIPPED.read_bytes()
