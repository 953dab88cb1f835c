"""The lock files: what `make lock` writes from pyproject.toml today, what this environment runs, and
what the Dockerfile installs (with hashes). No Docker engine is needed: the image's locked install is
dry-run with the same pip arguments."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"worker.txt": [], "dev.txt": ["--extra", "dev"], "bench.txt": ["--extra", "dev", "--extra", "bench"]}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {metadata_name(name): version for name, version in PIN.findall(text)}


def metadata_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_is_what_make_lock_writes_from_pyproject(lock: str, tmp_path: Path) -> None:
    """A dependency added to or bounded in pyproject.toml without `make lock` fails here."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv, "uv not installed (the dev extra)"
    out = tmp_path / lock
    out.write_text((ROOT / "requirements" / lock).read_text())  # kept pins are preferred, as `make lock` does
    result = subprocess.run([uv, "pip", "compile", "-q", "pyproject.toml", "requirements/build.in", *LOCKS[lock],
                             "--universal", "--python-version", "3.11", "--generate-hashes", "-o", str(out)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    body = lambda text: text.split("\n", 2)[2]  # noqa: E731 (the header names the output path)
    assert body(out.read_text()) == body((ROOT / "requirements" / lock).read_text()), "run `make lock`"


def test_this_environment_runs_the_dev_lock() -> None:
    locked = pins((ROOT / "requirements" / "dev.txt").read_text())
    installed = {metadata_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in locked.items()
             if name in installed and installed[name] != version}
    missing = [name for name in ("faust-streaming", "aiokafka", "mode-streaming", "pydantic") if name not in installed]
    assert wrong == {} and missing == []


def test_every_lock_pins_every_package_with_hashes() -> None:
    for lock in LOCKS:
        text = (ROOT / "requirements" / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert len(entries) > 20
        assert all("==" in e and "--hash=sha256:" in e for e in entries), lock


def test_the_image_installs_the_worker_lock_with_hashes_and_nothing_unlocked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    runs = [r for r in re.findall(r"^RUN (.+?)(?<!\\)$", dockerfile, re.MULTILINE | re.DOTALL) if "pip install" in r]
    assert len(runs) == 2
    deps, project = runs
    assert "--require-hashes" in deps and "-r requirements/worker.txt" in deps
    assert "--no-deps" in project and "--no-build-isolation" in project  # resolves nothing, fetches nothing


def test_the_images_locked_install_resolves_to_the_lock(tmp_path: Path) -> None:
    """The image's dependency step, dry-run for this platform (a Docker engine is not needed)."""
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                             "--disable-pip-version-check", "--require-hashes", "-r", "requirements/worker.txt",
                             "--report", str(report)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    installs = json.loads(report.read_text())["install"]
    chosen = {metadata_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    locked = pins((ROOT / "requirements" / "worker.txt").read_text())
    assert chosen and all(locked[name] == version for name, version in chosen.items())
    assert {"faust-streaming", "aiokafka", "mode-streaming", "pydantic", "setuptools"} <= set(chosen)
