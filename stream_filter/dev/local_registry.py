"""A real schema registry on loopback: Apicurio Registry 3.0.9's prebuilt app, from Maven Central.

Why Apicurio: it serves the Confluent-compatible API (`/apis/ccompat/v7`) that confluent-kafka's
serializers and the worker speak, runs on Java 17, and is published on Maven Central as an unpacked-
and-run archive (`stream_filter/dev/registry/pom.xml`), so it starts like the local broker: Maven
resolves it once into the state dir, `java` runs it, readiness is its `/health/ready`, never a sleep.

Storage is H2 in a file of the state dir, so a registry stopped and started again (the outage tests)
keeps its schema ids; `apicurio.ccompat.use-canonical-hash=true` gives an identical schema its old id
instead of a new one. Run as `python -m stream_filter.dev.local_registry up|down|status`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stream_filter.dev.local_kafka import _CHILDREN, LauncherError, _pid_alive, _port_free, _require, stop_pid

POM = Path(__file__).resolve().parent / "registry" / "pom.xml"
VERSION = "3.0.9"
DEFAULT_PORT = 38081
READY_TIMEOUT_S = 90.0  # 5 s warm on 2 cores, 10 s cold


@dataclass(frozen=True)
class RegistryHandle:
    url: str  # the Confluent-compatible base URL, as STREAM_FILTER_SCHEMA_REGISTRY_URL takes it
    pid: int
    port: int
    data_dir: Path
    started_here: bool


def state_root() -> Path:
    base = os.environ.get("STREAM_FILTER_REGISTRY_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "stream-filter", "registry")
    return Path(base)


def install(root: Path) -> Path:
    """The unpacked app (Maven resolves and unpacks it once)."""
    app = root / f"apicurio-registry-{VERSION}"
    runner = app / f"apicurio-registry-app-{VERSION}-runner.jar"
    if runner.exists():
        return runner
    mvn = _require("mvn", "install Maven (Debian: apt-get install maven) to resolve the schema registry")
    build = root / "build"
    build.mkdir(parents=True, exist_ok=True)
    shutil.copy(POM, build / "pom.xml")
    proc = subprocess.run([mvn, "-q", "-B", "-f", str(build / "pom.xml"), "package", f"-Dregistry.home={root}",
                           f"-Dapicurio.version={VERSION}"], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not runner.exists():
        raise LauncherError(f"Maven could not unpack the schema registry:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return runner


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def running(root: Path | None = None) -> RegistryHandle | None:
    root = root or state_root()
    pid_file, port_file = root / "registry.pid", root / "port"
    if not (pid_file.exists() and port_file.exists()):
        return None
    pid, port = int(pid_file.read_text()), int(port_file.read_text())
    if _pid_alive(pid) and answers(port):
        return RegistryHandle(_url(port), pid, port, root / "data", started_here=False)
    return None


def start(port: int = DEFAULT_PORT, root: Path | None = None, data_dir: Path | None = None) -> RegistryHandle:
    """Start the registry in the background (or reuse the one running from `root`). `data_dir`: where
    its H2 database lives (default: the state dir's `data`); the same dir again keeps the ids."""
    root = root or state_root()
    existing = running(root) if data_dir is None else None  # a data dir of its own: a registry of its own
    if existing is not None:
        return existing
    java = _require("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    runner = install(root)
    while not _port_free(port):
        port += 1
    data_dir = data_dir or root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "registry.log"
    cmd = [java, "-Xmx384m", f"-Dquarkus.http.port={port}", "-Dquarkus.http.host=127.0.0.1",
           "-Dapicurio.ccompat.use-canonical-hash=true", f"-Dapicurio.datasource.url=jdbc:h2:file:{data_dir}/registry",
           "-Dapicurio.datasource.username=sa", "-Dapicurio.datasource.password=sa", "-jar", str(runner)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=runner.parent, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc.pid)
            tail = log.read_text(errors="replace")[-3000:]
            raise LauncherError(f"the schema registry did not become ready on port {port}. Log tail:\n{tail}")
        time.sleep(0.25)
    if data_dir == root / "data":
        (root / "registry.pid").write_text(str(proc.pid))
        (root / "port").write_text(str(port))
    return RegistryHandle(_url(port), proc.pid, port, data_dir, started_here=True)


def stop(root: Path | None = None) -> bool:
    root = root or state_root()
    pid_file = root / "registry.pid"
    if not pid_file.exists():
        return False
    stop_pid(int(pid_file.read_text()))
    for name in ("registry.pid", "port"):
        (root / name).unlink(missing_ok=True)
    return True


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/apis/ccompat/v7"


def main(argv: list[str] | None = None) -> int:
    from stream_filter.dev.launcher_cli import launcher_main

    return launcher_main(argv, prog="python -m stream_filter.dev.local_registry", description=__doc__.splitlines()[0],
                         default_port=DEFAULT_PORT, what="schema registry",
                         variable="STREAM_FILTER_SCHEMA_REGISTRY_URL", start=start, stop=stop, running=running,
                         address=lambda handle: handle.url)


if __name__ == "__main__":
    sys.exit(main())
