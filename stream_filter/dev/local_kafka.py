"""A real Apache Kafka broker on loopback, from jars resolved out of Maven Central.

Why: this project's tests and its `make run` need a real broker, and the machines it is
developed on have Java and Maven but no Docker daemon and no Kafka tarball. Maven resolves
`org.apache.kafka:kafka_2.13` (see `stream_filter/dev/kafka/pom.xml`) into its own cache, so the second
start needs no network. The broker runs in KRaft combined mode (broker + controller), one node,
replication factor 1. Readiness is a metadata answer from the broker, never a sleep.

Run as `python -m stream_filter.dev.local_kafka up|down|status`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from stream_filter.dev.broker_config import SecureListeners, server_properties

DEPLOY_DIR = Path(__file__).resolve().parent / "kafka"  # package data: works from a wheel too
DEFAULT_PORT = 39092
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # brokers this process started: kept so they are reaped
PORT_RELEASE_S = 90.0  # restart: how long the old ports may stay busy (see restart())
READY_TIMEOUT_S = 90.0  # a cold JVM on 2 cores takes 5-15 s; leave room for a loaded CI machine


class LauncherError(RuntimeError):
    """A clear, actionable reason why no local broker could be started."""


@dataclass(frozen=True)
class BrokerHandle:
    bootstrap: str
    pid: int
    state_dir: Path
    started_here: bool


def state_root() -> Path:
    base = os.environ.get("STREAM_FILTER_KAFKA_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "stream-filter", "kafka"
    )
    return Path(base)


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LauncherError(f"'{tool}' was not found on PATH: {hint}")
    return path


def resolve_classpath(root: Path) -> str:
    """Resolve the broker's jars with Maven once; later calls read the cached classpath."""
    cp_file = root / "classpath.txt"
    pom = DEPLOY_DIR / "pom.xml"
    if cp_file.exists() and cp_file.stat().st_mtime >= pom.stat().st_mtime:
        cp = cp_file.read_text().strip()
        if cp and all(Path(p).exists() for p in cp.split(os.pathsep)):
            return cp
    mvn = _require("mvn", "install Maven (Debian: apt-get install maven) to resolve the Kafka jars")
    root.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:build-classpath", f"-Dmdep.outputFile={cp_file}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not cp_file.exists():
        raise LauncherError(f"Maven could not resolve the Kafka jars:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return cp_file.read_text().strip()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports(preferred: int, count: int = 2) -> int:
    """The first of `count` consecutive free loopback ports at or after `preferred`."""
    for port in range(preferred, preferred + 400, count):
        if all(_port_free(port + i) for i in range(count)):
            return port
    raise LauncherError(f"no {count} free loopback ports near {preferred}")


def _pid_alive(pid: int) -> bool:
    if pid in _CHILDREN:  # our own child: poll() also reaps a zombie
        return _CHILDREN[pid].poll() is None
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


async def _metadata_ok(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient  # imported late: `down` needs no client

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:  # a closed port is "not yet": skip the client, which would log a connection error
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        await admin.close()


def broker_answers(bootstrap: str) -> bool:
    """True when a broker at `bootstrap` answers a metadata request."""
    return asyncio.run(_metadata_ok(bootstrap))


def wait_ready(bootstrap: str, timeout_s: float, pid: int | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid is not None and not _pid_alive(pid):
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise LauncherError(f"the Kafka process exited during start-up. Log tail:\n{tail}")
        if broker_answers(bootstrap):
            return
        time.sleep(0.5)
    raise LauncherError(f"no metadata answer from {bootstrap} within {timeout_s:.0f} s")


def running(root: Path | None = None) -> BrokerHandle | None:
    """The broker this launcher started earlier, if it is still alive and answering."""
    root = root or state_root()
    pid_file, boot_file = root / "broker.pid", root / "bootstrap"
    if not (pid_file.exists() and boot_file.exists()):
        return None
    pid, bootstrap = int(pid_file.read_text()), boot_file.read_text().strip()
    if _pid_alive(pid) and broker_answers(bootstrap):
        return BrokerHandle(bootstrap, pid, root, started_here=False)
    return None


def new_cluster_id() -> str:
    """A random KRaft cluster id that the storage tool's argument parser accepts.

    Base64 of a UUID starts with "-" one time in 64, and the tool then reads it as a flag (Kafka's own
    Uuid.randomUuid() rejects such ids for the same reason).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start(port: int = DEFAULT_PORT, root: Path | None = None, secure: SecureListeners | None = None) -> BrokerHandle:
    """Start a broker in the background, or reuse the one already running from `root`.

    With `secure`, the broker also listens with SASL_SSL on port+2 and SSL (client certificates) on port+3.
    """
    root = root or state_root()
    existing = running(root)
    if existing is not None:
        return existing
    java = _require("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    classpath = resolve_classpath(root)
    port = _pick_ports(port, 4 if secure else 2)
    run_dir = root / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True)
    props = run_dir / "server.properties"
    props.write_text(server_properties(data_dir, port, secure))
    jvm = _jvm(java, classpath, run_dir)
    cluster_id = new_cluster_id()
    fmt = subprocess.run([*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                          "--standalone", *(secure.format_args() if secure else [])],
                         capture_output=True, text=True, check=False)
    if fmt.returncode != 0:
        raise LauncherError(f"formatting KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
    return _launch(jvm, root, f"127.0.0.1:{port}")


def _jvm(java: str, classpath: str, run_dir: Path) -> list[str]:
    return [java, "-Xms256m", "-Xmx768m", f"-Dkafka.logs.dir={run_dir}",
            f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}", "-cp", classpath]


def restart(root: Path | None = None) -> BrokerHandle:
    """Stop the running broker and start it again on the same data and port (for failure tests)."""
    root = root or state_root()
    pid_file, boot_file = root / "broker.pid", root / "bootstrap"
    if not pid_file.exists():
        raise LauncherError("no broker started by this launcher is running")
    stop_pid(int(pid_file.read_text()))
    bootstrap = boot_file.read_text().strip()
    port = int(bootstrap.rsplit(":", 1)[1])
    # The old process may still hold its sockets; and these ports lie in the ephemeral range, so a
    # client retrying the stopped broker can connect a socket to itself on them (TCP self-connect),
    # holding the port until its request times out (40 s): wait past that.
    deadline = time.monotonic() + PORT_RELEASE_S
    while not (_port_free(port) and _port_free(port + 1)):
        if time.monotonic() > deadline:
            raise LauncherError(f"ports {port}/{port + 1} still busy after the broker stopped")
        time.sleep(0.2)
    java = _require("java", "install a Java 17+ runtime")
    return _launch(_jvm(java, resolve_classpath(root), root / "run"), root, bootstrap)


def _launch(jvm: list[str], root: Path, bootstrap: str) -> BrokerHandle:
    run_dir = root / "run"
    console = run_dir / "console.log"
    with console.open("ab") as out:
        proc = subprocess.Popen([*jvm, "kafka.Kafka", str(run_dir / "server.properties")], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    try:
        wait_ready(bootstrap, READY_TIMEOUT_S, proc.pid, console)
    except LauncherError:
        stop_pid(proc.pid)
        raise
    (root / "broker.pid").write_text(str(proc.pid))
    (root / "bootstrap").write_text(bootstrap)
    return BrokerHandle(bootstrap, proc.pid, root, started_here=True)


def stop_pid(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM the broker (a clean controlled shutdown), SIGKILL if it does not go."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:  # started by this process: terminate and reap it
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    if not _pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.2)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)


def stop(root: Path | None = None) -> bool:
    root = root or state_root()
    pid_file = root / "broker.pid"
    if not pid_file.exists():
        return False
    stop_pid(int(pid_file.read_text()))
    for name in ("broker.pid", "bootstrap"):
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / "run", ignore_errors=True)
    return True


def main(argv: list[str] | None = None) -> int:
    from stream_filter.dev.launcher_cli import launcher_main

    return launcher_main(argv, prog="python -m stream_filter.dev.local_kafka", description=__doc__.splitlines()[0],
                         default_port=DEFAULT_PORT, what="broker", variable="KAFKA_BOOTSTRAP_SERVERS",
                         start=start, stop=stop, running=running, address=lambda handle: handle.bootstrap)


if __name__ == "__main__":
    sys.exit(main())
