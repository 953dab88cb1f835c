"""`up|down|status` for the local launchers (the broker, the schema registry): one command shape.

`up` prints the variable that points a client at what it started (or found running), `status` the
same or "not running" (exit 1), `down` stops it; a launcher error is one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from stream_filter.dev.local_kafka import LauncherError


def launcher_main(argv: list[str] | None, *, prog: str, description: str, default_port: int, what: str,
                  variable: str, start: Callable[[int], Any], stop: Callable[[], bool],
                  running: Callable[[], Any], address: Callable[[Any], str]) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            handle = start(args.port)
            print(("started" if handle.started_here else "reusing") + f" {what} pid {handle.pid}", file=sys.stderr)
            print(f"{variable}={address(handle)}")
        elif args.action == "down":
            print("stopped" if stop() else f"no {what} was running")
        else:
            found = running()
            print(f"{variable}={address(found)}" if found else "not running")
            return 0 if found else 1
    except LauncherError as exc:
        print(f"local {what}: {exc}", file=sys.stderr)
        return 2
    return 0
