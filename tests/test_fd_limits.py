"""The file-descriptor limit: a plan that needs more sockets than the process may still
open is refused up front, naming the cause (connections or idle connections), counting
what the process holds open already."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

CHILD = """
import os, sys
import cannonade
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(sys.argv[1]))]
try:
    plan = cannonade.Plan("127.0.0.1:9", cannonade.Tcp(),
                          connections=int(sys.argv[2]), idle_connections=int(sys.argv[3]),
                          requests=1)
    cannonade.run(plan)
except cannonade.CannonadeError as error:
    print(error)
    sys.exit(3)
"""


def _child(limit: int, held: int, connections: int, idle: int) -> subprocess.CompletedProcess:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-c", CHILD, str(held), str(connections), str(idle)],
        preexec_fn=lower,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_too_few_descriptors_for_the_connections_is_refused_up_front() -> None:
    done = _child(limit=200, held=0, connections=190, idle=0)
    assert done.returncode == 3, done.stderr
    assert "connections" in done.stdout and "ulimit -n" in done.stdout, done.stdout
    assert "in reserve" in done.stdout, done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_descriptors_held_already_count_and_idle_connections_are_named() -> None:
    # 40 connections fit in 200 descriptors; with 60 held open, 40 + 60 idle do not.
    done = _child(limit=200, held=60, connections=40, idle=60)
    assert done.returncode == 3, done.stderr
    assert "idle_connections" in done.stdout, done.stdout
    assert "open already" in done.stdout, done.stdout
    held = int(done.stdout.split(" holds ")[1].split()[0])
    assert held >= 60, done.stdout
